"""A whole local mesh on real processes, for end-to-end traffic tests.

    mesh = await Mesh.start(work_dir)            # etcd, discovery, translator and xds
    v1 = await mesh.workload("echo-v1", service="echo", labels={"version": "v1"})
    client = await mesh.workload("client", service=None, labels={"app": "client"})
    await mesh.apply(virtual_service_yaml)        # through the translator's ConfigService
    response = await via_proxy(client, "http://echo:9080/hello")  # through client's Envoy
    await mesh.reset()           # delete all config; wait until every Envoy has the defaults
    await mesh.check_no_nacks()  # every Envoy's update_rejected stats, and xds's lastNack
    await mesh.close()

Workloads run through the real ``mizzen workload run`` (own loopback address, own Envoy,
registered with discovery); their app is :mod:`mizzen.testing.apps.echo` unless told
otherwise. Requests go to a workload's Envoy proxy listener (``<address>:15001``) in absolute
form, one connection each (:func:`via_proxy`), or as CONNECT tunnels (:func:`via_tunnel`);
those helpers live in :mod:`mizzen.testing.traffic` and are re-exported here. Nothing here
sleeps to synchronize: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from grpc import aio

from mizzen.launcher import ChildProcess, EtcdProcess, PortAllocator, ServiceProcess
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.store import Store, list_prefix, open_store
from mizzen.testing.certs import Issued
from mizzen.testing.traffic import (
    HttpResponse,
    binomial_bounds,
    gather_limited,
    http_request,
    served_by,
    via_proxy,
    via_tunnel,
)
from mizzen.testing.wait import wait_for

__all__ = [
    "APP_PORT",
    "ECHO",
    "GRPC_ECHO",
    "ExternalServer",
    "GatewayProcess",
    "HttpResponse",
    "Mesh",
    "Workload",
    "binomial_bounds",
    "gather_limited",
    "http_request",
    "served_by",
    "via_proxy",
    "via_tunnel",
]

MIZZEN = str(Path(sys.executable).parent / "mizzen")
ECHO = (sys.executable, "-m", "mizzen.testing.apps.echo")
"""The echo app's command (it serves on ``$MIZZEN_APP_PORT`` as ``$MIZZEN_WORKLOAD``)."""
GRPC_ECHO = (sys.executable, "-m", "mizzen.testing.apps.grpc_echo")
"""The gRPC echo app's command (same defaults)."""
APP_PORT = "{app_port}"
"""In a workload's command, replaced by the app port the mesh chose for it."""
ADMIN_PORT = 15000
DOMAIN = "svc.cluster.local"
_DEFAULT_ROUTES = frozenset({"connect", "default", "allow_any", "block_all"})
_UNLIMITED = 2**32 - 1
_PROXIES_PREFIX = b"/mizzen/proxies/"


# ---- workloads ---------------------------------------------------------------------------


class ExternalServer(ChildProcess):
    """The echo app outside the mesh on 127.0.0.1:``port``, serving HTTPS with ``issued``
    (and requiring client certificates from ``client_ca`` when given); ready once it accepts
    connections. A service behind a ServiceEntry, in tests."""

    def __init__(self, name: str, port: int, issued: Issued, log_dir: Path,
                 client_ca: Path | None = None) -> None:  # fmt: skip
        argv = [*ECHO, "--host", "127.0.0.1", "--port", str(port), "--name", name,
                "--cert", str(issued.cert), "--key", str(issued.key)]  # fmt: skip
        if client_ca is not None:
            argv += ["--client-ca", str(client_ca)]
        super().__init__(name, argv, log_path=log_dir / f"{name}.log")
        self.port = port

    async def is_ready(self) -> bool:
        """It accepts TCP connections."""
        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


