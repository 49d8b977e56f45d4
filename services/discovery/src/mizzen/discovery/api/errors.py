"""The one place where discovery's errors become gRPC status codes."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc import aio

from mizzen.discovery.domain.errors import DiscoveryError, InvalidRegistration, OutOfOrder
from mizzen.registry import RegistryError, WriteConflict
from mizzen.store import LeaseExpired, StoreError

STATUS_DETAILS_KEY = "grpc-status-details-bin"

HANDLED: tuple[type[Exception], ...] = (DiscoveryError, RegistryError, StoreError)
"""What :func:`abort_for` maps; anything else is a bug and propagates (INTERNAL)."""


async def abort_for(context: aio.ServicerContext[Any, Any], exc: Exception) -> None:
    """Abort the RPC with the status that ``exc`` stands for; re-raise what is unexpected.

    An invalid workload carries a ``google.rpc.BadRequest`` detail (in the
    ``grpc-status-details-bin`` trailer) with one field violation per problem.
    """
    if isinstance(exc, InvalidRegistration):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in exc.violations
                ]
            )
        )
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=str(exc), details=[detail]
        )
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            str(exc),
            trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
        )
    if isinstance(exc, OutOfOrder):
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, LeaseExpired):
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, f"registration lease lost ({exc}); register again"
        )
    if isinstance(exc, WriteConflict):
        await context.abort(grpc.StatusCode.ABORTED, f"{exc}; register again")
    if isinstance(exc, StoreError):
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"registry store unavailable: {exc}")
    raise exc
