"""A standalone ingress gateway: one Envoy serving Gateway resources, supervised like a
workload's.

``mizzen gateway run --name ingress --labels istio=ingressgateway --port 8080`` builds a
:class:`GatewaySpec` and calls :func:`run_gateway`::

    spec = GatewaySpec(name="ingress", ports=(parse_gateway_port("8080"),),
                       labels={"istio": "ingressgateway"})
    status = run_gateway(spec, load_agent_settings())  # 0 after Ctrl-C / SIGTERM

The gateway's Envoy is a *router* proxy: node id
``router~<address>~<name>.<namespace>~<namespace>.svc.cluster.local``, node metadata with its
``LABELS`` (which Gateways' ``selector`` must match), ``INTERCEPTION_MODE: NONE`` and
``LOCAL_ADDRESS: <address>`` (it binds that address, 127.0.0.1 by default, on its ports), and
``MIZZEN_INBOUND`` listing its ports as ``<server port>:<listen port>``: a Gateway server on
port 443 is served on the listen port given with ``--port 443:8443``, and servers on ports the
gateway was not given are not served at all. Admin listens on ``<address>:15000`` unless told
otherwise.

Before Envoy starts, every listen port and the admin port are bound once to check they are
free: a port in use is a :class:`~mizzen.agent.errors.ProxyError` naming it, instead of a
listener Envoy would reject later. Then Envoy starts with the agent's
:class:`~mizzen.agent.proxy.ProxySupervisor` (ready once it has its config from xds,
restarted with backoff if it dies) and the gateway stays in the foreground until SIGINT,
SIGTERM or SIGHUP, when Envoy is stopped.

With ``service`` (``--service istio-egressgateway``) the gateway also registers itself with
discovery as an endpoint of that service in its namespace, once its Envoy is ready: each
port a service port received on its listen port at the gateway's address, with the port's
protocol (``--port 443:8443:TLS``; HTTP unless given). Sidecars can then route to it, as to
Istio's ``istio-ingressgateway`` and ``istio-egressgateway`` services (egress through a
gateway), and Istio's analyzers see it. It deregisters before Envoy stops.

Not done here yet: TLS credentials over SDS (``credentialName``); Gateway servers use
certificate files on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from mizzen.agent.config import AgentSettings
from mizzen.agent.domain.bootstrap import ADMIN_PORT, parse_server_address
from mizzen.agent.errors import AgentError, ProxyError, WorkloadSpecError
from mizzen.agent.proxy import ProxySupervisor
from mizzen.agent.registration import (
    DEREGISTER_TIMEOUT,
    raise_for_registration,
    registered_or_failed,
    served_service,
)
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
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration import Registrar
from mizzen.registry import Protocol, frozen_map, protocol_of
from mizzen.runtime import bound_log_context, configure_logging, install_signal_handlers
from mizzen.snapshots import InboundPort, format_inbound
from mizzen.snapshots.proxy import META_INBOUND

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_NAMESPACE",
    "GatewayPort",
    "GatewayRunner",
    "GatewaySpec",
    "check_ports_free",
    "gateway_bootstrap_config",
    "parse_gateway_port",
    "run_gateway",
    "serve_gateway",
]

log = structlog.get_logger(__name__)

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_NAMESPACE = "istio-system"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PROXY_STOP_GRACE = 5.0
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class GatewayPort:
    """A port the gateway serves: the Gateway server port, the port it listens on, and the
    protocol it registers the port with (when it registers as a service)."""

    port: int
    listen_port: int
    protocol: Protocol = Protocol.HTTP

    def __str__(self) -> str:
        """As ``--port`` takes it (the shortest form)."""
        if self.protocol is not Protocol.HTTP:
            return f"{self.port}:{self.listen_port}:{self.protocol.value}"
        if self.port != self.listen_port:
            return f"{self.port}:{self.listen_port}"
        return str(self.port)


def parse_gateway_port(text: str) -> GatewayPort:
    """Parse one ``--port``: ``PORT`` (served and listened on), ``PORT:LISTEN_PORT`` (a
    Gateway server on PORT, listened on at LISTEN_PORT) or ``PORT:LISTEN_PORT:PROTOCOL``.
    Raises :class:`WorkloadSpecError`."""
    parts = text.strip().split(":")
    usage = f"--port {text!r}: expected PORT[:LISTEN_PORT[:PROTOCOL]] (e.g. 8080 or 443:8443:TLS)"
    if len(parts) not in (1, 2, 3) or not all(p.isdigit() for p in parts[:2]):
        raise WorkloadSpecError(usage, option="--port")
    protocol = Protocol.HTTP
    if len(parts) == 3:
        protocol = protocol_of(parts[2])
        if protocol is Protocol.UNKNOWN:
            raise WorkloadSpecError(f"{usage}; {parts[2]!r} is not a protocol", option="--port")
    numbers = [int(p) for p in parts[:2]]
    if not all(1 <= n <= _MAX_PORT for n in numbers):
        raise WorkloadSpecError(f"--port {text!r}: ports are 1..65535", option="--port")
    return GatewayPort(numbers[0], numbers[-1], protocol)


def _check_label(value: str, option: str, what: str) -> None:
    if not _DNS_LABEL.match(value):
        raise WorkloadSpecError(
            f"{option} {value!r}: {what} must be a DNS label (lower-case letters, digits and "
            "'-', at most 63, starting and ending with a letter or digit)",
            option=option,
        )


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """A gateway as given to ``mizzen gateway run``, checked on construction (raises
    :class:`WorkloadSpecError` naming the flag). Immutable; ``labels`` is a read-only copy.

    ``address`` is where it listens (an IP literal; ``0.0.0.0`` for every interface, its
    admin then staying on 127.0.0.1); ``ports`` at least one, listen ports distinct from
    each other and from ``admin_port``."""

    name: str
    ports: tuple[GatewayPort, ...]
    namespace: str = DEFAULT_NAMESPACE
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    address: str = DEFAULT_ADDRESS
    admin_port: int = ADMIN_PORT
    service_account: str = "default"
    service: str | None = None
    """The service it registers as (a bare name, in its namespace), if any."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", frozen_map(self.labels))
        object.__setattr__(self, "ports", tuple(self.ports))
        _check_label(self.name, "--name", "the gateway name")
        _check_label(self.namespace, "--namespace", "the namespace")
        if self.service is not None:
            _check_label(self.service, "--service", "the service name")
        try:
            ipaddress.ip_address(self.address)
        except ValueError as exc:
            raise WorkloadSpecError(
                f"--address {self.address!r}: expected an IP address (e.g. 127.0.0.1)",
                option="--address",
            ) from exc
        if not self.ports:
            raise WorkloadSpecError("give at least one --port (e.g. --port 8080)",
                                    option="--port")  # fmt: skip
        if not 1 <= self.admin_port <= _MAX_PORT:
            raise WorkloadSpecError(
                f"--admin-port {self.admin_port}: ports are 1..65535", option="--admin-port"
            )
        for attribute, what in (("port", "a served port"), ("listen_port", "a listen port")):
            numbers = [getattr(p, attribute) for p in self.ports]
            if len(set(numbers)) != len(numbers):
                raise WorkloadSpecError(f"{what} is given twice", option="--port")
        if self.admin_port in {p.listen_port for p in self.ports}:
            raise WorkloadSpecError(
                f"port {self.admin_port} is the admin port (--admin-port): choose another",
                option="--port",
            )

    @property
    def admin_address(self) -> str:
        """Where Envoy's admin listens: the gateway's address, or 127.0.0.1 when that is a
        wildcard (the admin interface must not face the network)."""
        return DEFAULT_ADDRESS if ipaddress.ip_address(self.address).is_unspecified else (
            self.address
        )  # fmt: skip

    @property
    def inbound(self) -> tuple[InboundPort, ...]:
        """The ports as ``MIZZEN_INBOUND`` carries them (server port, listen port)."""
        return tuple(sorted(InboundPort(p.port, p.listen_port) for p in self.ports))

    @property
    def gateway_id(self) -> str:
        """``<name>.<namespace>``: the gateway's proxy id in xds's proxy status."""
        return f"{self.name}.{self.namespace}"


