"""The load generator process: N simulated ADS proxies, remote-controlled over a local socket.

Run by the benchmark as ``python bench/loadgen.py --target HOST:PORT --control-port P
--workloads FILE --proxies N [--delta] [--streams-per-channel S]``. It runs in its own process
so that its CPU is measured apart from the benchmark's and its event loop is busy with
nothing but the proxies. The workloads file is JSON, a list of
``{"name", "namespace", "port", "serviceAccount"}``; proxy ``i`` is a replica of workload
``i % len(workloads)``, in Istio's capture mode (``INTERCEPTION_MODE=REDIRECT``), so that
replicas of one workload share a proxy class.

Control: one JSON object per line in each direction on ``127.0.0.1:<control port>``; the
commands are ``status``, ``arm`` (``marker``), ``progress``, ``report`` and ``stop``
(:class:`LoadGenProcess` is the benchmark's side of it).

Each gRPC channel is its own TCP connection (``grpc.use_local_subchannel_pool``); by default
every proxy has its own, as every Envoy does (``--streams-per-channel`` shares one among
several streams, which is lighter for the load generator but hides xds's per-connection
memory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adsload import DeltaProxy, DerivedNames, ProxyNode, SimulatedProxy, SotwProxy
from grpc import aio

from mizzen.envoy import InterceptionMode, NodeId, ProxyMetadata, ProxyType
from mizzen.launcher import ChildProcess
from mizzen.snapshots.proxy import META_INBOUND

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.keepalive_time_ms", 60_000),
]


def proxy_nodes(workloads: Sequence[dict[str, Any]], count: int) -> list[ProxyNode]:
    """``count`` sidecars spread round-robin over ``workloads``, with the node ids and
    metadata their agents would send (capture mode; a unique pod name and 10.x address each)."""
    nodes = []
    for index in range(count):
        workload = workloads[index % len(workloads)]
        replica = index // len(workloads)
        ip = f"10.{128 + (index >> 16) % 64}.{(index >> 8) % 256}.{index % 256}"
        pod = f"{workload['name']}-{replica:05d}"
        namespace = str(workload["namespace"])
        port = int(workload["port"])
        metadata = ProxyMetadata(
            namespace=namespace,
            labels={"app": workload["name"], "version": "v1"},
            service_account=str(workload["serviceAccount"]),
            interception_mode=InterceptionMode.REDIRECT,
            workload_name=workload["name"],
            instance_ips=(ip,),
            extra={META_INBOUND: f"{port}:{port}:HTTP"},
        ).to_dict(name=pod)
        node_id = NodeId(ProxyType.SIDECAR, ip, pod, namespace)
        nodes.append(ProxyNode(str(node_id), node_id.workload_id, workload["name"], metadata))
    return nodes


class LoadGenerator:
    """The proxies, their channels and tasks, and the answers to control commands."""

    def __init__(self, target: str, nodes: list[ProxyNode], *, delta: bool,
                 streams_per_channel: int) -> None:  # fmt: skip
        self.names = DerivedNames()
        kind: type[SimulatedProxy] = DeltaProxy if delta else SotwProxy
        self.proxies = [kind(node, self.names) for node in nodes]
        count = max(1, math.ceil(len(nodes) / streams_per_channel))
        self.channels = [aio.insecure_channel(target, options=CHANNEL_OPTIONS)
                         for _ in range(count)]  # fmt: skip
        self.tasks: list[asyncio.Task[None]] = []
        self.started_at = 0.0
        self.stopped = asyncio.Event()

    def start(self) -> None:
        """Open every stream (all at once, like a fleet restarting)."""
        self.started_at = time.monotonic()
        loop = asyncio.get_running_loop()
        for index, proxy in enumerate(self.proxies):
            channel = self.channels[index % len(self.channels)]
            self.tasks.append(loop.create_task(proxy.run(channel)))

    async def close(self) -> None:
        """Cancel the streams and close the channels."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for channel in self.channels:
            await channel.close()

    def answer(self, command: dict[str, Any]) -> dict[str, Any]:
        """The reply to one control command (see the module docstring)."""
        name = command.get("cmd")
        proxies = self.proxies
        if name == "status":
            errors = [p.error for p in proxies if p.error]
            return {
                "proxies": len(proxies),
                "open": sum(p.open for p in proxies),
                "complete": sum(p.first_ack > 0 for p in proxies),
                "errors": len(errors),
                "error_samples": errors[:3],
                "parsed": self.names.misses,
                "started_at": self.started_at,
                "now": time.monotonic(),
            }
        if name == "arm":
            marker = str(command["marker"]).encode()
            for proxy in proxies:
                proxy.arm(marker)
            return {"armed": len(proxies)}
        if name == "progress":
            return {
                "marker_acked": sum(p.measure.marker_ack > 0 for p in proxies),
                "last_ack": max((p.measure.last_ack for p in proxies), default=0.0),
                "errors": sum(bool(p.error) for p in proxies),
                "now": time.monotonic(),
            }
        if name == "report":
            return {
                "started_at": self.started_at,
                "first_ack": [p.first_ack for p in proxies],
                "marker_ack": [p.measure.marker_ack for p in proxies],
                "last_ack": [p.measure.last_ack for p in proxies],
                "responses": [p.measure.responses for p in proxies],
                "received_bytes": [p.measure.received_bytes for p in proxies],
                "workloads": [p.node.workload for p in proxies],
            }
        if name == "stop":
            self.stopped.set()
            return {"stopping": True}
        return {"error": f"unknown command {name!r}"}


