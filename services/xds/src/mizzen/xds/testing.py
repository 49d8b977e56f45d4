"""Test support for xds: Envoy resources, proxies, snapshots and traffic helpers.

Used by this service's tests and by cross-service tests that serve real Envoys (as
:mod:`mizzen.store.testing` is for the store). Snapshots are written straight into etcd with
:class:`~mizzen.snapshots.SnapshotWriter` (no translator involved): one set per type per class,
named after both. Nothing here is used by the service itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from prometheus_client.parser import text_string_to_metric_families

from mizzen.envoy import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    AdsMode,
    BootstrapConfig,
    NodeId,
    ProxyMetadata,
    XdsServerAddress,
    build_bootstrap,
    make_resource,
    pack,
    short_name,
)
from mizzen.envoy import ProxyType as NodeType
from mizzen.launcher import EnvoyProcess, PortAllocator, ServiceProcess
from mizzen.launcher.probe import http_get
from mizzen.snapshots import ClassSnapshot, ProxyClass, ProxyType, ResourceSet, SnapshotWriter
from mizzen.snapshots.status import ProxyStatus, proxy_key
from mizzen.store import Store

STATUS_TTL = 2
"""The proxy status lease TTL (seconds) tests give the xds replicas they start."""
ROUTE_HOLD = 2.0
"""The longest wait of routes for warming clusters (seconds) tests give their xds replicas."""
CLASS_WAIT = 1.0
"""Tests' xds replicas ask again for a class not translated after this many seconds."""

XdsFactory = Callable[[str], Awaitable[ServiceProcess]]
"""``await xds_factory(replica name)`` starts an xds replica."""
EnvoyFactory = Callable[..., Awaitable[EnvoyProcess]]
"""``await envoy_factory(bootstrap, admin_port=..., name=...)`` (``mizzen.testing``)."""


# -- resources ---------------------------------------------------------------------------

ADS = config_source_pb2.ConfigSource(
    ads=config_source_pb2.AggregatedConfigSource(),
    resource_api_version=config_source_pb2.ApiVersion.V3,
)


def eds_cluster(name: str, *, connect_timeout: float = 1.0) -> cluster_pb2.Cluster:
    """A cluster whose endpoints come over ADS."""
    timeout = duration_pb2.Duration()
    timeout.FromNanoseconds(int(connect_timeout * 1e9))
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ADS),
        connect_timeout=timeout,
    )


def assignment(name: str, *ports: int) -> endpoint_pb2.ClusterLoadAssignment:
    """The endpoints of cluster ``name``: 127.0.0.1 on each of ``ports``."""
    endpoints = [
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(
                address=address_pb2.Address(
                    socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=p)
                )
            )
        )
        for p in ports
    ]
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name, endpoints=[endpoint_components_pb2.LocalityLbEndpoints(
            lb_endpoints=endpoints)]
    )  # fmt: skip


def http_listener(name: str, port: int, route_name: str) -> listener_pb2.Listener:
    """An HTTP listener on 127.0.0.1:``port`` whose routes come over ADS as ``route_name``."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(config_source=ADS, route_config_name=route_name),
        http_filters=[
            hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=pack(
                router_pb2.Router()))
        ],
    )  # fmt: skip
    return listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=pack(manager),
                    )
                ]
            )
        ],
    )


def route_to(name: str, cluster: str) -> route_pb2.RouteConfiguration:
    """A route configuration sending everything to ``cluster``."""
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name="all",
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=route_components_pb2.RouteMatch(prefix="/"),
                        route=route_components_pb2.RouteAction(cluster=cluster),
                    )
                ],
            )
        ],
    )


# -- proxies and snapshots ---------------------------------------------------------------


@dataclass(frozen=True)
class ProxyUnderTest:
    """An Envoy-to-be: its node and the class xds will compute for it."""

    name: str
    namespace: str = "default"

    @property
    def node_id(self) -> NodeId:
        """Istio's node id of a sidecar at 127.0.0.1."""
        return NodeId(NodeType.SIDECAR, "127.0.0.1", self.name, self.namespace)

    @property
    def proxy_id(self) -> str:
        """The id its status is stored under (``<name>.<namespace>``)."""
        return self.node_id.workload_id

    @property
    def metadata(self) -> ProxyMetadata:
        """Its node metadata (label ``app=<name>``)."""
        return ProxyMetadata(namespace=self.namespace, labels={"app": self.name})

    @property
    def class_id(self) -> str:
        """The class id xds computes for it: where its snapshot must be written."""
        node_metadata = self.metadata.to_dict(name=self.name)
        return ProxyClass.from_node_metadata(ProxyType.SIDECAR, node_metadata).class_id

    def bootstrap(
        self, xds: Iterable[ServiceProcess], *, admin_port: int, mode: AdsMode
    ) -> dict[str, object]:
        """Its Envoy bootstrap, with ADS on every replica of ``xds``."""
        return build_bootstrap(
            BootstrapConfig(
                node_id=self.node_id,
                metadata=self.metadata,
                xds_servers=[XdsServerAddress("127.0.0.1", s.grpc_port) for s in xds],
                admin_port=admin_port,
                ads_mode=mode,
            )
        )


