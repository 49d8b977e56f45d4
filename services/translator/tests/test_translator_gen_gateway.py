"""Gateway (router) classes beyond their golden files: set sharing between routers and with
sidecars, reuse across translations, references to Gateways, and errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mizzen.envoy import LISTENER_TYPE, ROUTE_TYPE, decode
from mizzen.registry import frozen_map
from mizzen.snapshots import InboundPort, ProxyClass, ProxyType
from mizzen.translator.domain.generators import (
    GeneratorError,
    Input,
    MeshTranslation,
    Scenario,
    generate,
    load_scenario,
)
from mizzen.translator.domain.generators.gateway_servers import host_intersection
from mizzen.translator.domain.generators.view import gateway_key, gateway_listed
from mizzen.translator.domain.mesh_config import MeshConfig

MESH = """
services:
  - {hostname: echo.default.svc.cluster.local, namespace: default, ports: [{number: 9080,
     protocol: HTTP, name: http}]}
endpoints:
  - {service: echo.default.svc.cluster.local, namespace: default, workload: echo-v1,
     address: 127.1.0.2, ports: {"9080": 9080}, labels: {version: v1}}
config:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: ingress, namespace: istio-system}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 8080, name: http, protocol: HTTP}
        hosts: ["*"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: echo}
    spec:
      hosts: [echo.example.com]
      gateways: [istio-system/ingress]
      http:
      - route:
        - destination: {host: echo}
