"""A gRPC upstream for end-to-end tests: it says who it is and what it received.

``python -m mizzen.testing.apps.grpc_echo --port 19090 [--host 0.0.0.0] [--name grpc-v1]``

One unary method, :data:`ECHO_METHOD` (``/mizzen.testing.Echo/Echo``), with raw bytes as
request and response (no .proto needed on either side): the answer is JSON
``{"name", "message", "metadata"}``, ``message`` being the request decoded as UTF-8 and
``metadata`` the invocation metadata (text values only; grpcio shows no pseudo-headers).
Over HTTP/2 only, as every gRPC server: a client that reaches it over HTTP/1.1 gets no
answer.

The name defaults to ``$MIZZEN_WORKLOAD``; the port to ``$MIZZEN_APP_PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import grpc
from grpc import aio

__all__ = ["ECHO_METHOD", "decode_reply", "main", "serve"]

SERVICE = "mizzen.testing.Echo"
ECHO_METHOD = f"/{SERVICE}/Echo"
"""The full method name to call (``channel.unary_unary(ECHO_METHOD)``, bytes in and out)."""


def decode_reply(reply: bytes) -> dict[str, Any]:
    """The JSON answer of :data:`ECHO_METHOD` as a dict."""
    decoded: dict[str, Any] = json.loads(reply)
    return decoded


def _handler(name: str) -> grpc.GenericRpcHandler:
    async def echo(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        metadata = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        }
        answer = {
            "name": name,
            "message": request.decode("utf-8", "replace"),
            "metadata": metadata,
        }
        return json.dumps(answer).encode()

    return grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )


async def serve(host: str, port: int, name: str) -> None:
    """Serve :data:`ECHO_METHOD` on ``host:port`` as ``name`` until cancelled."""
    server = aio.server()
    server.add_generic_rpc_handlers([_handler(name)])
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"listening on {host}:{bound}", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=None)


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MIZZEN_APP_PORT", "0")))
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--name", default=os.environ.get("MIZZEN_WORKLOAD", "grpc-echo"))
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.name))


if __name__ == "__main__":
    main()
