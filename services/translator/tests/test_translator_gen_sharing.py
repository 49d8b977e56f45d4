"""Set ids and hashes: stable for equal inputs, shared between classes whose inputs to a set
are equal, and never shared between classes that would see different content."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from types import MappingProxyType

import pytest
import yaml

from mizzen.api import Resource, parse_document
from mizzen.registry import Endpoint, Registry, frozen_map
from mizzen.snapshots import InboundPort, Interception, ProxyClass, ProxyType
from mizzen.translator.domain.generators import (
    GeneratedClass,
    Input,
    MeshTranslation,
    Scenario,
    generate,
    load_scenario,
)
from mizzen.translator.domain.mesh_config import MeshConfig

MESH = """
services:
  - {hostname: reviews.default.svc.cluster.local, namespace: default, ports: [{number: 9080,
     protocol: HTTP, name: http}]}
  - {hostname: ratings.default.svc.cluster.local, namespace: default, ports: [{number: 9080,
     protocol: HTTP, name: http}]}
  - {hostname: db.default.svc.cluster.local, namespace: default, ports: [{number: 5432,
     protocol: TCP, name: tcp}]}
  - {hostname: api.example.com, namespace: default, ports: [{number: 443, protocol: TLS,
     name: tls}], resolution: DNS}
endpoints:
  - {service: reviews.default.svc.cluster.local, namespace: default, workload: reviews-v1,
     address: 127.0.2.1, ports: {"9080": 9080}, labels: {version: v1}}
  - {service: reviews.default.svc.cluster.local, namespace: default, workload: reviews-v2,
     address: 127.0.2.2, ports: {"9080": 9080}, labels: {version: v2}}
  - {service: ratings.default.svc.cluster.local, namespace: default, workload: ratings,
     address: 127.0.3.1, ports: {"9080": 9080}}
config:
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews}
    spec:
      host: reviews
      subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
        - route:
            - {destination: {host: reviews, subset: v1}, weight: 90}
            - {destination: {host: reviews, subset: v2}, weight: 10}
