"""What a gateway (router) proxy serves: the Gateways that select it and their servers.

A Gateway applies to a router whose labels carry every label of its ``selector`` (an empty
selector selects every router), in any namespace, as Istio does by default. Gateways are
taken in ``(namespace, name)`` order (Istio uses creation time) and servers in spec order;
when two servers collide, the first one wins, as in Istio's gateway merging.

Each supported server becomes a :class:`BoundServer`:

- its **kind** (:class:`ServerKind`), from the port protocol and TLS mode: plaintext HTTP
  (``HTTP``, ``HTTP2``, ``GRPC``, ``GRPC-WEB``; ``tls.httpsRedirect`` allowed), HTTPS
  terminated here (``HTTPS``, or an HTTP protocol, with mode SIMPLE, MUTUAL or
  OPTIONAL_MUTUAL), TLS passthrough (``HTTPS``/``TLS`` with mode PASSTHROUGH: routed by SNI
  with the VirtualServices' ``tls`` routes), TLS terminated here and then TCP (``TLS`` with a
  terminating mode) and plain TCP (anything else: ``TCP``, ``MONGO``, ``REDIS``...);
- its **listen address**: ``bind`` when set, else the router's ``LOCAL_ADDRESS`` in local
  mode (``INTERCEPTION_MODE: NONE``), else ``0.0.0.0``;
- its **listen port**: the server's port number (the gateway Service's port), mapped to the
  port the router declared for it when the router declared ports (``MIZZEN_INBOUND``
  ``<server port>:<listen port>``, as Istio maps a gateway Service port to its targetPort).
  A router that declares ports serves only those: a local gateway owns just the ports it was
  started with. A router that declares none serves every server port as is.

Not served (each server is skipped, not the whole class): TLS credentials that are not
files (``credentialName(s)``: secrets over SDS come with the security work), mode
ISTIO_MUTUAL and AUTO_PASSTHROUGH, a terminating mode without certificate files, MUTUAL
without ``caCertificates``, ``unix://`` binds; a server whose listen address and port were
claimed by an earlier server of another transport (plaintext HTTP, TLS, TCP), of another
server port, or (plaintext HTTP) of another route name (a ``bind`` equal to the address
another server listens on without one).

Server hosts are ``[namespace/]host``: ``./host`` means the Gateway's namespace, ``*/host`` and
a bare host any namespace; only VirtualServices of an admitted namespace bind to a host.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

from mizzen.api import Gateway, Sidecar, VirtualService
from mizzen.api.networking.gateway import Server, ServerTLSSettings
from mizzen.envoy import RouteName
from mizzen.registry import Service
from mizzen.translator.domain.generators.errors import GeneratorError
from mizzen.translator.domain.generators.model import short_hash
from mizzen.translator.domain.generators.values import labels_match
from mizzen.translator.domain.generators.view import (
    ProxyView,
    exported_to,
    gateway_listed,
)
from mizzen.translator.domain.mesh_config import namespace_of, resource_id

__all__ = [
    "BoundServer",
    "GatewayView",
    "ServerHost",
    "ServerKind",
    "as_gateway_view",
    "host_intersection",
]

WILDCARD_ADDRESS = "0.0.0.0"
_HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB"})
_TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
_TERMINATING_MODES = frozenset({"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"})


class ServerKind(enum.StrEnum):
    """How a server's traffic is handled (see the module docstring)."""

    HTTP = "http"
    HTTPS = "https"
    PASSTHROUGH = "passthrough"
    TLS = "tls"
    TCP = "tcp"

    @property
    def transport(self) -> str:
        """What a listener port speaks; servers of different transports cannot share one."""
        if self is ServerKind.HTTP:
            return "http"
        if self is ServerKind.TCP:
            return "tcp"
        return "tls"

    @property
    def routes_http(self) -> bool:
        """Whether the server's traffic goes through a route configuration."""
        return self in (ServerKind.HTTP, ServerKind.HTTPS)


@dataclass(frozen=True, slots=True)
class ServerHost:
    """One server host: the namespaces whose VirtualServices may bind to it (``*``: any)
    and the host (lower case; ``*`` and ``*.example.com`` wildcards)."""

    namespace: str
    host: str

    @classmethod
    def parse(cls, text: str, gateway_namespace: str) -> ServerHost:
        """``[namespace/]host`` as written in a Gateway of ``gateway_namespace``."""
        scope, slash, host = text.partition("/")
        if not slash:
            return cls("*", text.lower())
        return cls(gateway_namespace if scope == "." else scope, host.lower())

    def admits(self, namespace: str) -> bool:
        """Whether VirtualServices of ``namespace`` may bind to this host."""
        return self.namespace in ("*", namespace)