def gateway_workload(spec: GatewaySpec) -> pb.Workload:
    """What a gateway with a ``service`` registers: itself, HEALTHY (it registers once its
    Envoy is ready), at its address (``127.0.0.1`` when it listens on every interface), each
    port received on its listen port."""
    assert spec.service is not None
    return pb.Workload(
        name=spec.name,
        namespace=spec.namespace,
        address=spec.admin_address,
        labels=dict(spec.labels),
        service_account=spec.service_account,
        services=[
            served_service(spec.service, [(p.port, p.listen_port, p.protocol) for p in spec.ports])
        ],
        health=pb.HEALTH_HEALTHY,
    )


def gateway_bootstrap_config(
    spec: GatewaySpec,
    *,
    xds_servers: Sequence[XdsServerAddress],
    delta: bool = False,
    initial_fetch_timeout: float = 0.0,
) -> BootstrapConfig:
    """The bootstrap of ``spec``'s router proxy (see the module docstring); ADS to every one
    of ``xds_servers``, state-of-the-world unless ``delta``; ``initial_fetch_timeout`` 0
    makes Envoy wait for its config before it reports ready."""
    metadata = ProxyMetadata(
        namespace=spec.namespace,
        labels=spec.labels,
        service_account=spec.service_account,
        interception_mode=InterceptionMode.NONE,
        local_address=spec.address,
        workload_name=spec.name,
        instance_ips=(spec.address,),
        extra={META_INBOUND: format_inbound(spec.inbound)},
    )
    return BootstrapConfig(
        node_id=NodeId(ProxyType.ROUTER, spec.address, spec.name, spec.namespace),
        metadata=metadata,
        xds_servers=xds_servers,
        admin_port=spec.admin_port,
        admin_address=spec.admin_address,
        ads_mode=AdsMode.DELTA if delta else AdsMode.STATE_OF_THE_WORLD,
        initial_fetch_timeout=initial_fetch_timeout,
    )


