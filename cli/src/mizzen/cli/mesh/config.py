"""What ``mizzen up`` starts and where: ports, home, mode. Immutable and JSON-serializable.

The supervisor daemon (``mizzen up --detach``) receives its :class:`MeshConfig` as JSON on its
command line, so everything it needs to know is in here and nothing is read twice from the
environment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mizzen.cli.mesh.errors import MeshError, PortInUseError
from mizzen.launcher import is_port_free

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class PortRole:
    """One configurable port: ``field`` of :class:`MeshPorts`, its owner, role and flag."""

    field: str
    component: str
    role: str
    flag: str
    default: int


PORT_ROLES: tuple[PortRole, ...] = (
    PortRole("etcd_client", "etcd", "client", "--etcd-port", 2379),
    PortRole("etcd_peer", "etcd", "peer", "--etcd-peer-port", 2380),
    PortRole("nats_client", "nats", "client", "--nats-port", 4222),
    PortRole("nats_monitor", "nats", "monitor", "--nats-monitor-port", 8222),
    PortRole("translator_grpc", "translator", "gRPC", "--translator-port", 15011),
    PortRole("translator_metrics", "translator", "metrics", "--translator-metrics-port", 15111),
    PortRole("discovery_grpc", "discovery", "gRPC", "--discovery-port", 15013),
    PortRole("discovery_metrics", "discovery", "metrics", "--discovery-metrics-port", 15113),
    PortRole("xds_grpc", "xds", "gRPC", "--xds-port", 15010),
    PortRole("xds_metrics", "xds", "metrics", "--xds-metrics-port", 15110),
)
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshPorts:
    """Every port of the local mesh; defaults are the components' well-known ports."""

    etcd_client: int = 2379
    etcd_peer: int = 2380
    nats_client: int = 4222
    nats_monitor: int = 8222
    translator_grpc: int = 15011
    translator_metrics: int = 15111
    discovery_grpc: int = 15013
    discovery_metrics: int = 15113
    xds_grpc: int = 15010
    xds_metrics: int = 15110

    @classmethod
    def build(cls, *, offset: int = 0, overrides: Mapping[str, int | None] | None = None
              ) -> MeshPorts:  # fmt: skip
        """The defaults shifted by ``offset``, then ``overrides`` (field → port; ``None`` is
        skipped). Raises :class:`MeshError` when a port falls outside 1..65535."""
        values = {role.field: role.default + offset for role in PORT_ROLES}
        for field, port in (overrides or {}).items():
            if port is not None:
                values[field] = port
        for role in PORT_ROLES:
            port = values[role.field]
            if not 0 < port <= _MAX_PORT:
                raise MeshError(
                    f"port {port} ({role.component} {role.role}) is not a valid port "
                    f"(1-{_MAX_PORT}); check {role.flag} and --port-offset"
                )
        return cls(**values)

    def of(self, field: str) -> int:
        """The port of ``field`` (a :data:`PORT_ROLES` field name)."""
        value: int = getattr(self, field)
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshConfig:
    """How to run one local mesh.

    ``home`` is the state directory; ``all_in_one`` runs every service inside the supervisor
    on a shared in-memory store (no etcd, no NATS); ``bin_dir``, when set, is where etcd and
    nats-server are taken from instead of their Python packages. ``restart_initial_seconds``
    and ``restart_max_seconds`` bound the backoff between restarts of a crashed component;
    a component that stayed up ``restart_reset_seconds`` starts again from the initial delay.
    """

    home: Path
    ports: MeshPorts = dataclasses.field(default_factory=MeshPorts)
    host: str = DEFAULT_HOST
    all_in_one: bool = False
    bin_dir: Path | None = None
    start_timeout_seconds: float = 60.0
    stop_grace_seconds: float = 10.0
    restart_initial_seconds: float = 0.2
    restart_max_seconds: float = 30.0
    restart_reset_seconds: float = 60.0

    def components(self) -> tuple[str, ...]:
        """The components this mesh runs, in start order."""
        services = ("translator", "discovery", "xds")
        return services if self.all_in_one else ("etcd", "nats", *services)

    def port_roles(self) -> Iterator[PortRole]:
        """The port roles of the components this mesh runs."""
        wanted = set(self.components())
        return (role for role in PORT_ROLES if role.component in wanted)

    def to_json(self) -> str:
        """This config as JSON (the inverse of :meth:`from_json`)."""
        data: dict[str, Any] = dataclasses.asdict(self)
        data["home"] = str(self.home)
        data["bin_dir"] = str(self.bin_dir) if self.bin_dir else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MeshConfig:
        """Parse what :meth:`to_json` wrote."""
        data = json.loads(text)
        data["home"] = Path(data["home"])
        data["bin_dir"] = Path(data["bin_dir"]) if data.get("bin_dir") else None
        data["ports"] = MeshPorts(**data["ports"])
        return cls(**data)


def check_ports(config: MeshConfig) -> None:
    """Raise :class:`PortInUseError` for the first port of ``config`` that is given to two
    components or cannot be bound on ``config.host`` right now."""
    seen: dict[int, PortRole] = {}
    for role in config.port_roles():
        port = config.ports.of(role.field)
        other = seen.get(port)
        if other is not None:
            raise PortInUseError(
                port, component=role.component, role=role.role, flag=role.flag,
                reason=f"is also given to {other.component} {other.role} ({other.flag})",
            )  # fmt: skip
        seen[port] = role
    for port, role in seen.items():
        if not is_port_free(config.host, port):
            raise PortInUseError(
                port, component=role.component, role=role.role, flag=role.flag,
                reason=f"is already in use on {config.host}",
            )  # fmt: skip