class GatewayProcess(ChildProcess):
    """``mizzen gateway run``: ready when it says so (its ``gateway ready`` log line, once
    its Envoy has its config from xds, and is registered when it registers a service)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str],
        admin_port: int,
        address: str = "127.0.0.1",
    ) -> None:
        super().__init__(name, argv, log_path=log_path, env=env, start_timeout=60.0)
        self.admin_port = admin_port
        self.address = address

    async def admin(self, path: str) -> HttpResponse:
        """GET ``path`` from its Envoy's admin."""
        return await http_request(self.address, self.admin_port, "GET", path)

    async def is_ready(self) -> bool:
        """The gateway logged ``gateway ready`` (JSON lines)."""
        for line in self.log_path.read_bytes().splitlines():
            if line.startswith(b"{") and json.loads(line).get("event") == "gateway ready":
                return True
        return False

    async def healthy_hosts(self, cluster: str) -> int:
        """How many healthy endpoints its Envoy has for ``cluster``."""
        lines = (await self.admin("/clusters")).body.decode().splitlines()
        healthy = [line for line in lines if line.endswith("::health_flags::healthy")]
        return sum(1 for line in healthy if line.startswith(f"{cluster}::"))

    async def listener_names(self) -> set[str]:
        """The names of its Envoy's active dynamic listeners."""
        dump = json.loads((await self.admin("/config_dump?resource=dynamic_listeners")).body)
        return {config["name"] for config in dump.get("configs", [])
                if "active_state" in config}  # fmt: skip

    async def route_names(self) -> set[str]:
        """The names of every route in its Envoy's route configurations."""
        dump = json.loads((await self.admin("/config_dump?resource=dynamic_route_configs")).body)
        return {route.get("name", "")
                for config in dump.get("configs", [])
                for host in config.get("route_config", {}).get("virtual_hosts", [])
                for route in host.get("routes", [])}  # fmt: skip

    async def counter(self, name: str) -> int:
        """One of its Envoy's counters (0 when it does not exist yet)."""
        text = (await self.admin(f"/stats?filter=^{urllib.parse.quote(name)}$")).body.decode()
        for line in text.splitlines():
            found, _, value = line.rpartition(": ")
            if found == name and value.strip().isdigit():
                return int(value)
        return 0

    async def rejected(self) -> dict[str, int]:
        """Its Envoy's ``*update_rejected`` counters that are not zero."""
        text = (await self.admin("/stats?filter=update_rejected")).body.decode()
        values = (line.rpartition(": ") for line in text.splitlines())
        return {name: int(value) for name, _, value in values if value.strip() not in ("", "0")}


class Workload(ChildProcess):
    """One ``mizzen workload run``: ready once its Envoy is ready and, when it serves
    services, it is registered. Its agent logs JSON lines into ``log_path`` (with its app's
    output); :attr:`address` is the loopback address the agent took."""

    def __init__(self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str],
                 services: Sequence[str], namespace: str, app_port: int) -> None:  # fmt: skip
        super().__init__(name, argv, log_path=log_path, env=env, start_timeout=60.0)
        self.services = tuple(services)
        self.namespace = namespace
        self.app_port = app_port
        self.address = ""

    def events(self, event: str) -> list[dict[str, Any]]:
        """The agent's log records named ``event``, oldest first."""
        found = []
        for line in self.log_path.read_bytes().splitlines():
            if not line.startswith(b"{"):
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    found.append(record)
        return found

    async def is_ready(self) -> bool:
        """Envoy ready (and registered when it serves something)."""
        allocated = self.events("address allocated")
        if allocated:
            self.address = str(allocated[-1]["address"])
        ready = bool(self.address and self.events("proxy ready"))
        return ready and (not self.services or bool(self.events("workload registered")))

    @property
    def hostnames(self) -> list[str]:
        """The FQDNs of the services it serves."""
        return [s if "." in s else f"{s}.{self.namespace}.{DOMAIN}" for s in self.services]

    async def admin(self, path: str) -> HttpResponse:
        """GET ``path`` from its Envoy's admin (200 expected; ``AssertionError`` otherwise)."""
        response = await http_request(self.address, ADMIN_PORT, "GET", path)
        assert response.status == 200, (path, response.status, response.body[:200])
        return response

    async def stats(self, pattern: str) -> dict[str, int]:
        """Its Envoy's counters and gauges whose names match the regex ``pattern``."""
        text = (await self.admin(f"/stats?filter={urllib.parse.quote(pattern)}")).body.decode()
        values = {}
        for line in text.splitlines():
            name, _, value = line.rpartition(": ")
            if name and value.strip().isdigit():
                values[name] = int(value)
        return values

    async def config_dump(self, resource: str) -> list[dict[str, Any]]:
        """``/config_dump?resource=<resource>``'s configs (e.g. ``dynamic_active_clusters``)."""
        configs: list[dict[str, Any]] = (
            (await self.admin(f"/config_dump?resource={resource}")).json().get("configs", [])
        )
        return configs

    async def clusters(self) -> dict[str, dict[str, Any]]:
        """Its Envoy's dynamic active clusters by name."""
        return {c["cluster"]["name"]: c["cluster"]
                for c in await self.config_dump("dynamic_active_clusters")}  # fmt: skip

    async def virtual_hosts(self) -> dict[str, dict[str, Any]]:
        """The virtual hosts of its Envoy's dynamic route configurations, by name."""
        return {host["name"]: host for config in await self.config_dump("dynamic_route_configs")
                for host in config.get("route_config", {}).get("virtual_hosts", [])}  # fmt: skip

    async def wait_route(self, name: str, *, timeout: float = 15) -> dict[str, Any]:
        """Wait until its Envoy has a route named ``name`` (a VirtualService route's
        ``name``, joined with its match's by ``.``) and every cluster the route sends or
        mirrors to is active (warmed); returns that route."""

        async def find() -> dict[str, Any] | None:
            for host in (await self.virtual_hosts()).values():
                for route in host.get("routes", []):
                    if route.get("name") == name:
                        active = await self.clusters()
                        if all(cluster in active for cluster in _route_clusters(route)):
                            found: dict[str, Any] = route
                            return found
            return None

        return await wait_for(find, timeout=timeout, message=f"route {name!r} on {self.name}")


