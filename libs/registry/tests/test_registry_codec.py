"""The stored JSON form of services and endpoints."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mizzen.registry import (
    Endpoint,
    Health,
    Locality,
    Protocol,
    Resolution,
    Service,
    ServicePort,
    decode_endpoint,
    decode_service,
    encode_endpoint,
    encode_service,
    frozen_map,
)

SERVICE = Service(
    hostname="payments.example.com",
    namespace="shop",
    ports=(ServicePort(80, Protocol.HTTP, "http"), ServicePort(443, Protocol.GRPC_WEB, "web")),
    labels=frozen_map({"team": "pay", "app": "payments"}),
    addresses=("240.0.0.1",),
    resolution=Resolution.DNS_ROUND_ROBIN,
    mesh_external=True,
    export_to=(".", "web"),
    source="serviceentry",
)
ENDPOINT = Endpoint(
    service="payments.example.com",
    namespace="shop",
    workload="payments-vm-1",
    address="10.0.0.1",
    ports={443: 8443, 80: 8080},
    labels=frozen_map({"version": "v2"}),
    service_account="pay",
    network="net1",
    locality=Locality("us-east", "a", "rack1"),
    weight=3,
    health=Health.DRAINING,
    source="workloadentry",
)


def test_service_round_trips() -> None:
    assert decode_service(encode_service(SERVICE)) == SERVICE


def test_endpoint_round_trips() -> None:
    assert decode_endpoint(encode_endpoint(ENDPOINT)) == ENDPOINT


def test_encoding_is_canonical() -> None:
    # Equal values are equal bytes whatever the insertion order of their maps, so a writer can
    # compare stored bytes to decide whether to write.
    reordered = dataclasses.replace(ENDPOINT, ports={80: 8080, 443: 8443}, labels={"version": "v2"})
    assert encode_endpoint(reordered) == encode_endpoint(ENDPOINT)
    assert json.loads(encode_endpoint(ENDPOINT))["locality"] == ["us-east", "a", "rack1"]


def test_minimal_documents_take_defaults() -> None:
    service = decode_service(b'{"hostname": "a.b", "namespace": "ns"}')
    assert service == Service("a.b", "ns", ())
    endpoint = decode_endpoint(
        b'{"service": "a.b", "namespace": "ns", "workload": "w", "address": "1.1.1.1"}'
    )
    assert (endpoint.service_account, endpoint.weight, endpoint.health, endpoint.locality) == (
        "default",
        1,
        Health.HEALTHY,
        Locality(),
    )


def test_garbage_is_rejected_with_value_or_key_errors() -> None:
    with pytest.raises(json.JSONDecodeError):
        decode_service(b"not json")
    with pytest.raises(KeyError):
        decode_endpoint(b'{"service": "a.b"}')
    with pytest.raises(ValueError, match="SOMETIMES"):
        decode_service(b'{"hostname": "a", "namespace": "n", "resolution": "SOMETIMES"}')