def _bind_once(address: str, port: int, what: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As Envoy binds its listeners: a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ProxyError(
                    f"port {port} on {address} ({what}) is already in use: stop what listens "
                    "there or choose another port"
                ) from exc
            if exc.errno == errno.EACCES:
                raise ProxyError(
                    f"port {port} on {address} ({what}) needs privileges: listen on a port "
                    f"above 1023 instead, e.g. --port {port}:{port + 8000}"
                ) from exc
            raise ProxyError(f"cannot listen on {address}:{port} ({what}): {exc}") from exc


def check_ports_free(checks: Iterable[tuple[str, int, str]]) -> None:
    """Bind each ``(address, port, what)`` once and release it; raises :class:`ProxyError`
    naming the first port that is in use (or needs privileges, or cannot be bound)."""
    for address, port, what in checks:
        _bind_once(address, port, what)


class GatewayRunner:
    """One gateway's Envoy, from start to stop. :meth:`run` checks the ports, starts Envoy,
    waits until it is ready, supervises it until a stop signal and stops it; it returns the
    exit status (0 after a stop signal once ready, 128 + the signal before) or raises
    :class:`AgentError` (after cleaning up). Use once, from the main thread."""

    def __init__(self, spec: GatewaySpec, settings: AgentSettings) -> None:
        self.spec = spec
        self.settings = settings
        xds = [parse_server_address(s, option="--xds") for s in settings.xds_servers]
        bootstrap = build_bootstrap(
            gateway_bootstrap_config(
                spec, xds_servers=xds, delta=settings.delta,
                initial_fetch_timeout=settings.initial_fetch_timeout_seconds,
            )
        )  # fmt: skip
        self.proxy = ProxySupervisor(
            settings.home_dir / "gateways" / spec.gateway_id,
            bootstrap,
            admin_host=spec.admin_address,
            admin_port=spec.admin_port,
            ready_timeout=settings.proxy_ready_timeout_seconds,
            log_level=settings.envoy_log_level,
            concurrency=settings.envoy_concurrency,
            binary=settings.envoy_binary,
        )
        self.registrar: Registrar | None = None
        if spec.service is not None:
            discovery = list(settings.discovery_servers)
            for target in discovery:
                parse_server_address(target, option="--discovery")
            deadline = settings.registration_timeout_seconds
            self.registrar = Registrar(discovery, gateway_workload(spec), first_deadline=deadline)
        self._stop_signal: int | None = None
        self._stop_event = asyncio.Event()

    def _on_signal(self, signum: int) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum
            log.info("stop signal received", signal=signal.Signals(signum).name)
        self._stop_event.set()

    def port_checks(self) -> list[tuple[str, int, str]]:
        """What :meth:`run` checks before starting Envoy: each listen port, then admin."""
        spec = self.spec
        checks = [(spec.address, p.listen_port, f"--port {p}") for p in spec.ports]
        return [*checks, (spec.admin_address, spec.admin_port, "admin, --admin-port")]

    async def run(self) -> int:
        """Run the gateway until a stop signal (see the class docstring)."""
        with install_signal_handlers(self._on_signal, STOP_SIGNALS):
            supervision: asyncio.Task[None] | None = None
            registration: asyncio.Task[None] | None = None
            try:
                check_ports_free(self.port_checks())
                if not await self._unless_stopped(self.proxy.start()):
                    assert self._stop_signal is not None
                    log.info("stopped before the gateway was ready")
                    return 128 + self._stop_signal
                supervision = asyncio.create_task(self.proxy.supervise(), name="gateway-proxy")
                if self.registrar is not None:
                    registration = self.registrar.start()
                    if not await self._unless_stopped(
                        registered_or_failed(self.registrar, registration)
                    ):
                        assert self._stop_signal is not None
                        return 128 + self._stop_signal
                log.info("gateway ready", gateway=self.spec.gateway_id,
                         ports=[str(p) for p in self.spec.ports], service=self.spec.service,
                         admin=f"{self.spec.admin_address}:{self.spec.admin_port}")  # fmt: skip
                await self._until_stopped(registration)
                return 0
            finally:
                if self.registrar is not None and registration is not None:
                    await self.registrar.stop(deregister=True, timeout=DEREGISTER_TIMEOUT)
                if supervision is not None:
                    supervision.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await supervision
                grace = min(PROXY_STOP_GRACE, self.settings.shutdown_grace_seconds)
                await self.proxy.stop(grace)

    async def _until_stopped(self, registration: asyncio.Task[None] | None) -> None:
        """Wait for a stop signal; a registration that ends first raises its failure."""
        stop = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({stop, *([registration] if registration else [])},
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            stop.cancel()
        if registration is not None and registration.done() and not self._stop_event.is_set():
            raise_for_registration(registration)
            raise AgentError("the gateway's registration ended")

    async def _unless_stopped(self, step: Awaitable[None]) -> bool:
        """Run a start-up ``step``; ``False`` when a stop signal came first (it is cancelled).
        The step's own failure is raised."""
        task = asyncio.ensure_future(step)
        stop = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return False
        task.result()  # ProxyError when Envoy did not start, RegistrationError, ...
        return True


async def serve_gateway(spec: GatewaySpec, settings: AgentSettings) -> int:
    """Run a :class:`GatewayRunner` for ``spec``; its exit status. Raises
    :class:`AgentError`."""
    with bound_log_context(gateway=spec.gateway_id, address=spec.address):
        return await GatewayRunner(spec, settings).run()


def run_gateway(spec: GatewaySpec, settings: AgentSettings) -> int:
    """The blocking entry of ``mizzen gateway run``: configure logging (to stderr), run
    :func:`serve_gateway` and return the exit status. Raises :class:`AgentError`."""
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    try:
        return asyncio.run(serve_gateway(spec, settings))
    except AgentError:
        raise
    except OSError as exc:  # e.g. the home directory cannot be written
        raise AgentError(f"cannot run the gateway: {exc}") from exc
