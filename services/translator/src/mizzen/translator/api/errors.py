"""The one place where the translator's errors become gRPC status codes."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from grpc import aio

from mizzen.configstore import Conflict, InvalidConfig, NotFound
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.store import StoreError
from mizzen.translator.api.convert import field_error_to_pb
from mizzen.translator.domain.config_api import UnknownKind

STATUS_DETAILS_KEY = "grpc-status-details-bin"


async def abort_for(context: aio.ServicerContext[Any, Any], exc: Exception) -> None:
    """Abort the RPC with the status that ``exc`` stands for; re-raise what is unexpected.

    Validation failures carry a :class:`FieldErrors` detail (google.rpc.Status in the
    ``grpc-status-details-bin`` trailer) so clients can show every field error.
    """
    if isinstance(exc, InvalidConfig):
        detail = any_pb2.Any()
        detail.Pack(pb.FieldErrors(errors=[field_error_to_pb(e) for e in exc.errors]))
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=str(exc), details=[detail]
        )
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            str(exc),
            trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
        )
    if isinstance(exc, (UnknownKind, ValueError)):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if isinstance(exc, NotFound):
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, Conflict):
        await context.abort(grpc.StatusCode.ABORTED, str(exc))
    if isinstance(exc, StoreError):
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"config store unavailable: {exc}")
    raise exc