def _route_clusters(route: Mapping[str, Any]) -> list[str]:
    action = route.get("route", {})
    names = [action["cluster"]] if "cluster" in action else []
    names += [c["name"] for c in action.get("weighted_clusters", {}).get("clusters", [])]
    return names + [m["cluster"] for m in action.get("request_mirror_policies", [])]


def _route_is_default(route: Mapping[str, Any]) -> bool:
    action = route.get("route", {})
    return (route.get("name") in _DEFAULT_ROUTES and "hash_policy" not in action
            and "typed_per_filter_config" not in route)  # fmt: skip


def _cluster_is_default(cluster: Mapping[str, Any]) -> bool:
    name = str(cluster.get("name", ""))
    if not name.startswith("outbound|"):
        return True
    if name.split("|")[2] or "outlier_detection" in cluster:
        return False
    if cluster.get("type") == "EDS" and cluster.get("lb_policy") != "LEAST_REQUEST":
        return False
    thresholds = cluster.get("circuit_breakers", {}).get("thresholds", [{}])[0]
    limits = ("max_connections", "max_pending_requests", "max_requests")
    return all(thresholds.get(limit, _UNLIMITED) == _UNLIMITED for limit in limits)


# ---- the mesh ----------------------------------------------------------------------------


class Mesh:
    """etcd, discovery, translator and xds as processes, plus the workloads started through
    :meth:`workload`. Use from one event loop; :meth:`close` stops everything."""

    def __init__(self, work_dir: Path, ports: PortAllocator, etcd: EtcdProcess,
                 services: dict[str, ServiceProcess], store: Store) -> None:  # fmt: skip
        self.work_dir = work_dir
        self.ports = ports
        self.etcd = etcd
        self.services = services
        self.store = store
        self.workloads: list[Workload] = []
        self._channel = aio.insecure_channel(services["translator"].grpc_target)
        self._config = config_pb2_grpc.ConfigServiceStub(self._channel)

    @classmethod
    async def start(cls, work_dir: Path, *, lease_ttl: int = 2) -> Mesh:
        """Start etcd, then discovery, translator and xds (default debounce) on free ports.
        ``lease_ttl``: discovery's registration and xds's proxy-status lease TTLs."""
        ports = PortAllocator()
        etcd = EtcdProcess(work_dir / "etcd", ports=ports)
        await etcd.start()
        url = f"etcd://{etcd.endpoint}"
        envs = {
            "discovery": {"MIZZEN_DISCOVERY_STORE_URL": url,
                          "MIZZEN_DISCOVERY_LEASE_TTL_SECONDS": str(lease_ttl)},
            "translator": {"MIZZEN_TRANSLATOR_STORE_URL": url},
            "xds": {"MIZZEN_XDS_STORE_URL": url,
                    "MIZZEN_XDS_PROXY_STATUS_TTL_SECONDS": str(lease_ttl)},
        }  # fmt: skip
        services = {
            name: ServiceProcess(
                name,
                work_dir / "services",
                grpc_port=ports.take(),
                metrics_port=ports.take(),
                env=env,
            )
            for name, env in envs.items()
        }
        try:
            await asyncio.gather(*(service.start() for service in services.values()))
        except BaseException:
            await _stop_all([*services.values(), etcd])
            raise
        return cls(work_dir, ports, etcd, services, await open_store(url))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        await self.close()

    async def close(self) -> None:
        """Stop every workload, then the services and etcd."""
        await self._channel.close()
        await self.store.close()
        await _stop_all(self.workloads)
        await _stop_all([*self.services.values(), self.etcd])

    @property
    def xds(self) -> ServiceProcess:
        """The xds replica."""
        return self.services["xds"]

    async def workload(
        self,
        name: str,
        *,
        service: str | Sequence[str] | None = "echo",
        port: int = 9080,
        protocol: str = "HTTP",
        labels: Mapping[str, str] | None = None,
        command: Sequence[str] = (*ECHO, "--port", APP_PORT),
        extra_ports: Sequence[str] = (),
        flags: Sequence[str] = (),
        namespace: str = "default",
    ) -> Workload:
        """Start ``mizzen workload run`` for ``name`` serving ``service`` (``None``: nothing)
        on ``port`` (forwarded to a free app port, :data:`APP_PORT` in ``command``) with
        ``protocol``; ``extra_ports`` are more ``--port`` values. Returns once its Envoy is
        ready and it is registered; with the health probe on (the default) once discovery
        has it HEALTHY."""
        services = [service] if isinstance(service, str) else list(service or ())
        app_port = self.ports.take()
        argv = [MIZZEN, "workload", "run", "--name", name, "--namespace", namespace,
                "--xds", self.xds.grpc_target,
                "--discovery", self.services["discovery"].grpc_target, "--grace", "5"]  # fmt: skip
        for served in services:
            argv += ["--service", served]
        if services:
            argv += ["--port", f"{port}:{app_port}:{protocol}"]
        for extra in extra_ports:
            argv += ["--port", extra]
        if labels:
            argv += ["--labels", ",".join(f"{k}={v}" for k, v in labels.items())]
        argv += [*flags, "--", *(arg.replace(APP_PORT, str(app_port)) for arg in command)]
        env = {"MIZZEN_HOME": str(self.work_dir / "home"), "MIZZEN_LOG_FORMAT": "json"}
        workload = Workload(name, argv, log_path=self.work_dir / "workloads" / f"{name}.log",
                            env=env, services=services, namespace=namespace,
                            app_port=app_port)  # fmt: skip
        self.workloads.append(workload)
        await workload.start()
        if services and "--no-health-probe" not in flags:
            await self.wait_health(workload, "HEALTHY")
        return workload

    def gateway(
        self,
        name: str,
        ports: Sequence[str],
        *,
        namespace: str = "istio-system",
        labels: Mapping[str, str] | None = None,
        service: str | None = None,
    ) -> GatewayProcess:
        """A ``mizzen gateway run`` for ``name`` on this mesh with the ``--port`` values
        ``ports`` (not started: ``await gateway.start()``), registering as ``service`` when
        given."""
        admin_port = self.ports.take()
        argv = [MIZZEN, "gateway", "run", "--name", name, "--namespace", namespace,
                "--admin-port", str(admin_port), "--xds", self.xds.grpc_target,
                "--discovery", self.services["discovery"].grpc_target]  # fmt: skip
        for port in ports:
            argv += ["--port", port]
        if labels:
            argv += ["--labels", ",".join(f"{k}={v}" for k, v in labels.items())]
        if service:
            argv += ["--service", service]
        env = {"MIZZEN_HOME": str(self.work_dir / "home"), "MIZZEN_LOG_FORMAT": "json"}
        return GatewayProcess(name, argv, log_path=self.work_dir / "gateways" / f"{name}.log",
                              env=env, admin_port=admin_port)  # fmt: skip

    async def endpoint_health(self, workload: Workload, hostname: str) -> str | None:
        """The health discovery recorded for ``workload``'s endpoint of ``hostname``."""
        key = f"/mizzen/registry/endpoints/{hostname}/{workload.namespace}.{workload.name}"
        kv = await self.store.get(key)
        return str(json.loads(kv.value).get("health", "HEALTHY")) if kv else None

    async def wait_health(self, workload: Workload, health: str, timeout: float = 30) -> None:
        """Wait until every endpoint of ``workload`` is registered with ``health``."""

        async def done() -> bool:
            found = [await self.endpoint_health(workload, h) for h in workload.hostnames]
            return all(value == health for value in found)

        await wait_for(done, timeout=timeout, message=f"{workload.name} registered {health}")

    async def stop_workload(self, workload: Workload) -> None:
        """Stop ``workload`` (SIGTERM: it deregisters first) and forget it."""
        await workload.stop()
        with contextlib.suppress(ValueError):
            self.workloads.remove(workload)

    # ---- config -----------------------------------------------------------------------

    async def apply(self, text: str, *, namespace: str = "default") -> int:
        """Apply the YAML ``text`` through the translator's ConfigService; its revision."""
        request = pb.ApplyRequest(files=[pb.SourceFile(name="test.yaml", content=text)],
                                  applied_by="mizzen.testing.mesh",
                                  default_namespace=namespace)  # fmt: skip
        response = await self._config.Apply(request, timeout=10)
        return int(response.revision)

    async def delete_all_config(self) -> None:
        """Delete every stored resource (one transaction)."""
        listing = await self._config.List(pb.ListRequest(), timeout=10)
        keys = [pb.ResourceKey(kind=r.kind, namespace=r.namespace, name=r.name)
                for r in listing.resources]  # fmt: skip
        if keys:
            await self._config.Delete(pb.DeleteRequest(keys=keys, applied_by="mizzen.testing"),
                                      timeout=10)  # fmt: skip

    async def reset(self, timeout: float = 15) -> None:
        """Delete all config, then wait until every running workload's Envoy has default
        routes and clusters (no VirtualService route, subset or DestinationRule policy
        left) and has acknowledged everything xds sent it."""
        await self.delete_all_config()
        await wait_for(self._clean, timeout=timeout, message="every Envoy back to defaults")

    async def synced(self, workload: Workload) -> bool:
        """Whether ``workload``'s Envoy has acknowledged everything xds sent it and warms no
        cluster (its new config is in use, not merely received)."""
        if await workload.config_dump("dynamic_warming_clusters"):
            return False
        status = (await self.proxy_statuses()).get(f"{workload.name}.{workload.namespace}")
        return status is not None and all(
            t["ackedVersion"] == t["sentVersion"] for t in status["types"].values()
        )

    async def _clean(self) -> bool:
        for workload in self.running():
            for config in await workload.config_dump("dynamic_route_configs"):
                for host in config.get("route_config", {}).get("virtual_hosts", []):
                    if not all(_route_is_default(r) for r in host.get("routes", [])):
                        return False
            if not all(_cluster_is_default(c) for c in (await workload.clusters()).values()):
                return False
        return all([await self.synced(workload) for workload in self.running()])

    # ---- NACKs ------------------------------------------------------------------------

    def running(self) -> list[Workload]:
        """The workloads still running."""
        return [w for w in self.workloads if w.running]

    async def proxy_statuses(self) -> dict[str, dict[str, Any]]:
        """xds's proxy statuses (``/mizzen/proxies/``) by proxy id, as stored (JSON)."""
        listing = await list_prefix(self.store, _PROXIES_PREFIX)
        statuses = (json.loads(kv.value) for kv in listing.kvs)
        return {str(status["proxyId"]): status for status in statuses}

    async def nacks(self) -> list[str]:
        """Every rejection on record: Envoy ``*update_rejected`` stats above 0 (CDS, LDS,
        RDS, EDS) on running workloads, and any ``lastNack`` in xds's proxy statuses."""
        found = []
        for workload in self.running():
            for name, value in (await workload.stats("update_rejected")).items():
                if value:
                    found.append(f"{workload.name}: {name} = {value}")
        for proxy_id, status in (await self.proxy_statuses()).items():
            nack = status.get("lastNack")
            if nack:
                found.append(f"{proxy_id}: xds lastNack {nack['type']}: {nack['error']}")
        return found

    async def check_no_nacks(self) -> None:
        """Fail (``AssertionError``) if anything was ever rejected (see :meth:`nacks`)."""
        found = await self.nacks()
        assert not found, "Envoy rejected config:\n" + "\n".join(found)


async def _stop_all(processes: Iterable[ChildProcess]) -> None:
    async def stop(process: ChildProcess) -> None:
        with contextlib.suppress(Exception):
            await process.stop()

    await asyncio.gather(*(stop(p) for p in processes))