class Snapshots:
    """Writes class snapshots: one set per type per class, ``<type>-<class id>``."""

    def __init__(self, store: Store) -> None:
        self._writer = SnapshotWriter(store)

    async def write(self, class_id: str, messages: Iterable[Message]) -> None:
        """Make ``messages`` the whole snapshot of ``class_id``."""
        resources = [make_resource(m) for m in messages]
        entries: dict[str, dict[str, str]] = {}
        for resource in resources:
            entries.setdefault(resource.type_url, {})[resource.name] = resource.hash
        sets = [
            ResourceSet(f"{short_name(url)}-{class_id}", url, names)
            for url, names in entries.items()
        ]
        snapshot = ClassSnapshot(class_id, {s.type_url: (s.set_id,) for s in sets})
        await self._writer.write(resources, sets, [snapshot])


# -- a tiny upstream ---------------------------------------------------------------------


class Upstream:
    """An HTTP/1.1 server on 127.0.0.1 answering every request with its name (keep-alive,
    Nagle off so that Envoy's pooled connections add no 40 ms delays)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The port it listens on (after :meth:`start`)."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = self.name.encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # GETs only: no request bodies
                self.requests += 1
                writer.write(head % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client (Envoy) closed its pooled connection
        finally:
            self._writers.discard(writer)
            writer.close()


# -- services and clients ----------------------------------------------------------------


@dataclass
class Mesh:
    """What a test needs at hand: snapshots, a store client, Envoys and xds replicas."""

    store: Store
    snapshots: Snapshots
    ports: PortAllocator
    envoy_factory: EnvoyFactory
    xds_factory: XdsFactory
    envoys: list[EnvoyProcess] = field(default_factory=list)

    async def envoy(
        self, proxy: ProxyUnderTest, xds: Iterable[ServiceProcess], mode: AdsMode
    ) -> EnvoyProcess:
        """Start an Envoy for ``proxy`` on ``xds``; returns once it is LIVE (config served)."""
        admin_port = self.ports.take()
        bootstrap = proxy.bootstrap(xds, admin_port=admin_port, mode=mode)
        process = await self.envoy_factory(bootstrap, admin_port=admin_port, name=proxy.name)
        self.envoys.append(process)
        return process

    async def status(self, proxy: ProxyUnderTest) -> ProxyStatus | None:
        """The stored status of ``proxy``, or ``None``."""
        kv = await self.store.get(proxy_key(proxy.proxy_id))
        return ProxyStatus.from_json(kv.value) if kv else None


async def fetch(port: int, path: str = "/") -> str:
    """GET ``path`` from an Envoy listener on 127.0.0.1:``port``; the body if 200, else
    raises ``AssertionError``."""
    status, body = await http_get("127.0.0.1", port, path, timeout=2.0)
    if status != 200:
        raise AssertionError(f"GET {path} through :{port} answered {status}: {body[:100]!r}")
    return body.decode()


async def fetch_or_none(port: int) -> str | None:
    """Like :func:`fetch`, ``None`` on any failure (for waiting on a condition)."""
    with contextlib.suppress(AssertionError, OSError, TimeoutError, ValueError):
        return await fetch(port)
    return None


async def metric(service: ServiceProcess, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` on ``service``'s
    ``/metrics`` (0 when there are none)."""
    status, body = await http_get(service.host, service.metrics_port, "/metrics")
    assert status == 200, f"/metrics answered {status}"
    total = 0.0
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def active_cluster(envoy: EnvoyProcess, name: str) -> dict[str, object] | None:
    """The active dynamic cluster ``name`` in ``envoy``'s config dump (with ``version_info``),
    ``None`` while it is absent or still warming."""
    dump = await envoy.config_dump("dynamic_active_clusters")
    for config in dump.get("configs", []):
        cluster = config.get("cluster", {})
        if cluster.get("name") == name:
            result: dict[str, object] = {**cluster, "version_info": config.get("version_info")}
            return result
    return None


async def synced(mesh: Mesh, proxy: ProxyUnderTest) -> ProxyStatus | None:
    """The status of ``proxy`` once it ACKed what it was last sent of all four types."""
    status = await mesh.status(proxy)
    if status is None:
        return None
    for type_url in (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE):
        entry = status.types.get(type_url)
        if entry is None or not entry.sent_version or entry.acked_version != entry.sent_version:
            return None
    return status
