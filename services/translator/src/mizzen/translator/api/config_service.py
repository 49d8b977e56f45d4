"""The gRPC ConfigService (contract: proto/mizzen/config/v1/config.proto)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from mizzen.configstore import ConfigStoreError, ResourceKey
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc as pb_grpc
from mizzen.store import StoreError
from mizzen.translator.api import convert
from mizzen.translator.api.errors import abort_for
from mizzen.translator.domain.config_api import (
    DEFAULT_NAMESPACE,
    ConfigApi,
    SourceText,
    UnknownKind,
    read_documents,
    resolve_kind,
)

_HANDLED = (ConfigStoreError, StoreError, UnknownKind, ValueError)


class ConfigService(pb_grpc.ConfigServiceServicer):
    """Protobuf ↔ :class:`ConfigApi`; every error is mapped by :func:`abort_for`."""

    def __init__(self, api: ConfigApi) -> None:
        self._api = api

    def _key(self, key: pb.ResourceKey) -> ResourceKey:
        return self._api.key(key.kind, key.namespace, key.name)

    async def Apply(
        self, request: pb.ApplyRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ApplyResponse:
        """Validate every document, then store all of them or none."""
        try:
            result = await self._api.apply(
                [SourceText(f.name, f.content) for f in request.files],
                applied_by=request.applied_by or _peer(context),
                default_namespace=request.default_namespace,
                dry_run=request.dry_run,
            )
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise
        return pb.ApplyResponse(
            results=[
                pb.AppliedResource(
                    resource=convert.resource_to_pb(a.resource),
                    change=convert.change_to_pb(a.change),
                )
                for a in result.applied
            ],
            revision=result.revision,
        )

    async def Get(
        self, request: pb.GetRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.Resource:
        """One resource."""
        try:
            resource = await self._api.repository.get(self._key(request.key))
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise
        return convert.resource_to_pb(resource)

    async def List(
        self, request: pb.ListRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListResponse:
        """Resources by kind, namespace and labels."""
        try:
            kind = resolve_kind(request.kind) if request.kind else ""
            resources, revision = await self._api.repository.list_resources(
                kind, request.namespace, label_selector=request.label_selector
            )
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise
        return pb.ListResponse(
            resources=[convert.resource_to_pb(r) for r in resources], revision=revision
        )

    async def Delete(
        self, request: pb.DeleteRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.DeleteResponse:
        """Delete resources, optionally guarded by a resourceVersion."""
        try:
            deleted = await self._api.repository.delete(
                [self._key(k) for k in request.keys],
                applied_by=request.applied_by or _peer(context),
                resource_version=request.resource_version or None,
            )
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise
        return pb.DeleteResponse(
            deleted=[convert.key_to_pb(k) for k in deleted.keys], revision=deleted.revision
        )

    async def Watch(
        self, request: pb.WatchRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchEvent]:
        """A listing (unless resuming), SYNCED, then every change."""
        try:
            kind = resolve_kind(request.kind) if request.kind else ""
            async for event in self._api.repository.watch(
                kind, request.namespace, start_revision=request.start_revision
            ):
                yield convert.event_to_pb(event)
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise

    async def History(
        self, request: pb.HistoryRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.HistoryResponse:
        """The retained changes of one resource, newest first."""
        try:
            key = self._key(request.key)
            entries = await self._api.repository.history(key, limit=request.limit)
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise
        return pb.HistoryResponse(entries=[convert.history_to_pb(e, key) for e in entries])

    async def Rollback(
        self, request: pb.RollbackRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.RollbackResponse:
        """Make an earlier version current again, as a new change."""
        try:
            key = self._key(request.key)
            result = await self._api.repository.rollback(
                key, request.to_revision, applied_by=request.applied_by or _peer(context)
            )
        except _HANDLED as exc:
            await abort_for(context, exc)
            raise
        response = pb.RollbackResponse(revision=result.revision)
        if result.applied:
            response.resource.CopyFrom(convert.resource_to_pb(result.applied[0].resource))
        return response

    async def Validate(
        self, request: pb.ValidateRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ValidateResponse:
        """Validate without storing; problems come back in the response, not as an error."""
        files = [SourceText(f.name, f.content) for f in request.files]
        try:
            resources = read_documents(
                files, default_namespace=request.default_namespace or DEFAULT_NAMESPACE
            )
        except ConfigStoreError as exc:
            errors = getattr(exc, "errors", ())
            return pb.ValidateResponse(errors=[convert.field_error_to_pb(e) for e in errors])
        return pb.ValidateResponse(documents=len(resources))


def _peer(context: aio.ServicerContext[Any, Any]) -> str:
    return f"grpc client {context.peer()}"
