"""Envoy's ``AggregatedDiscoveryService``: both RPCs, each a :class:`StreamCore` with its
protocol variant. Responses are serialized by the stream core from stored bytes
(:mod:`mizzen.xds.api.wire`), so the methods are registered with a pass-through serializer
instead of the generated ``add_AggregatedDiscoveryServiceServicer_to_server``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import structlog
from envoy.service.discovery.v3 import discovery_pb2
from grpc import aio

from mizzen.xds.api import wire
from mizzen.xds.api.delta import DeltaVariant
from mizzen.xds.api.errors import abort_for, status_for
from mizzen.xds.api.sotw import SotwVariant
from mizzen.xds.api.stream import StreamCore, StreamServices, Variant

ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"


class _Received:
    """A received request, taken out by the reader (:func:`_taken`).

    grpc's read machinery keeps the last message it deserialized for a stream until the next
    one arrives, i.e. for as long as a proxy stays quiet: an ACK of endpoints names every
    cluster (1,000 names, ~40 KB), and a thousand idle streams would hold 40 MB of them.
    Deserializing into this holder, and emptying it on receipt, leaves grpc an empty box.
    """

    __slots__ = ("_message",)

    def __init__(self, message: Any) -> None:
        self._message = message

    def take(self) -> Any:
        message, self._message = self._message, None
        return message


def _receiving(parse: Callable[[bytes], Any]) -> Callable[[bytes], _Received]:
    return lambda data: _Received(parse(data))


async def _taken(requests: AsyncIterator[_Received]) -> AsyncIterator[Any]:
    async for received in requests:
        yield received.take()


log = structlog.get_logger(__name__)


class AdsService:
    """Serves ``StreamAggregatedResources`` (state of the world) and
    ``DeltaAggregatedResources`` (incremental) over the replica's shared services."""

    def __init__(self, services: StreamServices) -> None:
        self._services = services

    def rpc_handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to add to the gRPC server (see the module docstring)."""
        return grpc.method_handlers_generic_handler(
            ADS_SERVICE,
            {
                "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                    self.stream_aggregated_resources,
                    request_deserializer=_receiving(discovery_pb2.DiscoveryRequest.FromString),
                    response_serializer=wire.passthrough,
                ),
                "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                    self.delta_aggregated_resources,
                    request_deserializer=_receiving(discovery_pb2.DeltaDiscoveryRequest.FromString),
                    response_serializer=wire.passthrough,
                ),
            },
        )

    async def stream_aggregated_resources(
        self, requests: AsyncIterator[Any], context: aio.ServicerContext[Any, Any]
    ) -> None:
        """State-of-the-world ADS, until the proxy hangs up or the replica shuts down."""
        await self._serve(SotwVariant(), requests, context)

    async def delta_aggregated_resources(
        self, requests: AsyncIterator[Any], context: aio.ServicerContext[Any, Any]
    ) -> None:
        """Incremental ADS, until the proxy hangs up or the replica shuts down."""
        await self._serve(DeltaVariant(), requests, context)

    async def _serve(
        self, variant: Variant, requests: AsyncIterator[Any], context: aio.ServicerContext[Any, Any]
    ) -> None:
        core = StreamCore(variant, self._services, context.write)
        try:
            await core.run(_taken(requests))
        except Exception as exc:
            mapped = status_for(exc)
            reason = type(exc).__name__ if mapped is None else mapped[0].name.lower()
            self._services.metrics.stream_errors.labels(reason).inc()
            log.warning("ads stream failed", protocol=variant.protocol, error=str(exc),
                        peer=context.peer())  # fmt: skip
            await abort_for(context, exc)