"""


@pytest.fixture(scope="module")
def mesh() -> Scenario:
    return load_scenario(MESH, "gateway")


def _router(**changes: object) -> ProxyClass:
    base = ProxyClass(
        ProxyType.ROUTER,
        "istio-system",
        labels=frozen_map({"istio": "ingressgateway"}),
        local_address="127.0.0.1",
        inbound=(InboundPort(8080, 8080),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # test-only kwargs


def _set_ids(translation: MeshTranslation, proxy: ProxyClass) -> dict[str, str]:
    return {s.set_id.split("-")[0] + ("-gw" if "gateway" in s.set_id else ""): s.set_id
            for s in translation.generate(proxy).sets}  # fmt: skip


def test_routers_at_two_addresses_share_everything_but_listeners(mesh: Scenario) -> None:
    translation = MeshTranslation(mesh.config, mesh.registry)
    first = translation.generate(_router())
    other = translation.generate(_router(local_address="127.0.0.2"))
    assert first.class_id != other.class_id
    differing = {a.set_id for a, b in zip(first.sets, other.sets, strict=True)
                 if a.set_id != b.set_id}  # fmt: skip
    assert len(differing) == 1
    assert next(iter(differing)).startswith("lds-gateway-")
    (listener,) = other.of_type(LISTENER_TYPE)
    assert listener.name == "127.0.0.2_8080"


def test_a_router_a_gateway_does_not_select_gets_no_listener(mesh: Scenario) -> None:
    generated = generate(mesh.config, mesh.registry, _router(labels=frozen_map({"app": "x"})))
    assert generated.of_type(LISTENER_TYPE) == ()
    assert generated.of_type(ROUTE_TYPE) == ()


def test_undeclared_ports_are_not_served_and_declared_ones_are_mapped(mesh: Scenario) -> None:
    unserved = generate(mesh.config, mesh.registry, _router(inbound=(InboundPort(9999, 9999),)))
    assert unserved.of_type(LISTENER_TYPE) == ()
    mapped = generate(mesh.config, mesh.registry, _router(inbound=(InboundPort(8080, 18080),)))
    (listener,) = mapped.of_type(LISTENER_TYPE)
    assert listener.name == "127.0.0.1_18080"
    (routes,) = mapped.of_type(ROUTE_TYPE)
    config = decode(routes)
    assert routes.name == "http.8080"
    assert [host.name for host in config.virtual_hosts] == ["echo.example.com:8080"]  # type: ignore[attr-defined]  # a decoded RouteConfiguration


def test_a_gateway_change_rebuilds_only_gateway_sets(mesh: Scenario) -> None:
    previous = MeshTranslation(mesh.config, mesh.registry)
    before = _set_ids(previous, _router())
    text = MESH.replace('hosts: ["*"]', 'hosts: ["*.example.com"]')
    changed = load_scenario(text, "gateway").config
    translation = MeshTranslation(changed, mesh.registry, previous=previous,
                                  changed={Input.GATEWAY})  # fmt: skip
    after = _set_ids(translation, _router())
    rebuilt = {key for key, set_id in after.items() if set_id not in translation.reused_set_ids}
    assert rebuilt == {"lds-gw", "rds-gw"}
    assert before["cds"] == after["cds"]
    assert before["eds"] == after["eds"]


def test_sidecars_ignore_gateway_only_virtual_services(mesh: Scenario) -> None:
    sidecar = ProxyClass(ProxyType.SIDECAR, "default", local_address="127.1.0.9")
    without = MeshConfig.from_resources(
        [*mesh.config.gateways, *(v for v in mesh.config.virtual_services if v.name != "echo")]
    )
    assert generate(mesh.config, mesh.registry, sidecar) == generate(
        without, mesh.registry, sidecar
    )


def test_local_mode_without_an_address_names_the_generator(mesh: Scenario) -> None:
    with pytest.raises(GeneratorError, match="LOCAL_ADDRESS") as raised:
        generate(mesh.config, mesh.registry, _router(local_address=""))
    assert raised.value.generator.startswith("gateway-")


@pytest.mark.parametrize(
    ("reference", "namespace", "expected"),
    [
        ("ingress", "default", "default/ingress"),
        ("istio-system/ingress", "default", "istio-system/ingress"),
        ("./ingress", "shop", "shop/ingress"),
        ("ingress.istio-system.svc.cluster.local", "default", "istio-system/ingress"),
        ("mesh", "default", "mesh"),
    ],
)
def test_gateway_references(reference: str, namespace: str, expected: str) -> None:
    assert gateway_key(reference, namespace) == expected
    assert gateway_listed([reference], namespace, expected)
    assert not gateway_listed([reference], namespace, "other/gateway")


@pytest.mark.parametrize(
    ("vs_host", "server_host", "expected"),
    [
        ("a.example.com", "*", "a.example.com"),
        ("a.example.com", "*.example.com", "a.example.com"),
        ("*.example.com", "a.example.com", "a.example.com"),
        ("*", "*.example.com", "*.example.com"),
        ("a.example.com", "b.example.com", None),
        ("example.com", "*.example.com", None),
    ],
)
def test_host_intersection(vs_host: str, server_host: str, expected: str | None) -> None:
    assert host_intersection(vs_host, server_host) == expected


MERGED = """
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: a-newer, namespace: default, creationTimestamp: "2026-03-01T00:00:00Z"}
    spec:
      hosts: [echo.example.com]
      gateways: [istio-system/ingress]
      http:
      - name: newer-api
        match: [{uri: {prefix: /api}}]
        route: [{destination: {host: echo}}]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: b-older, namespace: default, creationTimestamp: "2026-02-01T00:00:00Z"}
    spec:
      hosts: [echo.example.com]
      gateways: [istio-system/ingress]
      http:
      - name: older-catch-all
        route: [{destination: {host: echo}}]
      - name: older-admin
        match: [{uri: {prefix: /admin}}, {uri: {prefix: /}, headers: {x-admin: {exact: "1"}}}]
        route: [{destination: {host: echo}}]
"""


def test_virtual_services_for_one_gateway_host_are_merged() -> None:
    # As Istio does on gateways: routes of every VirtualService for the host, oldest first
    # (by creationTimestamp, not name), catch-all routes last; the module's `echo`
    # VirtualService has no timestamp, so it is the newest.
    scenario = load_scenario(MESH + MERGED, "gateway-merge")
    generated = generate(scenario.config, scenario.registry, _router())
    routes: dict[str, Any] = {r.name: decode(r) for r in generated.of_type(ROUTE_TYPE)}
    (host,) = [h for h in routes["http.8080"].virtual_hosts if h.domains == ["echo.example.com"]]
    assert [r.name for r in host.routes] == [
        "older-admin", "older-admin", "newer-api", "older-catch-all", ""
    ]  # fmt: skip
    assert host.routes[1].match.headers  # `/` with a header condition is not a catch-all
