"""Discovery's pure logic: validating registrations, ServiceEntry semantics, listings."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mizzen.api import Resource, ServiceEntry, WorkloadEntry, parse_documents
from mizzen.discovery.domain.errors import InvalidRegistration
from mizzen.discovery.domain.listing import list_services, list_workloads
from mizzen.discovery.domain.serviceentry import desired_from_config
from mizzen.discovery.domain.workload import (
    PortSpec,
    ServedServiceSpec,
    WorkloadSpec,
    validate_workload,
)
from mizzen.registry import (
    Endpoint,
    Health,
    Locality,
    Protocol,
    Registry,
    Resolution,
    Service,
    ServicePort,
)


def spec(*services: ServedServiceSpec, **fields: Any) -> WorkloadSpec:
    """A registration of reviews-v1 (serving reviews:9080 unless ``services`` are given)."""
    served = services or (ServedServiceSpec("reviews", (PortSpec(9080),)),)
    base = WorkloadSpec(name="reviews-v1", namespace="", address="127.0.0.11", services=served)
    return dataclasses.replace(base, **fields)


def problems(workload: WorkloadSpec) -> dict[str, str]:
    with pytest.raises(InvalidRegistration) as info:
        validate_workload(workload)
    return {v.field: v.description for v in info.value.violations}


def test_defaults_of_a_minimal_registration() -> None:
    registered = validate_workload(spec())
    (service,) = registered.services
    (endpoint,) = registered.endpoints
    assert service == Service(
        "reviews.default.svc.cluster.local",
        "default",
        (ServicePort(9080, Protocol.HTTP, "http-9080"),),
        source="agent",
    )
    assert endpoint == Endpoint(
        service="reviews.default.svc.cluster.local",
        namespace="default",
        workload="reviews-v1",
        address="127.0.0.11",
        ports={9080: 9080},
        service_account="default",
        weight=1,
        health=Health.HEALTHY,
        source="agent",
    )


def test_hosts_ports_and_protocols() -> None:
    registered = validate_workload(
        spec(
            ServedServiceSpec(
                "ratings.shop.svc.cluster.local",
                (PortSpec(9090, 19090, name="grpc-api"), PortSpec(8080, protocol="http2")),
            ),
            ServedServiceSpec("api.example.com", (PortSpec(443, protocol="TLS", name="tls"),)),
            namespace="web",
            weight=5,
            health=Health.DRAINING,
        ),
        domain="cluster.local",
    )
    ratings, api = registered.services
    assert (ratings.hostname, ratings.namespace) == ("ratings.shop.svc.cluster.local", "shop")
    assert ratings.ports == (
        ServicePort(8080, Protocol.HTTP2, "http2-8080"),
        ServicePort(9090, Protocol.GRPC, "grpc-api"),
    )
    assert (api.hostname, api.namespace) == ("api.example.com", "web")
    first, second = registered.endpoints
    assert dict(first.ports) == {9090: 19090, 8080: 8080}
    assert (first.namespace, first.weight, first.health) == ("web", 5, Health.DRAINING)
    assert second.service == "api.example.com"
    assert registered.hostnames == ("ratings.shop.svc.cluster.local", "api.example.com")
    drained = registered.with_health(Health.HEALTHY)
    assert {e.health for e in drained.endpoints} == {Health.HEALTHY}


def test_every_problem_is_named_with_its_field() -> None:
    found = problems(
        spec(
            ServedServiceSpec("reviews", (PortSpec(9080), PortSpec(9080, endpoint_port=70000))),
            ServedServiceSpec("reviews.default.svc.cluster.local", (PortSpec(80, name="Web"),)),
            ServedServiceSpec("-bad", ()),
            name="",
            namespace="Shop",
            address="0.0.0.0",
            service_account="a_b",
            labels={"/app": "x", "ok": "-bad"},
            locality=Locality("us/east"),
        )
    )
    assert set(found) == {
        "workload.name",
        "workload.namespace",
        "workload.address",
        "workload.service_account",
        "workload.labels[/app]",
        "workload.labels[ok]",
        "workload.locality.region",
        "workload.services[0].ports[1].number",
        "workload.services[0].ports[1].endpoint_port",
        "workload.services[1].ports[0].name",
        "workload.services[2].service",
        "workload.services[2].ports",
    }
    assert found["workload.name"] == "is required"
    assert "already listed at ports[0]" in found["workload.services[0].ports[1].number"]
    assert "unicast" in found["workload.address"]


def test_duplicate_services_and_missing_services() -> None:
    duplicate = problems(
        spec(
            ServedServiceSpec("reviews", (PortSpec(9080),)),
            ServedServiceSpec("reviews.default.svc.cluster.local", (PortSpec(9081),)),
        )
    )
    assert "already listed at services[0]" in duplicate["workload.services[1].service"]
    assert set(problems(WorkloadSpec("w", "", "10.0.0.1", ()))) == {"workload.services"}
    assert set(problems(spec(address="fe80::1%eth0"))) == {"workload.address"}
    assert validate_workload(spec(address="::1")).address == "::1"


def resources(text: str) -> tuple[list[ServiceEntry], list[WorkloadEntry]]:
    parsed: list[Resource] = parse_documents(text, "test.yaml")
    entries = [r for r in parsed if isinstance(r, ServiceEntry)]
    workloads = [r for r in parsed if isinstance(r, WorkloadEntry)]
    return entries, workloads


SELECTED = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.internal, db-ro.internal]
  location: MESH_INTERNAL
  resolution: DYNAMIC_DNS
  ports: [{number: 5432, name: tcp-pg, targetPort: 15432}, {number: 8080, name: http}]
  workloadSelector: {labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-1, namespace: data}
spec: {address: db1.vm.internal, labels: {app: db, role: primary}, ports: {http: 18080}, weight: 2}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-2, namespace: other}
spec: {address: 10.1.0.2, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-3, namespace: data}
spec: {network: remote, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: web}
spec:
  hosts: [api.example.com]
  resolution: STATIC
  ports: [{number: 443, name: https-api}]
  endpoints: [{address: 1.2.3.4}, {address: 1.2.3.5, locality: eu/west/1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: plain, namespace: web}
spec:
  hosts: [plain.example.com]
  ports: [{number: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: z-api-again, namespace: web}
spec:
  hosts: [api.example.com]
  resolution: DNS
  ports: [{number: 80, name: http}]
  endpoints: [{address: 1.2.3.6}]
"""