@dataclass(frozen=True, slots=True)
class BoundServer:
    """A server the router serves, where it listens and how (see the module docstring)."""

    gateway: Gateway
    server: Server
    kind: ServerKind
    hosts: tuple[ServerHost, ...]
    address: str
    listen_port: int
    route_name: str
    """The route configuration of HTTP and HTTPS servers (``""`` for the others)."""

    @property
    def gateway_id(self) -> str:
        """``<namespace>/<name>`` of the Gateway, as VirtualServices name it."""
        return f"{namespace_of(self.gateway)}/{self.gateway.name}"

    @property
    def port(self) -> int:
        """The server's port number (what routes and ``match.port`` refer to)."""
        return self.server.port.number

    @property
    def tls(self) -> ServerTLSSettings | None:
        """The server's TLS settings."""
        return self.server.tls

    @property
    def https_redirect(self) -> bool:
        """Whether plaintext requests are answered with a redirect to https."""
        return bool(self.kind is ServerKind.HTTP and self.tls and self.tls.https_redirect)

    @property
    def sni_names(self) -> list[str]:
        """The server's hosts as TLS server names; empty when one of them is ``*`` (the
        server then takes connections whatever their SNI, or without one)."""
        names = [h.host for h in self.hosts]
        return [] if "*" in names else list(dict.fromkeys(names))


def server_kind(server: Server) -> ServerKind | None:
    """The kind of ``server``, or ``None`` when it is not served (module docstring)."""
    protocol = server.port.protocol.upper()
    tls = server.tls
    if protocol in _HTTP_PROTOCOLS and (tls is None or tls.mode is None):
        return ServerKind.HTTP  # plaintext, perhaps with httpsRedirect
    if protocol not in _HTTP_PROTOCOLS | _TLS_PROTOCOLS:
        return ServerKind.TCP
    if tls is None:
        return None
    if protocol in _TLS_PROTOCOLS and (tls.mode or "PASSTHROUGH") == "PASSTHROUGH":
        return ServerKind.PASSTHROUGH
    if not _credentials_ok(tls):
        return None
    return ServerKind.TLS if protocol == "TLS" else ServerKind.HTTPS


def certificate_files(tls: ServerTLSSettings) -> list[tuple[str, str]]:
    """The (certificate chain, private key) file pairs of a terminating server."""
    if tls.tls_certificates:
        return [(c.server_certificate or "", c.private_key or "") for c in tls.tls_certificates]
    return [(tls.server_certificate or "", tls.private_key or "")]


def _credentials_ok(tls: ServerTLSSettings) -> bool:
    if tls.mode not in _TERMINATING_MODES:
        return False  # ISTIO_MUTUAL, AUTO_PASSTHROUGH: not served yet
    if tls.credential_name or tls.credential_names:
        return False  # secrets over SDS: not served yet
    if not all(cert and key for cert, key in certificate_files(tls)):
        return False
    return tls.mode == "SIMPLE" or bool(tls.ca_certificates)


def _covers(pattern: str, host: str) -> bool:
    if pattern in ("*", host):
        return True
    return pattern.startswith("*") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1


def host_intersection(vs_host: str, server_host: str) -> str | None:
    """The hosts a VirtualService host and a server host have in common, as the more
    specific of the two (``*.example.com`` and ``a.example.com`` give ``a.example.com``), or
    ``None`` when they are disjoint."""
    if _covers(server_host, vs_host):
        return vs_host
    if _covers(vs_host, server_host):
        return server_host
    return None


