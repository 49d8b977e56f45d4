"""Graceful shutdown of a real service process (tests/runtime_sample_service.py).

The process logs JSON lines on stdout; the tests wait on those lines (with a
deadline), never on fixed sleeps. Every process is killed at the end of its
test, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mizzen.runtime import EXIT_FAILURE, EXIT_FORCED, EXIT_OK, create_channel

SCRIPT = Path(__file__).with_name("runtime_sample_service.py")
SLOW_WAIT = "/mizzen.sample.v1.Slow/Wait"
DEADLINE = 15.0


class ServiceProcess:
    """A running sample service and the log lines it has printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            text = raw.decode(errors="replace").strip()
            try:
                line = json.loads(text)
            except ValueError:
                line = {"event": "(not json)", "text": text}
            self.lines.append(line if isinstance(line, dict) else {"event": text})
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
        self._changed.set()

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]

    async def wait_for(self, event: str) -> dict[str, Any]:
        """The first line with this event, waiting for it up to DEADLINE."""
        async with asyncio.timeout(DEADLINE):
            while True:
                found = self.events(event)
                if found:
                    return found[0]
                if self._reader.done():
                    raise AssertionError(f"process ended without {event!r}: {self.lines}")
                await self._changed.wait()

    async def exit_code(self) -> int:
        async with asyncio.timeout(DEADLINE):
            code = await self.process.wait()
            await self._reader
        return code


@asynccontextmanager
async def sample_service(*flags: str) -> AsyncIterator[ServiceProcess]:
    env = {**os.environ, "MIZZEN_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *flags,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    service = ServiceProcess(process)
    try:
        yield service
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        service._reader.cancel()


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_sigterm_drains_inflight_rpc_and_exits_zero_within_grace() -> None:
    grace = 5.0
    async with sample_service("--shutdown-grace-seconds", str(grace)) as service:
        ready = await service.wait_for("service ready")
        async with create_channel(f"127.0.0.1:{ready['grpc_port']}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            slow = asyncio.ensure_future(channel.unary_unary(SLOW_WAIT)(b"", timeout=DEADLINE))
            await service.wait_for("slow rpc started")

            loop = asyncio.get_running_loop()
            signalled_at = loop.time()
            service.process.send_signal(signal.SIGTERM)

            assert await slow == b"done"
            async with asyncio.timeout(DEADLINE):
                after = [message.status async for message in watch]
            assert after == [health_pb2.HealthCheckResponse.NOT_SERVING]
            assert await service.exit_code() == EXIT_OK
            assert loop.time() - signalled_at < grace

    assert service.events("slow rpc answering")[0]["serving"] is False
    events = [line["event"] for line in service.lines]
    assert events.index("shutdown requested") < events.index("slow rpc answering")
    assert events.index("slow rpc answering") < events.index("service stopped")
    ran = [line["name"] for line in service.events("sample callback ran")]
    assert ran == ["second", "first"]
    assert service.events("shutdown requested")[0]["reason"] == "signal SIGTERM"


async def test_second_signal_forces_exit_while_a_callback_hangs() -> None:
    async with sample_service("--hang-on-shutdown", "--shutdown-grace-seconds", "60") as service:
        await service.wait_for("service ready")
        service.process.send_signal(signal.SIGTERM)
        await service.wait_for("sample callback hanging")
        service.process.send_signal(signal.SIGINT)
        assert await service.exit_code() == EXIT_FORCED
    assert service.events("shutdown forced")[0]["signal"] == "SIGINT"


async def test_port_in_use_fails_start_naming_the_port(occupied_port: int) -> None:
    async with sample_service("--grpc-port", str(occupied_port)) as service:
        assert await service.exit_code() == EXIT_FAILURE
    failure = service.events("service start failed")[0]
    assert f"127.0.0.1:{occupied_port}" in failure["error"]
    assert failure["level"] == "error"


async def test_bad_flag_exits_with_usage_error_naming_it() -> None:
    async with sample_service("--metrics-port", "eighty") as service:
        assert await service.exit_code() == 2
    text = " ".join(line.get("text", "") for line in service.lines)
    assert "--metrics-port='eighty'" in text
    assert "an integer" in text


async def test_grpc_errors_are_reported_as_rpc_errors_not_hidden() -> None:
    # A call to a method the sample does not serve must fail visibly.
    async with sample_service() as service:
        ready = await service.wait_for("service ready")
        async with create_channel(f"127.0.0.1:{ready['grpc_port']}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary("/mizzen.sample.v1.Slow/Nope")(b"", timeout=DEADLINE)
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
        service.process.send_signal(signal.SIGTERM)
        assert await service.exit_code() == EXIT_OK
