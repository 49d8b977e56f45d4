"""What one benchmark cell runs against: the mesh's inputs (services, endpoints, one
VirtualService per service), the real processes (etcd, translator, xds, Envoys) and what the
kernel says about their CPU and memory.

The services: ``svc-<i>`` in namespace ``ns-<i mod namespaces>``, one HTTP port each taken in
turn from 80, 8080 and 9080 (so every proxy gets three route configurations of about M/3
virtual hosts), ``endpoints`` endpoints each, written straight into the registry with the
registry codec (as discovery would). Each has a VirtualService with a timeout and retries;
the change under measurement adds a response header carrying a unique marker to the
VirtualService of ``svc-0``, which every proxy can see.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc import aio

from mizzen.envoy import (
    AdsMode,
    BootstrapConfig,
    InterceptionMode,
    NodeId,
    ProxyMetadata,
    ProxyType,
    XdsServerAddress,
    build_bootstrap,
)
from mizzen.launcher import (
    ChildProcess,
    EnvoyProcess,
    EtcdProcess,
    PortAllocator,
    ServiceProcess,
    is_port_free,
)
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.registry import (
    Endpoint,
    Service,
    ServicePort,
    encode_endpoint,
    encode_service,
    endpoint_key,
    service_hostname,
    service_key,
)
from mizzen.snapshots.proxy import META_INBOUND
from mizzen.store import Store, Txn, open_store

PORTS = (80, 8080, 9080)
MARKER_HEADER = "x-bench-marker"
_BATCH = 100  # etcd's default --max-txn-ops is 128


@dataclass(frozen=True, slots=True)
class Topology:
    """The mesh's shape (see the module docstring)."""

    services: int
    workloads: int = 10
    namespaces: int = 5
    endpoints: int = 3
    target: int = 0
    """The service whose VirtualService the measured change edits."""

    def name(self, index: int) -> str:
        """The short name of service ``index``."""
        return f"svc-{index:04d}"

    def namespace(self, index: int) -> str:
        """The namespace of service ``index``."""
        return f"ns-{index % self.namespaces}"

    def port(self, index: int) -> int:
        """The one (HTTP) port of service ``index``."""
        return PORTS[index % len(PORTS)]

    def hostname(self, index: int) -> str:
        """The FQDN of service ``index``."""
        return service_hostname(self.name(index), self.namespace(index))

    def registry(self) -> tuple[list[Service], list[Endpoint]]:
        """Every service and endpoint."""
        services, endpoints = [], []
        for i in range(self.services):
            port = self.port(i)
            services.append(Service(self.hostname(i), self.namespace(i),
                                    (ServicePort(port, name="http"),), source="bench"))  # fmt: skip
            for e in range(self.endpoints):
                endpoints.append(Endpoint(
                    service=self.hostname(i), namespace=self.namespace(i),
                    workload=f"{self.name(i)}-{e}",
                    address=f"10.{(i >> 8) % 64}.{i % 256}.{e + 1}", ports={port: port},
                    labels={"app": self.name(i), "version": "v1"},
                    service_account=self.name(i), source="bench",
                ))  # fmt: skip
        return services, endpoints

    def workload_specs(self) -> list[dict[str, Any]]:
        """The simulated workloads (see ``loadgen.py``): workload ``w`` serves service
        ``w mod services``, in that service's namespace and port."""
        specs = []
        for w in range(self.workloads):
            i = w % self.services
            specs.append({"name": f"wl-{w:02d}", "namespace": self.namespace(i),
                          "port": self.port(i), "serviceAccount": f"wl-{w:02d}"})  # fmt: skip
        return specs

    def virtual_service(self, index: int, marker: str = "") -> str:
        """The VirtualService of service ``index`` as YAML; with ``marker``, its route also
        sets a response header carrying it."""
        host, port = self.hostname(index), self.port(index)
        headers = f"\n    headers: {{response: {{set: {{{MARKER_HEADER}: {marker}}}}}}}"
        return (
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
            f"metadata: {{name: {self.name(index)}, namespace: {self.namespace(index)}}}\n"
            f"spec:\n  hosts: [{host}]\n  http:\n"
            f"  - route: [{{destination: {{host: {host}, port: {{number: {port}}}}}}}]\n"
            f"    timeout: 5s\n    retries: {{attempts: 2, perTryTimeout: 2s, retryOn: 5xx}}"
            f"{headers if marker else ''}\n"
        )


