"""Builds discovery's dependencies and runs it."""

from __future__ import annotations

import functools
import os
import socket
import sys

from mizzen.configstore import ConfigRepository
from mizzen.discovery.api.registration_service import RegistrationService
from mizzen.discovery.config import DiscoverySettings
from mizzen.discovery.config_source import ConfigSource
from mizzen.discovery.metrics import DiscoveryMetrics
from mizzen.discovery.reconciler import Reconciler
from mizzen.discovery.registrar import Registrar
from mizzen.protos.registry.v1 import registration_pb2_grpc
from mizzen.registry import RegistryWriter
from mizzen.runtime import ServiceRuntime, service_main
from mizzen.store import open_store

REGISTRATION_SERVICE = "mizzen.registry.v1.RegistrationService"


async def setup(runtime: ServiceRuntime[DiscoverySettings]) -> None:
    """Open the store, serve registrations, and reconcile the declarative sources."""
    settings = runtime.settings
    replica = settings.replica or f"{socket.gethostname()}-{os.getpid()}"
    metrics = DiscoveryMetrics(runtime.registry)
    store = await open_store(settings.store_url)
    runtime.on_shutdown(store.close, name="store")
    writer = RegistryWriter(store)
    registrar = Registrar(store, writer, ttl=settings.lease_ttl_seconds, metrics=metrics)
    # Registered after the store, so it runs before the store closes: leases are abandoned,
    # not revoked, and agents re-register with another replica within their TTL.
    runtime.on_shutdown(registrar.close, name="registrations")
    servicer = RegistrationService(
        store,
        registrar,
        replica=replica,
        stopping=runtime.wait_shutdown_requested,
        domain=settings.cluster_domain,
    )
    runtime.grpc.add_service(
        REGISTRATION_SERVICE,
        functools.partial(
            registration_pb2_grpc.add_RegistrationServiceServicer_to_server, servicer
        ),
    )
    if settings.config_sources:
        reconciler = Reconciler(
            store,
            writer,
            [ConfigSource(ConfigRepository(store))],
            replica=replica,
            lease_ttl=settings.lease_ttl_seconds,
            metrics=metrics,
        )
        runtime.spawn(reconciler.run(), name="registry-reconciler")


def main() -> None:
    """The ``mizzen-discovery`` console script."""
    sys.exit(service_main(DiscoverySettings, setup))