@dataclass(frozen=True, eq=False)
class GatewayView(ProxyView):
    """A router's view of the mesh: a :class:`ProxyView` (services, DestinationRules and
    their scopes, for the outbound clusters and routes) plus the servers it serves.
    Immutable; cached properties are pure."""

    @cached_property
    def sidecar(self) -> Sidecar | None:
        """Sidecar resources do not apply to gateways (as in Istio)."""
        return None

    def routes_through_passthrough(self, service: Service) -> bool:
        """Never: a gateway reaches every service through the service's own cluster (an
        ORIGINAL_DST one for resolution NONE, which Istio's gateways cannot use either)."""
        return False

    @cached_property
    def gateways(self) -> tuple[Gateway, ...]:
        """The Gateways selecting this router, by namespace and name."""
        return tuple(
            g for g in self.config.gateways if labels_match(g.spec.selector, self.proxy.labels)
        )

    @cached_property
    def gateway_ids(self) -> tuple[str, ...]:
        """Their ids (``Gateway/<namespace>/<name>``): part of this router's set ids."""
        return tuple(resource_id(g) for g in self.gateways)

    @cached_property
    def ports_key(self) -> str:
        """Names the router's declared ports (part of its set ids)."""
        return short_hash([[p.port, p.target_port] for p in self.inbound])

    def _listen_address(self, server: Server) -> str:
        if server.bind:
            return server.bind
        if not self.local_mode:
            return WILDCARD_ADDRESS
        if not self.proxy.local_address:
            raise GeneratorError("", "local interception needs the router's LOCAL_ADDRESS")
        return self.proxy.local_address

    def _bound(self, gateway: Gateway, server: Server) -> BoundServer | None:
        kind = server_kind(server)
        if kind is None or (server.bind or "").startswith("unix://"):
            return None
        declared = {p.port: p.target_port for p in self.inbound}
        if declared and server.port.number not in declared:
            return None
        listen_port = declared.get(server.port.number, server.port.number)
        bind = server.bind or ""
        route_name = ""
        if kind is ServerKind.HTTP:
            route_name = str(RouteName.gateway_http(server.port.number, bind))
        elif kind is ServerKind.HTTPS:
            route_name = str(
                RouteName.gateway_https(
                    server.port.number, server.port.name, gateway.name,
                    namespace_of(gateway), bind,
                )
            )  # fmt: skip
        hosts = tuple(ServerHost.parse(h, namespace_of(gateway)) for h in server.hosts)
        address = self._listen_address(server)
        return BoundServer(gateway, server, kind, hosts, address, listen_port, route_name)

    @cached_property
    def servers(self) -> tuple[BoundServer, ...]:
        """The servers this router serves, in order (see the module docstring)."""
        claimed: dict[tuple[str, int], tuple[str, int, str]] = {}
        served: list[BoundServer] = []
        for gateway in self.gateways:
            for server in gateway.spec.servers or ():
                bound = self._bound(gateway, server)
                if bound is None:
                    continue
                # Plaintext HTTP servers share one connection manager, so one route name.
                shared = bound.route_name if bound.kind is ServerKind.HTTP else ""
                owner = (bound.kind.transport, bound.port, shared)
                if claimed.setdefault((bound.address, bound.listen_port), owner) != owner:
                    continue  # the listener belongs to an earlier server
                served.append(bound)
        return tuple(served)

    @cached_property
    def listener_groups(self) -> Mapping[tuple[str, int], tuple[BoundServer, ...]]:
        """The servers of each listen (address, port), in order of first appearance."""
        groups: dict[tuple[str, int], list[BoundServer]] = {}
        for bound in self.servers:
            groups.setdefault((bound.address, bound.listen_port), []).append(bound)
        return MappingProxyType({key: tuple(values) for key, values in groups.items()})

    @cached_property
    def servers_by_route(self) -> Mapping[str, tuple[BoundServer, ...]]:
        """The HTTP and HTTPS servers of each route configuration name, by name."""
        routes: dict[str, list[BoundServer]] = {}
        for bound in self.servers:
            if bound.route_name:
                routes.setdefault(bound.route_name, []).append(bound)
        return MappingProxyType({name: tuple(routes[name]) for name in sorted(routes)})

    def bound_virtual_services(
        self, bound: BoundServer
    ) -> Iterator[tuple[VirtualService, list[str]]]:
        """The VirtualServices bound to ``bound``'s Gateway (in ``spec.gateways`` or in a
        match's ``gateways``) and visible to this router (``exportTo``), each with the hosts
        it shares with the server's hosts admitting its namespace; those sharing none are
        left out."""
        for vs in self.config.virtual_services:
            namespace = namespace_of(vs)
            if not exported_to(vs.spec.export_to, namespace, self.proxy.namespace):
                continue
            if not _binds(vs, bound.gateway_id):
                continue
            exposed = [h.host for h in bound.hosts if h.admits(namespace)]
            hosts: list[str] = []
            for written in vs.spec.hosts or ():
                vs_host = self.config.resolve(written, vs)
                for server_host in exposed:
                    common = host_intersection(vs_host, server_host)
                    if common is not None and common not in hosts:
                        hosts.append(common)
            if hosts:
                yield vs, hosts


def _binds(vs: VirtualService, gateway: str) -> bool:
    namespace = namespace_of(vs)
    spec = vs.spec
    if gateway_listed(spec.gateways, namespace, gateway):
        return True
    matches = [m.gateways for route in spec.http or () for m in route.match or ()]
    matches += [m.gateways for route in spec.tcp or () for m in route.match or ()]
    matches += [m.gateways for route in spec.tls or () for m in route.match]
    return any(gateway_listed(listed, namespace, gateway) for listed in matches)


def as_gateway_view(view: ProxyView) -> GatewayView:
    """``view`` as the :class:`GatewayView` the translation builds for routers (a gateway
    generator given any other view is a programming error)."""
    if not isinstance(view, GatewayView):
        raise GeneratorError("", "a gateway generator needs a router's GatewayView")
    return view
