"""A tiny service run as a subprocess by test_runtime_shutdown.py.

It serves ``mizzen.sample.v1.Slow/Wait``, an RPC that answers only once
shutdown has been requested, so a test can hold an RPC in flight across
SIGTERM without sleeping. It logs (JSON on stdout) what the test waits for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from typing import Annotated, Any

import grpc
import structlog

from mizzen.runtime import ServiceRuntime, ServiceSettings, Setting, service_main

SLOW_SERVICE = "mizzen.sample.v1.Slow"

_log = structlog.get_logger("runtime_sample_service")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SampleSettings(ServiceSettings):
    """Settings of the sample service."""

    service_name: str = "sample"
    hang_on_shutdown: Annotated[
        bool, Setting("Register a shutdown callback that never returns.")
    ] = False


async def setup(runtime: ServiceRuntime[SampleSettings]) -> None:
    """Register the Slow service and two shutdown callbacks (plus a hanging one if asked)."""

    async def wait(request: bytes, context: Any) -> bytes:
        _log.info("slow rpc started")
        await runtime.wait_shutdown_requested()
        # Answer only once the server is draining (health flipped right before
        # the gRPC server was told to stop), so the answer proves the drain.
        await runtime.grpc.health.wait_shutting_down()
        _log.info("slow rpc answering", serving=runtime.grpc.health.is_serving())
        return b"done"

    handler = grpc.method_handlers_generic_handler(
        SLOW_SERVICE, {"Wait": grpc.unary_unary_rpc_method_handler(wait)}
    )
    runtime.grpc.add_service(
        SLOW_SERVICE, lambda server: server.add_generic_rpc_handlers((handler,))
    )

    def callback(name: str) -> Any:
        async def run() -> None:
            _log.info("sample callback ran", name=name)

        return run

    runtime.on_shutdown(callback("first"), name="first")
    runtime.on_shutdown(callback("second"), name="second")

    if runtime.settings.hang_on_shutdown:

        async def hang() -> None:
            _log.info("sample callback hanging")
            await asyncio.Event().wait()

        runtime.on_shutdown(hang, name="hang")


if __name__ == "__main__":
    sys.exit(service_main(SampleSettings, setup))