"""


@pytest.fixture(scope="module")
def mesh() -> Scenario:
    return load_scenario(MESH, "sharing")


def _proxy(**changes: object) -> ProxyClass:
    base = ProxyClass(
        ProxyType.SIDECAR,
        "default",
        labels=frozen_map({"app": "productpage"}),
        local_address="127.0.1.5",
        inbound=(InboundPort(9080, 19080),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # test-only kwargs


def _summary(generated: GeneratedClass) -> dict[str, Mapping[str, str]]:
    return {s.set_id: s.entries for s in generated.sets}


def _changed_sets(before: GeneratedClass, after: GeneratedClass) -> list[str]:
    assert [s.set_id for s in before.sets] == [s.set_id for s in after.sets]
    return [
        b.set_id for b, a in zip(before.sets, after.sets, strict=True) if b.entries != a.entries
    ]


def _generator_of(set_id: str) -> str:
    prefixes = ("cds-outbound", "cds-dns", "cds-special", "cds-inbound", "eds", "rds", "lds")
    return next(p for p in prefixes if set_id.startswith(p + "-"))


def _with_endpoint(registry: Registry, host: str, endpoint: Endpoint) -> Registry:
    endpoints = dict(registry.endpoints)
    endpoints[host] = tuple(sorted((*endpoints.get(host, ()), endpoint),
                                   key=lambda e: e.endpoint_id))  # fmt: skip
    return dataclasses.replace(registry, endpoints=MappingProxyType(endpoints))


def test_equal_inputs_give_equal_set_ids_and_hashes(mesh: Scenario) -> None:
    first = generate(mesh.config, mesh.registry, _proxy())
    again = load_scenario(MESH, "sharing")  # parsed anew: equal values, new objects
    second = generate(again.config, again.registry, _proxy())
    assert _summary(first) == _summary(second)
    assert [r.body for r in first.resources()] == [r.body for r in second.resources()]


def test_an_unrelated_endpoint_changes_only_the_endpoint_set(mesh: Scenario) -> None:
    before = generate(mesh.config, mesh.registry, _proxy())
    extra = Endpoint(
        "ratings.default.svc.cluster.local", "default", "ratings-2", "127.0.3.2", {9080: 9080}
    )
    registry = _with_endpoint(mesh.registry, extra.service, extra)
    after = generate(mesh.config, registry, _proxy())
    assert [s.set_id for s in before.sets] == [s.set_id for s in after.sets]
    changed = _changed_sets(before, after)
    assert len(changed) == 1, changed
    assert changed[0].startswith("eds-"), changed
    eds_before = next(s for s in before.sets if s.set_id.startswith("eds-")).entries
    eds_after = next(s for s in after.sets if s.set_id.startswith("eds-")).entries
    different = {name for name in eds_before if eds_before[name] != eds_after[name]}
    assert different == {"outbound|9080||ratings.default.svc.cluster.local"}


def test_a_virtual_service_change_changes_only_routes(mesh: Scenario) -> None:
    before = generate(mesh.config, mesh.registry, _proxy())
    resources = [
        vs.model_copy(update={"spec": vs.spec.model_copy(update={"http": vs.spec.http[:0]})})
        if vs.kind == "VirtualService" and vs.spec.http
        else vs
        for vs in mesh.config.virtual_services
    ]
    config = MeshConfig.from_resources([*resources, *mesh.config.destination_rules])
    after = generate(config, mesh.registry, _proxy())
    changed = _changed_sets(before, after)
    assert len(changed) == 1, changed
    assert changed[0].startswith("rds-"), changed


def test_classes_differing_only_in_local_address_share_all_but_listeners(mesh: Scenario) -> None:
    one = generate(mesh.config, mesh.registry, _proxy(local_address="127.0.1.5"))
    two = generate(mesh.config, mesh.registry, _proxy(local_address="127.0.1.6"))
    assert one.class_id != two.class_id
    ids_one = {s.set_id: s for s in one.sets}
    ids_two = {s.set_id: s for s in two.sets}
    not_shared = set(ids_one) ^ set(ids_two)
    assert not_shared, "the listeners bind different addresses"
    assert all(i.startswith("lds-") for i in not_shared), not_shared
    for set_id in set(ids_one) & set(ids_two):
        assert ids_one[set_id].entries == ids_two[set_id].entries, set_id


def test_namespaces_share_clusters_and_endpoints_but_not_routes(mesh: Scenario) -> None:
    default = generate(mesh.config, mesh.registry, _proxy())
    shop = generate(mesh.config, mesh.registry, _proxy(namespace="shop"))
    shared = {s.set_id for s in default.sets} & {s.set_id for s in shop.sets}
    kinds = {set_id.split("-")[0] for set_id in shared}
    # Local listeners depend on the address and ports only (equal here, unlike in life).
    assert kinds == {"cds", "eds", "lds"}, shared
    # Short names differ: `reviews:9080` belongs to the default namespace's proxies only.
    rds_default = next(s for s in default.sets if s.set_id.startswith("rds-"))
    rds_shop = next(s for s in shop.sets if s.set_id.startswith("rds-"))
    assert rds_default.entries != rds_shop.entries


def test_local_and_capture_modes_share_outbound_clusters(mesh: Scenario) -> None:
    local = generate(mesh.config, mesh.registry, _proxy())
    capture = generate(
        mesh.config,
        mesh.registry,
        _proxy(interception=Interception.REDIRECT, local_address=""),
    )
    local_ids = {s.set_id for s in local.sets}
    capture_ids = {s.set_id for s in capture.sets}
    assert {i for i in local_ids & capture_ids if i.startswith(("cds-outbound", "eds"))}
    assert not {i for i in local_ids & capture_ids if i.startswith(("rds", "lds", "cds-special"))}


# A mesh where visibility depends on the proxy: restricted exportTo, a Sidecar for one
# namespace, DestinationRules for one host in two namespaces, a workload-selected rule and
# sourceLabels. Every pair of classes that gets one set id must get equal content.
TRICKY = """
services:
  - {hostname: reviews.bookinfo.svc.cluster.local, namespace: bookinfo, ports: [{number: 9080,
     protocol: HTTP, name: http}]}
  - {hostname: private.bookinfo.svc.cluster.local, namespace: bookinfo, ports: [{number: 8080,
     protocol: HTTP, name: http}], exportTo: ["."]}
  - {hostname: cart.shop.svc.cluster.local, namespace: shop, ports: [{number: 8080,
     protocol: HTTP, name: http}]}
endpoints:
  - {service: reviews.bookinfo.svc.cluster.local, namespace: bookinfo, workload: r1,
     address: 127.0.2.1, ports: {"9080": 9080}, labels: {version: v1}}
config:
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews, namespace: bookinfo}
    spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews-shop, namespace: shop}
    spec: {host: reviews.bookinfo.svc.cluster.local,
       trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews-canary, namespace: bookinfo}
    spec:
      host: reviews
      workloadSelector: {matchLabels: {track: canary}}
      trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
  - apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata: {name: default, namespace: shop}
    spec:
      egress: [{hosts: ["./*"]}]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      hosts: [reviews]
      http:
        - match: [{sourceLabels: {app: ratings}}]
          route: [{destination: {host: reviews}}]
          timeout: 1s
        - route: [{destination: {host: reviews}}]