async def _serve_control(generator: LoadGenerator, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = generator.answer(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
                if generator.stopped.is_set():
                    return  # end the handler before the server closes, not cancelled by it
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 24)
    async with server:
        await generator.stopped.wait()


async def _main(args: argparse.Namespace, workloads: list[dict[str, Any]]) -> None:
    generator = LoadGenerator(args.target, proxy_nodes(workloads, args.proxies),
                              delta=args.delta,
                              streams_per_channel=args.streams_per_channel)  # fmt: skip
    generator.start()
    try:
        await _serve_control(generator, args.control_port)
    finally:
        await generator.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run until told to stop (or SIGTERM/SIGKILL)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", required=True, help="xds host:port")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--workloads", required=True, help="JSON file of workloads")
    parser.add_argument("--proxies", type=int, required=True)
    parser.add_argument("--delta", action="store_true")
    parser.add_argument("--streams-per-channel", type=int, default=1)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args, json.loads(Path(args.workloads).read_text())))


# -- the benchmark's side --------------------------------------------------------------------


class LoadGenProcess(ChildProcess):
    """The load generator as a child process (bound to die with the benchmark), and its
    control connection. Ready once the control port answers ``status``."""

    def __init__(self, work_dir: Path, *, target: str, control_port: int, proxies: int,
                 workloads: Sequence[dict[str, Any]], delta: bool,
                 streams_per_channel: int = 1) -> None:  # fmt: skip
        workloads_path = work_dir / "workloads.json"
        work_dir.mkdir(parents=True, exist_ok=True)
        workloads_path.write_text(json.dumps(list(workloads)))
        argv = [
            sys.executable, str(Path(__file__).resolve()),
            "--target", target, "--control-port", str(control_port),
            "--workloads", str(workloads_path), "--proxies", str(proxies),
            "--streams-per-channel", str(streams_per_channel),
            *(["--delta"] if delta else []),
        ]  # fmt: skip
        super().__init__("loadgen", argv, log_path=work_dir / "loadgen.log", start_timeout=30.0)
        self.control_port = control_port
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def is_ready(self) -> bool:
        """Ready when the control port answers."""
        await self.command("status", timeout=1.0)
        return True

    async def command(self, name: str, *, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send one command and return the reply; reconnects once if the connection broke."""
        async with asyncio.timeout(timeout):
            if self._connection is None:
                self._connection = await asyncio.open_connection(
                    "127.0.0.1", self.control_port, limit=1 << 26
                )
            reader, writer = self._connection
            try:
                writer.write(json.dumps({"cmd": name, **fields}).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            except BaseException:
                self._drop_connection()
                raise
            if not line:
                self._drop_connection()
                raise ConnectionError("the load generator closed its control connection")
            reply: dict[str, Any] = json.loads(line)
            return reply

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection[1].close()
            self._connection = None

    async def stop(self, grace: float = 10.0) -> int | None:
        """Ask it to stop, then stop the process (SIGTERM, then SIGKILL after ``grace``)."""
        if self.running:
            with contextlib.suppress(Exception):
                await self.command("stop", timeout=2.0)
                await asyncio.wait_for(self.wait(), grace)
        self._drop_connection()
        return await super().stop(grace)


if __name__ == "__main__":
    main()
