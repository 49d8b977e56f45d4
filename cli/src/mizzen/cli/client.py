"""The CLI's connection to the config API, and the one place its RPC errors become messages."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import grpc
from google.rpc import status_pb2
from grpc import aio

from mizzen.cli.defaults import DEFAULT_DISCOVERY, DEFAULT_SERVER
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.protos.registry.v1 import registration_pb2 as reg_pb
from mizzen.protos.registry.v1 import registration_pb2_grpc

T = TypeVar("T")


def server_of(ctx: click.Context) -> str:
    """The config API address: ``--server``/``MIZZEN_SERVER``, else the running mesh's
    (``mizzen up``), else :data:`~mizzen.cli.defaults.DEFAULT_SERVER`."""
    given: str | None = ctx.find_root().obj.get("server") if ctx.find_root().obj else None
    if given:
        return given
    from mizzen.cli.mesh.control import mesh_server_address  # only when needed

    return mesh_server_address() or DEFAULT_SERVER


def discovery_of(given: str | None) -> str:
    """The discovery address: ``given`` (``--discovery``/``MIZZEN_DISCOVERY``), else the
    running mesh's, else :data:`~mizzen.cli.defaults.DEFAULT_DISCOVERY`."""
    if given:
        return given
    from mizzen.cli.mesh.control import running_mesh_environment  # only when needed

    env = running_mesh_environment() or {}
    published = env.get("MIZZEN_AGENT_DISCOVERY_SERVERS", "").split(",")[0].strip()
    return published or DEFAULT_DISCOVERY


class CommandError(click.ClickException):
    """A failure to report on stderr with exit status 1 (click prints ``Error: <message>``)."""


async def list_workloads(
    discovery: str, namespace: str = "", *, hint: str = "use --discovery", timeout: float = 5.0
) -> reg_pb.ListWorkloadsResponse:
    """The workloads discovery at ``discovery`` knows (in ``namespace``; empty: all).
    Raises :class:`CommandError` naming discovery, with ``hint`` when it cannot be reached."""
    async with aio.insecure_channel(discovery) as channel:
        stub = registration_pb2_grpc.RegistrationServiceStub(channel)
        try:
            response: reg_pb.ListWorkloadsResponse = await stub.ListWorkloads(
                reg_pb.ListWorkloadsRequest(namespace=namespace), timeout=timeout
            )
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise CommandError(
                    f"cannot reach discovery at {discovery} ({exc.details()}); {hint}"
                ) from exc
            raise CommandError(f"discovery at {discovery}: {exc.details()}") from exc
    return response


def applied_by() -> str:
    """Who is applying, as kept in history: ``user@host via mizzen``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a bare container
        user = "unknown"
    return f"{user}@{socket.gethostname()} via mizzen"


def field_errors_of(error: aio.AioRpcError) -> list[pb.FieldError]:
    """The FieldErrors carried in the status details of a failed call (may be empty)."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                found = pb.FieldErrors()
                if detail.Unpack(found):
                    return list(found.errors)
    return []


def format_field_error(error: pb.FieldError) -> str:
    """``file: document N (Kind ns/name): path: message``, as mizzen.api prints it."""
    where = f"{error.source}: document {error.document_index}"
    if error.kind or error.name:
        ident = f"{error.namespace}/{error.name}" if error.namespace else error.name
        where += f" ({error.kind} {ident})" if ident else f" ({error.kind})"
    return f"{where}: {error.path}: {error.message}" if error.path else f"{where}: {error.message}"


async def call(server: str, action: Callable[[config_pb2_grpc.ConfigServiceStub], Awaitable[T]]
               ) -> T:  # fmt: skip
    """Run ``action`` with a ConfigService client of ``server``; map failures to messages."""
    async with aio.insecure_channel(server) as channel:
        stub = config_pb2_grpc.ConfigServiceStub(channel)
        try:
            return await action(stub)
        except aio.AioRpcError as exc:
            raise _command_error(server, exc) from exc


def _command_error(server: str, exc: aio.AioRpcError) -> CommandError:
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return CommandError(
            f"cannot reach the config API at {server} ({exc.details()}); is the mesh up "
            "(`mizzen up`)? Use --server or MIZZEN_SERVER to point elsewhere"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CommandError(f"the config API at {server} did not answer in time")
    errors = field_errors_of(exc)
    if errors:
        lines = "\n".join(format_field_error(e) for e in errors)
        return CommandError(f"invalid configuration, nothing was applied:\n{lines}")
    return CommandError(exc.details() or code.name)
