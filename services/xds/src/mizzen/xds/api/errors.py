"""The one place where the xds service's errors become gRPC status codes."""

from __future__ import annotations

from typing import Any

import grpc
from grpc import aio

from mizzen.store import StoreError
from mizzen.xds.errors import InvalidNodeError, XdsError


def status_for(exc: Exception) -> tuple[grpc.StatusCode, str] | None:
    """The status code and message ``exc`` stands for; ``None`` if it is unexpected."""
    if isinstance(exc, InvalidNodeError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, StoreError):
        return grpc.StatusCode.UNAVAILABLE, f"snapshot store unavailable: {exc}"
    if isinstance(exc, XdsError):
        return grpc.StatusCode.INTERNAL, str(exc)
    return None


async def abort_for(context: aio.ServicerContext[Any, Any], exc: Exception) -> None:
    """Abort the RPC with the status ``exc`` stands for; re-raise what is unexpected."""
    mapped = status_for(exc)
    if mapped is None:
        raise exc
    await context.abort(*mapped)