async def populate_registry(store: Store, topology: Topology) -> None:
    """Write every service and endpoint of ``topology`` (batched transactions)."""
    services, endpoints = topology.registry()
    puts = [(service_key(s.hostname), encode_service(s)) for s in services]
    puts += [(endpoint_key(e.service, e.endpoint_id), encode_endpoint(e)) for e in endpoints]
    for start in range(0, len(puts), _BATCH):
        txn = Txn()
        for key, value in puts[start : start + _BATCH]:
            txn.then_put(key, value)
        await store.commit(txn)


@dataclass(frozen=True, slots=True)
class Applied:
    """An apply that returned: its store revision, and when it returned (``time.monotonic()``
    and ``time.time()``, read the moment the answer arrived)."""

    revision: int
    monotonic: float
    wall: float


async def apply_documents(target: str, documents: list[str], *, timeout: float) -> Applied:
    """Apply ``documents`` in one request through the translator's ConfigService."""
    async with aio.insecure_channel(target) as channel:
        stub = config_pb2_grpc.ConfigServiceStub(channel)
        request = pb.ApplyRequest(
            files=[pb.SourceFile(name="bench.yaml", content="---\n".join(documents))],
            applied_by="bench/convergence.py",
        )
        response = await stub.Apply(request, timeout=timeout)
        returned, wall = time.monotonic(), time.time()
        return Applied(int(response.revision), returned, wall)


# -- processes ---------------------------------------------------------------------------


@dataclass
class Stack:
    """The running control plane of one cell, and a store client on its etcd."""

    work_dir: Path
    ports: PortAllocator
    etcd: EtcdProcess
    translator: ServiceProcess
    xds: ServiceProcess
    store: Store

    def check_alive(self, *more: ChildProcess) -> None:
        """Raise ``RuntimeError`` naming the first of these processes that exited."""
        for process in (self.etcd, self.translator, self.xds, *more):
            if not process.running:
                tail = process.log_tail(60)
                # A service logs its errors as JSON with structlog's exception fields.
                errors = list(dict.fromkeys(re.findall(r'"exc_value": "([^"]{1,200})"', tail)))
                detail = "; ".join(errors[-3:]) or tail[-300:]
                raise RuntimeError(f"{process.name} exited with status {process.returncode}: "
                                   f"{detail}")  # fmt: skip