"""


def test_one_set_id_never_holds_two_contents() -> None:
    tricky = load_scenario(TRICKY, "tricky")
    classes = [
        _proxy(
            namespace=namespace,
            labels=frozen_map(labels),
            interception=mode,
            local_address=address if mode is Interception.NONE else "",
        )
        for namespace in ("bookinfo", "shop", "other", "istio-system")
        for labels in ({"app": "a"}, {"app": "ratings"}, {"app": "a", "track": "canary"})
        for mode in (Interception.NONE, Interception.REDIRECT)
        for address in ("127.0.1.5",)
    ]
    contents: dict[str, Mapping[str, str]] = {}
    for proxy in classes:
        # Separate generate() calls: nothing cached between classes.
        for generated in generate(tricky.config, tricky.registry, proxy).sets:
            seen = contents.setdefault(generated.set_id, generated.entries)
            assert seen == generated.entries, f"{generated.set_id} differs for {proxy}"
    # The mesh does make classes differ: more than one outbound scope exists.
    assert len({i for i in contents if i.startswith("cds-outbound")}) > 1


def test_translation_builds_each_shared_set_once(mesh: Scenario) -> None:
    translation = MeshTranslation(mesh.config, mesh.registry)
    classes = [_proxy(local_address=f"127.0.1.{i}") for i in range(5, 10)]
    generated = [translation.generate(proxy) for proxy in classes]
    per_class = len(generated[0].sets)
    # Every class has its own listeners; everything else is built once.
    assert translation.built_sets == (per_class - 1) + len(classes)
    for proxy, result in zip(classes, generated, strict=True):
        assert _summary(result) == _summary(generate(mesh.config, mesh.registry, proxy))


@pytest.mark.parametrize(
    ("changed", "rebuilt_prefixes"),
    [
        ({Input.ENDPOINTS}, {"eds", "cds-dns"}),
        ({Input.VIRTUAL_SERVICE}, {"rds", "lds"}),
        # Special and inbound clusters depend on the proxy class alone.
        (set(Input), {"cds-outbound", "cds-dns", "eds", "rds", "lds"}),
    ],
)
def test_translation_reuses_sets_whose_inputs_did_not_change(
    mesh: Scenario, changed: set[Input], rebuilt_prefixes: set[str]
) -> None:
    previous = MeshTranslation(mesh.config, mesh.registry)
    previous.generate(_proxy())
    extra = Endpoint("api.example.com", "default", "api-1", "1.2.3.4", {443: 443})
    registry = _with_endpoint(mesh.registry, extra.service, extra)
    translation = MeshTranslation(mesh.config, registry, previous=previous, changed=changed)
    result = translation.generate(_proxy())
    rebuilt = {s.set_id for s in result.sets} - translation.reused_set_ids
    assert {_generator_of(set_id) for set_id in rebuilt} == rebuilt_prefixes
    assert translation.built_sets == len(rebuilt)
    if Input.ENDPOINTS in changed:
        # What was rebuilt is exactly what a fresh translation gives.
        assert _summary(result) == _summary(generate(mesh.config, registry, _proxy()))


def test_router_proxies_share_outbound_sets_with_sidecars(mesh: Scenario) -> None:
    # A gateway no Gateway selects still gets every outbound cluster and endpoint, in the
    # very sets sidecars of the same scope get, and no listener or route.
    router = _proxy(proxy_type=ProxyType.ROUTER, namespace="istio-system", inbound=())
    translation = MeshTranslation(mesh.config, mesh.registry)
    generated = translation.generate(router)
    assert generated.class_id == router.class_id
    sidecar = {s.set_id for s in translation.generate(_proxy()).sets}
    shared = {s.set_id for s in generated.sets if s.set_id in sidecar}
    assert {_generator_of(set_id) for set_id in shared} == {"cds-outbound", "cds-dns", "eds"}
    assert all(not s.resources for s in generated.sets if s.set_id not in shared)


def test_pairs_of_distinct_local_addresses_never_share_listeners(mesh: Scenario) -> None:
    addresses = [f"127.0.1.{i}" for i in range(5, 9)]
    listener_sets = {
        address: next(
            s.set_id
            for s in generate(mesh.config, mesh.registry, _proxy(local_address=address)).sets
            if s.set_id.startswith("lds-")
        )
        for address in addresses
    }
    for a, b in itertools.combinations(addresses, 2):
        assert listener_sets[a] != listener_sets[b]


def _vs(name: str, spec: str) -> Resource:
    document = yaml.safe_load(
        f"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}}}\n"
        f"spec: {spec}"
    )
    return parse_document(document, "test")


# Each step replaces the VirtualServices (DestinationRules and the registry stay).
TO_V2 = "{hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v2}}]}]}"
ABORT = ("{hosts: [ratings], http: [{fault: {abort: {httpStatus: 500, percentage: {value: 50}}},"
         " route: [{destination: {host: ratings}}]}]}")  # fmt: skip
TIMEOUT = "{hosts: [ratings], http: [{timeout: 2s, route: [{destination: {host: ratings}}]}]}"
WILDCARD = ("{hosts: ['*.default.svc.cluster.local'], http: [{route: [{destination: "
            "{host: reviews, subset: v1}}]}]}")  # fmt: skip
BY_SOURCE = ("{hosts: [reviews], http: [{match: [{sourceLabels: {app: productpage}}], route: "
             "[{destination: {host: reviews, subset: v1}}]}, {route: [{destination: "
             "{host: reviews, subset: v2}}]}]}")  # fmt: skip
VS_STEPS: list[dict[str, str]] = [
    {"reviews": TO_V2},
    {"reviews": TO_V2, "ratings": ABORT},
    # A wildcard VirtualService now routes every host no exact one claims.
    {"ratings": TIMEOUT, "catch": WILDCARD},
    # sourceLabels: only proxies labelled app=productpage get this match.
    {"reviews": BY_SOURCE},
    {},  # every VirtualService deleted
]


def test_virtual_service_changes_reuse_other_virtual_hosts_and_equal_a_fresh_translation(
    mesh: Scenario,
) -> None:
    others = [r for r in mesh.config.destination_rules]
    classes = [
        _proxy(),
        _proxy(interception=Interception.REDIRECT, local_address=""),
        _proxy(
            labels=frozen_map({"app": "other"}),
            interception=Interception.REDIRECT,
            local_address="",
        ),
        _proxy(namespace="shop", local_address="127.0.1.6"),
    ]
    previous = MeshTranslation(mesh.config, mesh.registry)
    for proxy in classes:
        previous.generate(proxy)
    reused = 0
    for step, specs in enumerate(VS_STEPS):
        virtual_services = [_vs(name, spec) for name, spec in specs.items()]
        config = MeshConfig.from_resources([*others, *virtual_services])
        translation = MeshTranslation(config, mesh.registry, previous=previous,
                                      changed={Input.VIRTUAL_SERVICE})  # fmt: skip
        for proxy in classes:
            fresh = generate(config, mesh.registry, proxy)
            assert _summary(translation.generate(proxy)) == _summary(fresh), (step, proxy)
        reused += translation.index.vhosts.reused
        previous = translation
    # Hosts no changed VirtualService routes (db, api.example.com, ...) were copied.
    assert reused > 0

    # Any other input changed: nothing carried over.
    changed = {Input.VIRTUAL_SERVICE, Input.DESTINATION_RULE}
    translation = MeshTranslation(mesh.config, mesh.registry, previous=previous, changed=changed)
    translation.generate(classes[0])
    assert translation.index.vhosts.reused == 0


def test_a_round_for_one_new_class_keeps_the_other_classes_sets_reusable(mesh: Scenario) -> None:
    first = MeshTranslation(mesh.config, mesh.registry)
    first.generate(_proxy())
    only_new = MeshTranslation(mesh.config, mesh.registry, previous=first, changed=set())
    only_new.generate(_proxy(namespace="shop", local_address="127.0.1.6"))
    after = MeshTranslation(mesh.config, mesh.registry, previous=only_new,
                            changed={Input.VIRTUAL_SERVICE})  # fmt: skip
    result = after.generate(_proxy())
    rebuilt = {s.set_id for s in result.sets} - after.reused_set_ids
    assert {_generator_of(set_id) for set_id in rebuilt} == {"rds", "lds"}


def test_a_changed_delegate_rebuilds_the_hosts_that_delegate_to_it(mesh: Scenario) -> None:
    # The root VirtualService stays the very same object; only its delegate changes. The
    # carried virtual host of the root's host must not be reused.
    root = _vs("reviews", "{hosts: [reviews], http: [{delegate: {name: reviews-routes}}]}")
    others = list(mesh.config.destination_rules)
    previous: MeshTranslation | None = None
    for subset in ("v1", "v2", "v1"):
        delegate = _vs("reviews-routes", "{http: [{route: [{destination: "
                       f"{{host: reviews, subset: {subset}}}}}]}}]}}")  # fmt: skip
        config = MeshConfig.from_resources([*others, root, delegate])
        translation = MeshTranslation(config, mesh.registry, previous=previous,
                                      changed={Input.VIRTUAL_SERVICE})  # fmt: skip
        assert _summary(translation.generate(_proxy())) == _summary(
            generate(config, mesh.registry, _proxy())
        ), subset
        previous = translation
