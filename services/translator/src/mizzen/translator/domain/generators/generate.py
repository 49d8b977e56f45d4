"""The generators of a proxy's resource sets, and the translation that runs them.

Sidecars get :data:`SIDECAR_GENERATORS`; gateways (router proxies) get
:data:`GATEWAY_GENERATORS`: the sidecars' outbound clusters and endpoints (every service the
gateway may reach, seen through a :class:`~.gateway_servers.GatewayView`) and their own
listeners and route configurations. Proxyless gRPC clients get
:data:`PROXYLESS_GENERATORS` (see :mod:`.proxyless`): clusters, endpoints, route
configurations and ``api_listener`` listeners in the forms gRPC reads.

Each :class:`Generator` builds one resource set from a :class:`ProxyView` and declares:

- ``inputs``: the config kinds and registry parts whose change can change its output (a
  translation may reuse a set from the previous one when none of them changed);
- ``set_id``: the set's name, built from exactly the proxy inputs that can change its
  content, so that classes with equal inputs share the set (see :mod:`.view` for scopes).

:class:`MeshTranslation` translates one (config, registry) pair for any number of proxy
classes and builds each set id once; :func:`generate` is the one-class shortcut.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from google.protobuf.message import Message

from mizzen.envoy import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    make_resource,
)
from mizzen.registry import Registry
from mizzen.snapshots import ProxyClass, ProxyType
from mizzen.translator.domain.generators.clusters import (
    ClusterKind,
    dns_clusters,
    inbound_clusters,
    outbound_cluster_specs,
    outbound_clusters,
    special_clusters,
)
from mizzen.translator.domain.generators.endpoints import load_assignment, select_endpoints
from mizzen.translator.domain.generators.errors import GeneratorError
from mizzen.translator.domain.generators.gateway_listeners import gateway_listeners
from mizzen.translator.domain.generators.gateway_routes import gateway_route_configurations
from mizzen.translator.domain.generators.gateway_servers import GatewayView, as_gateway_view
from mizzen.translator.domain.generators.listeners import capture_listeners, local_listeners
from mizzen.translator.domain.generators.locality import balancing_for
from mizzen.translator.domain.generators.model import GeneratedClass, GeneratedSet, short_hash
from mizzen.translator.domain.generators.proxyless import (
    proxyless_clusters,
    proxyless_listeners,
    proxyless_load_assignments,
    proxyless_route_configurations,
)
from mizzen.translator.domain.generators.routes import (
    capture_route_configurations,
    local_route_configuration,
)
from mizzen.translator.domain.generators.vhosts import VirtualHostCache
from mizzen.translator.domain.generators.view import MeshIndex, ProxyView
from mizzen.translator.domain.mesh_config import MeshConfig

__all__ = [
    "GATEWAY_GENERATORS",
    "PROXYLESS_GENERATORS",
    "SIDECAR_GENERATORS",
    "Generator",
    "Input",
    "MeshTranslation",
    "generate",
]


class Input(enum.StrEnum):
    """What a generator's output can depend on, besides the proxy class itself.

    ServiceEntries reach the generators through the registry (discovery turns them into
    services and endpoints), so no generator declares that kind; Gateways only matter to
    the gateway generators."""

    VIRTUAL_SERVICE = "VirtualService"
    DESTINATION_RULE = "DestinationRule"
    SERVICE_ENTRY = "ServiceEntry"
    SIDECAR = "Sidecar"
    GATEWAY = "Gateway"
    SERVICES = "services"
    """Registry services (hostnames, ports, protocols, addresses, exportTo)."""
    ENDPOINTS = "endpoints"
    """Registry endpoints."""


ALL_INPUTS = frozenset(Input)


@dataclass(frozen=True, slots=True)
class Generator:
    """One resource set of a proxy class.

    ``applies`` says whether the class gets the set at all; ``set_id`` names it;
    ``build`` yields its resources (Envoy messages, each named). All three are pure
    functions of the view; ``build`` reads only what ``inputs`` declares (plus the proxy).
    """

    name: str
    type_url: str
    inputs: frozenset[Input]
    set_id: Callable[[ProxyView], str]
    build: Callable[[ProxyView], Iterable[Message]]
    applies: Callable[[ProxyView], bool] = lambda view: True


def _endpoints(view: ProxyView) -> Iterator[Message]:
    for spec in outbound_cluster_specs(view):
        if spec.kind == ClusterKind.EDS:
            selected = select_endpoints(view.registry, spec.service, spec.port, spec.subset_labels)
            yield load_assignment(spec.name, selected, balancing_for(spec.policy, view.place))


def _inbound_key(view: ProxyView) -> str:
    return short_hash([[p.port, p.target_port, p.protocol.value] for p in view.inbound])


def _routes(view: ProxyView) -> Iterable[Message]:
    if view.local_mode:
        return [local_route_configuration(view)]
    return capture_route_configurations(view)


def _listeners(view: ProxyView) -> Iterable[Message]:
    if view.local_mode:
        return local_listeners(view.proxy, view.inbound)
    return capture_listeners(view)


def _listener_set_id(view: ProxyView) -> str:
    proxy = view.proxy
    if view.local_mode:
        return f"lds-local-{short_hash([proxy.local_address, _inbound_key(view)])}"
    own = short_hash([_inbound_key(view), proxy.interception.value])
    return f"lds-capture-{proxy.namespace}-{view.route_scope}-{own}"


_OUTBOUND = frozenset({Input.SERVICES, Input.DESTINATION_RULE, Input.SIDECAR})

SIDECAR_GENERATORS: tuple[Generator, ...] = (
    Generator(
        name="cds-outbound",
        type_url=CLUSTER_TYPE,
        inputs=_OUTBOUND,
        set_id=lambda view: f"cds-outbound-{view.outbound_scope}",
        build=outbound_clusters,
    ),
    Generator(
        name="cds-dns",
        type_url=CLUSTER_TYPE,
        inputs=_OUTBOUND | {Input.ENDPOINTS},
        set_id=lambda view: f"cds-dns-{view.outbound_scope}{view.endpoint_scope}",
        build=dns_clusters,
    ),
    Generator(
        name="cds-special",
        type_url=CLUSTER_TYPE,
        inputs=frozenset(),
        set_id=lambda view: f"cds-special-{view.mode}",
        build=lambda view: special_clusters(view.local_mode),
    ),
    Generator(
        name="cds-inbound",
        type_url=CLUSTER_TYPE,
        inputs=frozenset(),
        set_id=lambda view: f"cds-inbound-{_inbound_key(view)}",
        build=lambda view: inbound_clusters(view.inbound),
        applies=lambda view: bool(view.inbound),
    ),
    Generator(
        name="eds",
        type_url=ENDPOINT_TYPE,
        inputs=_OUTBOUND | {Input.ENDPOINTS},
        set_id=lambda view: f"eds-{view.outbound_scope}{view.endpoint_scope}",
        build=_endpoints,
    ),
    Generator(
        name="rds",
        type_url=ROUTE_TYPE,
        inputs=_OUTBOUND | {Input.VIRTUAL_SERVICE},
        set_id=lambda view: f"rds-{view.mode}-{view.proxy.namespace}-{view.route_scope}",
        build=_routes,
    ),
    Generator(
        name="lds",
        type_url=LISTENER_TYPE,
        inputs=frozenset({Input.SERVICES, Input.VIRTUAL_SERVICE, Input.SIDECAR}),
        set_id=_listener_set_id,
        build=_listeners,
    ),
)
"""The generators of a sidecar, in push order of their types."""


def _gateway_set_id(view: ProxyView, kind: str, *, listeners: bool) -> str:
    """A gateway set's id: the Gateways that select the router, the router's declared
    ports and namespace, the route scope (services, DestinationRules, ``sourceLabels``
    matches) and, for listeners, where it listens."""
    gateway = as_gateway_view(view)
    proxy = view.proxy
    inputs: list[object] = [gateway.gateway_ids, gateway.ports_key, proxy.namespace,
                            view.route_scope]  # fmt: skip
    if listeners:
        inputs += [proxy.interception.value, proxy.local_address]
    return f"{kind}-gateway-{short_hash(inputs)}"


_GATEWAY_ROUTES = frozenset(
    {Input.GATEWAY, Input.VIRTUAL_SERVICE, Input.SERVICES, Input.DESTINATION_RULE}
)

GATEWAY_GENERATORS: tuple[Generator, ...] = (
    *(g for g in SIDECAR_GENERATORS if g.name in ("cds-outbound", "cds-dns", "eds")),
    Generator(
        name="gateway-rds",
        type_url=ROUTE_TYPE,
        inputs=_GATEWAY_ROUTES,
        set_id=lambda view: _gateway_set_id(view, "rds", listeners=False),
        build=gateway_route_configurations,
    ),
    Generator(
        name="gateway-lds",
        type_url=LISTENER_TYPE,
        inputs=frozenset({Input.GATEWAY, Input.VIRTUAL_SERVICE, Input.SERVICES}),
        set_id=lambda view: _gateway_set_id(view, "lds", listeners=True),
        build=gateway_listeners,
    ),
)
"""The generators of a gateway (router proxy), in push order of their types."""

PROXYLESS_GENERATORS: tuple[Generator, ...] = (
    Generator(
        name="proxyless-cds",
        type_url=CLUSTER_TYPE,
        inputs=_OUTBOUND,
        set_id=lambda view: f"cds-proxyless-{view.outbound_scope}",
        build=proxyless_clusters,
    ),
    Generator(
        name="proxyless-eds",
        type_url=ENDPOINT_TYPE,
        inputs=_OUTBOUND | {Input.ENDPOINTS},
        set_id=lambda view: f"eds-proxyless-{view.outbound_scope}",
        build=proxyless_load_assignments,
    ),
    Generator(
        name="proxyless-rds",
        type_url=ROUTE_TYPE,
        inputs=_OUTBOUND | {Input.VIRTUAL_SERVICE},
        set_id=lambda view: f"rds-proxyless-{view.proxy.namespace}-{view.route_scope}",
        build=proxyless_route_configurations,
    ),
    Generator(
        name="proxyless-lds",
        type_url=LISTENER_TYPE,
        # Listener names depend on the proxy's namespace (short forms) and on visibility.
        inputs=frozenset({Input.SERVICES, Input.SIDECAR}),
        set_id=lambda view: f"lds-proxyless-{view.proxy.namespace}-{view.outbound_scope}",
        build=proxyless_listeners,
    ),
)
"""The generators of a proxyless gRPC client, in push order of their types."""

_ALL_GENERATORS = {
    g.name: g for g in (*SIDECAR_GENERATORS, *GATEWAY_GENERATORS, *PROXYLESS_GENERATORS)
}


def _build_set(generator: Generator, view: ProxyView, set_id: str) -> GeneratedSet:
    try:
        resources = [make_resource(message) for message in generator.build(view)]
    except GeneratorError as exc:
        if exc.generator:
            raise
        raise GeneratorError(generator.name, exc.reason, resource=exc.resource) from exc
    except Exception as exc:  # any failure inside a generator is reported with its name
        raise GeneratorError(generator.name, f"{type(exc).__name__}: {exc}") from exc
    resources.sort(key=lambda r: r.name)
    for first, second in itertools.pairwise(resources):
        if first.name == second.name:
            raise GeneratorError(generator.name, f"two resources named {first.name!r}")
    return GeneratedSet(set_id, generator.type_url, tuple(resources))


class MeshTranslation:
    """The translation of one (config, registry) pair, for any number of proxy classes.

    A set id names everything its content depends on, so within one translation each set is
    built once, whatever number of classes share it. ``previous`` with ``changed`` (the
    inputs that differ between the previous translation's config and registry and these)
    lets sets whose generator reads none of ``changed`` be reused without rebuilding.
    Not thread-safe (one event loop); the results are immutable.
    """

    def __init__(
        self,
        config: MeshConfig,
        registry: Registry,
        *,
        previous: MeshTranslation | None = None,
        changed: Iterable[Input] = ALL_INPUTS,
    ) -> None:
        changed_inputs = frozenset(changed)
        earlier: VirtualHostCache | None = previous.index.vhosts if previous is not None else None
        self.index: MeshIndex = MeshIndex(
            config, registry, VirtualHostCache.carried(earlier, changed_inputs)
        )
        self._reusable: dict[str, tuple[str, GeneratedSet]] = {}
        if previous is not None:
            inputs_of = {name: g.inputs for name, g in _ALL_GENERATORS.items()}
            # What the previous translation built or could have reused: a round that
            # translated only a new class must not make every other class's sets stale.
            candidates = {**previous._reusable, **previous._built}
            self._reusable = {
                set_id: (name, generated)
                for set_id, (name, generated) in candidates.items()
                if not inputs_of[name] & changed_inputs
            }
        self._built: dict[str, tuple[str, GeneratedSet]] = {}
        self._reused: set[str] = set()

    @property
    def built_sets(self) -> int:
        """How many sets this translation built itself (for metrics and tests)."""
        return len(self._built) - len(self._reused)

    @property
    def reused_set_ids(self) -> frozenset[str]:
        """The ids of the sets taken unchanged from the previous translation."""
        return frozenset(self._reused)

    def generate(self, proxy: ProxyClass) -> GeneratedClass:
        """The sets of ``proxy``'s class: a sidecar's, a gateway's (``router``) or a proxyless
        gRPC client's. Raises :class:`GeneratorError` naming the generator that failed."""
        view: ProxyView
        if proxy.proxy_type is ProxyType.SIDECAR:
            view, generators = ProxyView(self.index, proxy), SIDECAR_GENERATORS
        elif proxy.proxy_type is ProxyType.ROUTER:
            view, generators = GatewayView(self.index, proxy), GATEWAY_GENERATORS
        else:  # ProxyType.PROXYLESS
            view, generators = ProxyView(self.index, proxy), PROXYLESS_GENERATORS
        sets: list[GeneratedSet] = []
        for generator in generators:
            if not generator.applies(view):
                continue
            set_id = generator.set_id(view)
            cached = self._built.get(set_id)
            if cached is not None:
                generated = cached[1]
            elif set_id in self._reusable:
                generated = self._reusable[set_id][1]
                self._built[set_id] = (generator.name, generated)
                self._reused.add(set_id)
            else:
                generated = _build_set(generator, view, set_id)
                self._built[set_id] = (generator.name, generated)
            # Empty sets are kept: a class's set ids then do not change when, say, the first
            # DNS service appears, so its stored snapshot does not either.
            sets.append(generated)
        _check_unique_names(sets)
        order = {url: i for i, url in enumerate(PUSH_ORDER)}
        sets.sort(key=lambda s: order.get(s.type_url, len(order)))
        return GeneratedClass(proxy.class_id, tuple(sets))


def _check_unique_names(sets: list[GeneratedSet]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for generated in sets:
        for resource in generated.resources:
            key = (generated.type_url, resource.name)
            other = seen.setdefault(key, generated.set_id)
            if other != generated.set_id:
                raise GeneratorError(
                    "generate", f"{resource.name!r} is in sets {other} and {generated.set_id}"
                )


def generate(config: MeshConfig, registry: Registry, proxy: ProxyClass) -> GeneratedClass:
    """The resource sets of ``proxy``'s class under ``config`` and ``registry`` (pure).

    For many classes of one (config, registry) pair, use one :class:`MeshTranslation`: it
    builds each shared set once."""
    return MeshTranslation(config, registry).generate(proxy)