def test_serviceentry_semantics() -> None:
    entries, workloads = resources(SELECTED)
    desired = desired_from_config(entries, workloads)
    services = {s.hostname: s for s in desired.services}
    assert list(services) == [
        "api.example.com",
        "db-ro.internal",
        "db.internal",
        "plain.example.com",
    ]
    plain = services["plain.example.com"]
    assert (plain.resolution, plain.mesh_external, plain.export_to, plain.source) == (
        Resolution.NONE,
        True,
        ("*",),
        "serviceentry",
    )
    db = services["db.internal"]
    assert (db.namespace, db.resolution, db.mesh_external, db.export_to) == (
        "data",
        Resolution.DNS,
        False,
        ("*",),
    )
    assert db.ports == (
        ServicePort(5432, Protocol.TCP, "tcp-pg"),
        ServicePort(8080, Protocol.HTTP, "http"),
    )
    api = services["api.example.com"]
    # The first ServiceEntry (by namespace and name) defines a host both declare.
    assert (api.resolution, api.mesh_external, api.ports) == (
        Resolution.STATIC,
        True,
        (ServicePort(443, Protocol.HTTPS, "https-api"),),
    )
    endpoints = {(e.service, e.endpoint_id): e for e in desired.endpoints}
    assert sorted(endpoints) == [
        ("api.example.com", "web.api:0"),
        ("api.example.com", "web.api:1"),
        ("api.example.com", "web.z-api-again:0"),
        ("db-ro.internal", "data.db-1"),
        ("db.internal", "data.db-1"),
    ]
    db1 = endpoints[("db.internal", "data.db-1")]
    assert (db1.address, dict(db1.ports), db1.weight, db1.source) == (
        "db1.vm.internal",
        {5432: 15432, 8080: 18080},
        2,
        "workloadentry",
    )
    assert endpoints[("api.example.com", "web.api:1")].locality == Locality("eu", "west", "1")
    assert endpoints[("api.example.com", "web.api:0")].source == "serviceentry"
    # Order does not matter.
    assert desired_from_config(reversed(entries), reversed(workloads)) == desired


def test_locality_parse() -> None:
    assert Locality.parse(None) == Locality()
    assert Locality.parse("us-east") == Locality("us-east")
    assert Locality.parse("us/east/a/b") == Locality("us", "east", "a/b")


def test_listings_group_endpoints_by_workload() -> None:
    def endpoint(service: str, workload: str, source: str, health: Health) -> Endpoint:
        return Endpoint(
            service, "default", workload, "10.0.0.1", {80: 80}, health=health, source=source
        )

    registry = Registry(
        services={
            "a.default.svc.cluster.local": Service("a.default.svc.cluster.local", "default", ()),
            "b.example.com": Service("b.example.com", "web", ()),
        },
        endpoints={
            "a.default.svc.cluster.local": (
                endpoint("a.default.svc.cluster.local", "w1", "agent", Health.HEALTHY),
                endpoint("a.default.svc.cluster.local", "w2", "agent", Health.DRAINING),
            ),
            "b.example.com": (endpoint("b.example.com", "w1", "agent", Health.HEALTHY),),
        },
    )
    workloads = list_workloads(registry)
    assert [(w.name, [e.service for e in w.endpoints]) for w in workloads] == [
        ("w1", ["a.default.svc.cluster.local", "b.example.com"]),
        ("w2", ["a.default.svc.cluster.local"]),
    ]
    assert list_workloads(registry, source="serviceentry") == []
    assert [(s.service.hostname, s.endpoints, s.healthy) for s in list_services(registry)] == [
        ("a.default.svc.cluster.local", 2, 1),
        ("b.example.com", 1, 1),
    ]
    assert [s.service.hostname for s in list_services(registry, namespace="web")] == [
        "b.example.com"
    ]
