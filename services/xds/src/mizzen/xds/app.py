"""Builds the xds service's dependencies and runs it."""

from __future__ import annotations

import os
import socket
import sys

import structlog

from mizzen.runtime import ServiceRuntime, service_main
from mizzen.snapshots import SnapshotReader
from mizzen.store import open_store
from mizzen.xds.api.ads_service import ADS_SERVICE, AdsService
from mizzen.xds.api.stream import StreamRegistry, StreamServices
from mizzen.xds.config import XdsSettings
from mizzen.xds.metrics import XdsMetrics
from mizzen.xds.proxy_status import ProxyStatusRecorder

log = structlog.get_logger(__name__)


def replica_name(settings: XdsSettings) -> str:
    """This replica's name: the setting, else ``<hostname>-<pid>``."""
    return settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"


async def setup(runtime: ServiceRuntime[XdsSettings]) -> None:
    """Open the store, load the snapshots, take the status lease, and serve ADS.

    Shutdown order (callbacks run in reverse): streams are ended first so proxies move to
    another replica at once, then the watch stops, then the lease is revoked (this
    replica's proxy status keys vanish), then the store closes.
    """
    settings = runtime.settings
    replica = replica_name(settings)
    store = await open_store(settings.store_url)
    runtime.on_shutdown(store.close, name="store")

    reader = SnapshotReader(store, cache_bytes=settings.body_cache_mb << 20)
    await reader.load()
    recorder = ProxyStatusRecorder(
        store, ttl=settings.proxy_status_ttl_seconds, flush_interval=settings.status_flush_seconds
    )
    await recorder.start()
    runtime.on_shutdown(recorder.close, name="proxy-status-lease")

    registry = StreamRegistry()
    unsubscribe = reader.subscribe(registry.on_change)
    services = StreamServices(
        reader, registry, recorder, XdsMetrics(runtime.registry), replica,
        route_hold_seconds=settings.route_hold_seconds,
        class_wait_seconds=settings.class_wait_seconds,
    )  # fmt: skip
    ads = AdsService(services)

    async def stop_settling() -> None:
        services.heap.close()

    runtime.on_shutdown(stop_settling, name="heap-settler")
    runtime.grpc.add_service(ADS_SERVICE, lambda server: server.add_generic_rpc_handlers(
        (ads.rpc_handler(),)))  # fmt: skip

    async def end_streams_on_shutdown() -> None:
        await runtime.wait_shutdown_requested()
        unsubscribe()
        registry.close_all()

    runtime.spawn(reader.run(), name="snapshot-watch")
    runtime.spawn(recorder.run(), name="proxy-status-writer")
    runtime.spawn(end_streams_on_shutdown(), name="stream-closer")
    log.info("xds replica ready", replica=replica, classes=len(reader.class_ids()),
             revision=reader.revision)  # fmt: skip


def main() -> None:
    """The ``mizzen-xds`` console script."""
    sys.exit(service_main(XdsSettings, setup))