@asynccontextmanager
async def control_plane(
    work_dir: Path,
    *,
    fast_etcd: bool,
    timeout: float,
    etcd_max_request_bytes: int = 0,
    xds_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """Start etcd (with ``--max-request-bytes`` if not 0), then the translator and xds (as
    ``python -m mizzen.<service>``, xds with ``xds_env`` added to its environment, e.g.
    ``MALLOC_ARENA_MAX`` for an experiment); stop them all on exit, whatever happens."""
    ports = PortAllocator()
    async with AsyncExitStack() as stack:
        etcd = EtcdProcess(work_dir / "etcd", ports=ports, fast=fast_etcd)
        if etcd_max_request_bytes:
            etcd.argv += ["--max-request-bytes", str(etcd_max_request_bytes)]
        etcd.start_timeout = timeout
        await etcd.start()
        stack.push_async_callback(etcd.stop)
        url = f"etcd://{etcd.endpoint}"
        services = []
        for name in ("translator", "xds"):
            env = {f"MIZZEN_{name.upper()}_STORE_URL": url}
            if name == "xds":
                env.update(xds_env or {})
            process = ServiceProcess(name, work_dir / "services", grpc_port=ports.take(),
                                     metrics_port=ports.take(), start_timeout=timeout,
                                     env=env)  # fmt: skip
            stack.push_async_callback(process.stop)
            services.append(process)
        await asyncio.gather(*(process.start() for process in services))
        store = await open_store(url)
        stack.push_async_callback(store.close)
        yield Stack(work_dir, ports, etcd, services[0], services[1], store)


@dataclass
class RealEnvoy:
    """One real Envoy in Mizzen's local mode (its own loopback address, its own class)."""

    process: EnvoyProcess
    address: str
    node_id: str


def _free_loopback_address(ports: list[int]) -> str:
    for _ in range(100):
        address = (
            f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        )
        if all(is_port_free(address, port) for port in ports):
            return address
    raise RuntimeError("no free loopback address found")


def real_envoy(stack: Stack, topology: Topology, index: int, *, delta: bool,
               timeout: float) -> RealEnvoy:  # fmt: skip
    """Real Envoy ``index``, not started yet (its ``start`` returns once it holds its initial
    config, within ``timeout``), serving a service on a port above 1024 when there is one."""
    candidates = [i for i in range(topology.services) if topology.port(i) >= 1024]
    served = candidates[index % len(candidates)] if candidates else None
    inbound = [] if served is None else [topology.port(served)]
    address = _free_loopback_address([15001, *inbound])
    name = f"envoy-{index}"
    namespace = topology.namespace(served if served is not None else 0)
    app_port = stack.ports.take()
    metadata = ProxyMetadata(
        namespace=namespace,
        labels={"app": name, "version": "v1"},
        service_account=name,
        interception_mode=InterceptionMode.NONE,
        local_address=address,
        workload_name=name,
        instance_ips=(address,),
        extra={META_INBOUND: ",".join(f"{p}:{app_port}:HTTP" for p in inbound)},
    )
    node_id = NodeId(ProxyType.SIDECAR, address, name, namespace)
    xds = stack.xds
    config = BootstrapConfig(
        node_id=node_id, metadata=metadata,
        xds_servers=[XdsServerAddress(xds.host, xds.grpc_port)],
        admin_port=stack.ports.take(), admin_address="127.0.0.1",
        ads_mode=AdsMode.DELTA if delta else AdsMode.STATE_OF_THE_WORLD,
    )  # fmt: skip
    process = EnvoyProcess(stack.work_dir / "envoy", build_bootstrap(config),
                           admin_port=config.admin_port, name=name)  # fmt: skip
    process.start_timeout = timeout
    return RealEnvoy(process, address, str(node_id))


_STATS_FILTER = (
    r"(cluster_manager\.cds|listener_manager\.lds|rds\.http_proxy)\."
    r"(update_success|update_rejected|config_reload_time_ms)$"
)


async def envoy_xds_stats(envoy: RealEnvoy) -> dict[str, int]:
    """Envoy's CDS, LDS and (``http_proxy``) RDS update counters and reload times (ms since
    the epoch), e.g. ``{"rds.update_success": 3, "cds.config_reload_time_ms": ...}``."""
    path = "/stats?filter=" + urllib.parse.quote(_STATS_FILTER, safe="")
    status, body = await envoy.process.admin_get(path)
    if status != 200:
        raise RuntimeError(f"{envoy.node_id}: /stats answered {status}")
    values: dict[str, int] = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(": ")
        for short in ("cds", "lds", "rds"):
            marker = f".{short}." if short != "rds" else "rds.http_proxy."
            if marker in name and value.strip().isdigit():
                values[f"{short}.{name.rsplit('.', 1)[-1]}"] = int(value)
    return values


async def envoy_has_marker(envoy: RealEnvoy, marker: str) -> bool:
    """Whether the Envoy's active route configurations contain ``marker``."""
    status, body = await envoy.process.admin_get(
        "/config_dump?resource=dynamic_route_configs", timeout=10.0
    )
    return status == 200 and marker.encode() in body


async def envoy_change_latency(envoy: RealEnvoy, marker: str, *, applied_wall: float,
                               before: dict[str, int], timeout: float) -> float:  # fmt: skip
    """Seconds from ``applied_wall`` (epoch seconds) to the Envoy's last config reload of the
    change carrying ``marker``: waits until its route configuration holds the marker, then
    takes the latest CDS/LDS/RDS reload time that moved since ``before``."""
    async with asyncio.timeout(timeout):
        while True:
            stats = await envoy_xds_stats(envoy)
            if stats.get("rds.update_success", 0) > before.get("rds.update_success", 0) and (
                await envoy_has_marker(envoy, marker)
            ):
                break
            # Polling the admin API (Envoy pushes no events). Its stats filter walks every
            # stat, so poll gently; the latency comes from Envoy's own reload timestamps.
            await asyncio.sleep(0.05)
    reloads = [
        value / 1000.0
        for key, value in stats.items()
        if key.endswith("config_reload_time_ms") and value != before.get(key)
    ]
    return max(reloads, default=time.time()) - applied_wall


# -- what the kernel says ----------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent running processes (all CPUs; user and system
    time, and time stolen by the hypervisor). Interrupt time is left out: loopback traffic
    is processed there, and it is the benchmark's own."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + steal) / _TICKS


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A ``/proc/<pid>/status`` memory figure in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")
