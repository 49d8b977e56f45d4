"""What a workload is, as the agent is told on its command line, checked once.

``mizzen workload run --name reviews-v2 --service reviews --port 9080:19080
--labels app=reviews,version=v2 -- python app.py`` becomes one :class:`WorkloadSpec`. Parsing
and validation live here (no I/O), so every error names its flag and what would be valid,
before anything is started.

A ``--port`` is ``PORT:APP_PORT[:PROTOCOL]`` (the service port clients use, the port the app
listens on at 127.0.0.1, Istio's protocol name, HTTP by default). With several ``--service``
flags, a port may be qualified with the service it belongs to (``reviews=9080:19080``); an
unqualified port belongs to every service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mizzen.agent.errors import WorkloadSpecError
from mizzen.registry import Locality, Protocol, frozen_map, protocol_of
from mizzen.snapshots import InboundPort

__all__ = [
    "RESERVED_PORTS",
    "PortSpec",
    "ServiceSpec",
    "WorkloadSpec",
    "build_services",
    "exit_status_of",
    "parse_labels",
    "parse_port",
]

RESERVED_PORTS: Mapping[int, str] = {15000: "Envoy's admin", 15001: "the outbound HTTP proxy"}
"""Ports the workload's Envoy binds on its address; no service port may use them."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PROTOCOLS = ", ".join(p.value for p in Protocol if p is not Protocol.UNKNOWN)


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One served port: the service port, the app's port on 127.0.0.1, and the protocol."""

    port: int
    app_port: int
    protocol: Protocol = Protocol.HTTP

    def __str__(self) -> str:
        return f"{self.port}:{self.app_port}:{self.protocol.value}"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service the workload serves: a bare name (``reviews``) or an FQDN, and its ports."""

    name: str
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A workload as given to ``mizzen workload run``: checked on construction.

    ``address`` forces the workload's loopback address (``None``: the agent allocates one).
    ``command`` is the app's argv. Raises :class:`WorkloadSpecError` naming the bad flag.
    Immutable; ``labels`` is a read-only copy.
    """

    name: str
    command: tuple[str, ...]
    namespace: str = "default"
    services: tuple[ServiceSpec, ...] = ()
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    service_account: str = "default"
    address: str | None = None
    locality: str = ""
    """Where it runs (``--locality region/zone/sub_zone``): its endpoints' locality and its
    Envoy's ``node.locality``, for locality-aware load balancing (see :attr:`where`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", frozen_map(self.labels))
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "services", tuple(self.services))
        _check_dns_label(self.name, "--name", "the workload name")
        _check_dns_label(self.namespace, "--namespace", "the namespace")
        _check_dns_subdomain(self.service_account, "--service-account")
        if not self.command:
            raise WorkloadSpecError(
                "no app command: give it after `--`, e.g. `-- python app.py`", option="COMMAND"
            )
        self.inbound_ports()  # raises on conflicting app ports
        if self.locality and not all(self.locality.split("/")):
            raise WorkloadSpecError(
                f"{self.locality!r} is not REGION[/ZONE[/SUBZONE]] (no empty parts)",
                option="--locality",
            )

    @property
    def where(self) -> Locality:
        """:attr:`locality` parsed."""
        return Locality.parse(self.locality)

    @property
    def ports(self) -> tuple[PortSpec, ...]:
        """Every distinct served port, in the order first given."""
        seen: dict[int, PortSpec] = {}
        for service in self.services:
            for port in service.ports:
                seen.setdefault(port.port, port)
        return tuple(seen.values())

    def inbound_ports(self) -> tuple[InboundPort, ...]:
        """The Envoy inbound listeners this workload needs (``MIZZEN_INBOUND``), sorted.

        One service port can reach only one app port: two services that map the same service
        port to different app ports (or protocols) raise :class:`WorkloadSpecError`.
        """
        by_port: dict[int, PortSpec] = {}
        for service in self.services:
            for port in service.ports:
                other = by_port.setdefault(port.port, port)
                if other != port:
                    raise WorkloadSpecError(
                        f"service port {port.port} is given as {other} and as {port}: one "
                        "service port must reach one app port with one protocol",
                        option="--port",
                    )
        return tuple(sorted(InboundPort(p.port, p.app_port, p.protocol) for p in by_port.values()))


def parse_port(text: str) -> tuple[str, PortSpec]:
    """Parse one ``--port``: ``[SERVICE=]PORT:APP_PORT[:PROTOCOL]``.

    Returns the service it is qualified with (``""`` when unqualified) and the port. Raises
    :class:`WorkloadSpecError` saying what would be valid.
    """
    service, sep, rest = text.rpartition("=")
    if sep and not service:
        raise WorkloadSpecError(
            f"--port {text!r}: the service before '=' is empty", option="--port"
        )
    parts = rest.split(":")
    expected = (
        "expected PORT:APP_PORT[:PROTOCOL] (e.g. 9080:19080 or 9080:19080:http), optionally "
        "prefixed with SERVICE= when there are several --service"
    )
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[:2]):
        raise WorkloadSpecError(f"--port {text!r}: {expected}", option="--port")
    port, app_port = int(parts[0]), int(parts[1])
    for value, what in ((port, "the service port"), (app_port, "the app port")):
        if not 1 <= value <= 65535:
            raise WorkloadSpecError(
                f"--port {text!r}: {what} must be between 1 and 65535", option="--port"
            )
    if port in RESERVED_PORTS:
        raise WorkloadSpecError(
            f"--port {text!r}: port {port} is taken by {RESERVED_PORTS[port]} on the workload's "
            "address; choose another service port",
            option="--port",
        )
    protocol = Protocol.HTTP
    if len(parts) == 3:
        protocol = protocol_of(parts[2])
        if protocol is Protocol.UNKNOWN:
            raise WorkloadSpecError(
                f"--port {text!r}: unknown protocol {parts[2]!r}; expected one of {_PROTOCOLS}",
                option="--port",
            )
    return service, PortSpec(port, app_port, protocol)


def build_services(names: Sequence[str], ports: Iterable[str]) -> tuple[ServiceSpec, ...]:
    """The served services from the ``--service`` and ``--port`` flags (see module doc).

    Raises :class:`WorkloadSpecError` for a bad port, a port without a service, a port
    qualified with a service that was not given, a service without ports, or a service
    port given twice for one service.
    """
    for name in names:
        _check_service_name(name)
    if len(set(names)) != len(names):
        raise WorkloadSpecError("a --service is given twice", option="--service")
    parsed = [parse_port(text) for text in ports]
    if parsed and not names:
        raise WorkloadSpecError(
            "--port needs a --service it belongs to (e.g. --service reviews --port 9080:19080)",
            option="--port",
        )
    for qualifier, port in parsed:
        if qualifier and qualifier not in names:
            raise WorkloadSpecError(
                f"--port {qualifier}={port.port}:{port.app_port} names a service that is not "
                f"among --service ({', '.join(names)})",
                option="--port",
            )
    services = []
    for name in names:
        mine = [port for qualifier, port in parsed if qualifier in ("", name)]
        if not mine:
            raise WorkloadSpecError(
                f"--service {name} has no --port (e.g. --port 9080:19080)", option="--port"
            )
        numbers = [port.port for port in mine]
        if len(set(numbers)) != len(numbers):
            raise WorkloadSpecError(
                f"--service {name}: a service port is given twice", option="--port"
            )
        services.append(ServiceSpec(name, tuple(mine)))
    return tuple(services)


def parse_labels(texts: Iterable[str]) -> dict[str, str]:
    """Parse ``--labels`` values, each ``key=value[,key=value...]`` (Kubernetes label syntax).

    Later values override earlier ones. Raises :class:`WorkloadSpecError`.
    """
    labels: dict[str, str] = {}
    for text in texts:
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise WorkloadSpecError(
                    f"--labels {item!r}: expected key=value[,key=value...]", option="--labels"
                )
            prefix, slash, name = key.rpartition("/")
            if (slash and not _is_dns_subdomain(prefix)) or not _LABEL_NAME.match(name):
                raise WorkloadSpecError(
                    f"--labels {item!r}: {key!r} is not a label key ([prefix/]name, the name at "
                    "most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)",
                    option="--labels",
                )
            if not _LABEL_VALUE.match(value):
                raise WorkloadSpecError(
                    f"--labels {item!r}: {value!r} is not a label value (at most 63 letters, "
                    "digits, '-', '_' or '.', starting and ending alphanumeric)",
                    option="--labels",
                )
            labels[key] = value
    return labels


def exit_status_of(returncode: int) -> int:
    """A child's status as a shell reports it: the code, or 128 + N when killed by signal N."""
    return returncode if returncode >= 0 else 128 - returncode


def _check_dns_label(value: str, option: str, what: str) -> None:
    if not _DNS_LABEL.match(value):
        raise WorkloadSpecError(
            f"{option} {value!r}: {what} must be a DNS label (at most 63 lower-case letters, "
            "digits or '-', starting and ending alphanumeric)",
            option=option,
        )


def _is_dns_subdomain(value: str) -> bool:
    return 0 < len(value) <= 253 and all(_DNS_LABEL.match(part) for part in value.split("."))


def _check_dns_subdomain(value: str, option: str) -> None:
    if not _is_dns_subdomain(value):
        raise WorkloadSpecError(
            f"{option} {value!r}: expected a DNS subdomain (lower-case DNS labels joined by '.')",
            option=option,
        )


def _check_service_name(name: str) -> None:
    if not _is_dns_subdomain(name):
        raise WorkloadSpecError(
            f"--service {name!r}: expected a service name (reviews) or a fully qualified host "
            "name (reviews.default.svc.cluster.local)",
            option="--service",
        )
