"""The gateway's description, its router bootstrap and the port check (no Envoy here; the
gateway runs end to end in tests/test_gateway_traffic.py)."""

from __future__ import annotations

import socket

import pytest

from mizzen.agent import ProxyError, WorkloadSpecError
from mizzen.agent.gateway import (
    GatewayPort,
    GatewaySpec,
    check_ports_free,
    gateway_bootstrap_config,
    gateway_workload,
    parse_gateway_port,
)
from mizzen.envoy import XdsServerAddress, build_bootstrap
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import Protocol
from mizzen.snapshots import InboundPort, Interception, ProxyClass, ProxyType


def spec(**overrides: object) -> GatewaySpec:
    values: dict[str, object] = {
        "name": "ingress",
        "ports": (GatewayPort(8080, 8080), GatewayPort(443, 8443)),
        "labels": {"istio": "ingressgateway"},
    }
    values.update(overrides)
    return GatewaySpec(**values)  # type: ignore[arg-type]  # keyword values of mixed types


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8080", GatewayPort(8080, 8080)),
        ("443:8443", GatewayPort(443, 8443)),
        ("443:8443:TLS", GatewayPort(443, 8443, Protocol.TLS)),
    ],
)
def test_ports_parse(text: str, expected: GatewayPort) -> None:
    assert parse_gateway_port(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text", ["", "http", "443:", "1:2:3", "0", "443:70000", "443:8443:SMTP", "1:2:TLS:4"]
)
def test_bad_ports_name_the_flag(text: str) -> None:
    with pytest.raises(WorkloadSpecError) as raised:
        parse_gateway_port(text)
    assert raised.value.option == "--port"


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"name": "Ingress"}, "--name"),
        ({"namespace": "istio_system"}, "--namespace"),
        ({"address": "localhost"}, "--address"),
        ({"ports": ()}, "--port"),
        ({"ports": (GatewayPort(80, 8080), GatewayPort(8080, 8080))}, "--port"),
        ({"ports": (GatewayPort(8080, 8080),), "admin_port": 8080}, "--port"),
        ({"admin_port": 0}, "--admin-port"),
        ({"service": "Egress_Gateway"}, "--service"),
    ],
)
def test_bad_specs_name_the_flag(overrides: dict[str, object], option: str) -> None:
    with pytest.raises(WorkloadSpecError) as raised:
        spec(**overrides)
    assert raised.value.option == option


def test_the_bootstrap_makes_a_router_of_the_gateways_class() -> None:
    config = gateway_bootstrap_config(
        spec(address="127.0.0.7"), xds_servers=[XdsServerAddress("127.0.0.1", 15010)]
    )
    bootstrap = build_bootstrap(config)
    node = bootstrap["node"]
    assert node["id"] == "router~127.0.0.7~ingress.istio-system~istio-system.svc.cluster.local"
    assert bootstrap["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.7", "port_value": 15000,
    }  # fmt: skip
    # xds derives the proxy class from the node metadata: a router in local mode with the
    # gateway's labels, address and (server port, listen port) pairs.
    proxy = ProxyClass.from_node_metadata(ProxyType.ROUTER, node["metadata"])
    assert proxy.labels == {"istio": "ingressgateway"}
    assert proxy.namespace == "istio-system"
    assert proxy.interception is Interception.NONE
    assert proxy.local_address == "127.0.0.7"
    assert proxy.inbound == (InboundPort(443, 8443), InboundPort(8080, 8080))


def test_a_wildcard_address_keeps_admin_on_loopback() -> None:
    config = gateway_bootstrap_config(
        spec(address="0.0.0.0"), xds_servers=[XdsServerAddress("127.0.0.1", 15010)]
    )
    assert config.admin_address == "127.0.0.1"
    assert config.metadata.local_address == "0.0.0.0"


def test_a_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ProxyError, match=f"port {port} on 127.0.0.1 \\(--port x\\) is "
                                             "already in use"):  # fmt: skip
            check_ports_free([("127.0.0.1", port, "--port x")])
    check_ports_free([("127.0.0.1", port, "--port x")])  # free again once closed


def test_a_gateway_with_a_service_registers_each_port_on_its_listen_port() -> None:
    egress = spec(
        name="egress",
        ports=(GatewayPort(443, 8443, Protocol.TLS), GatewayPort(80, 8080)),
        address="0.0.0.0",
        service="istio-egressgateway",
    )
    workload = gateway_workload(egress)
    assert (workload.name, workload.namespace, workload.address) == (
        "egress", "istio-system", "127.0.0.1"
    )  # fmt: skip
    (served,) = workload.services
    assert served.service == "istio-egressgateway"
    assert [(p.number, p.endpoint_port, p.protocol) for p in served.ports] == [
        (443, 8443, "TLS"), (80, 8080, "HTTP")
    ]  # fmt: skip
    assert workload.health == pb.HEALTH_HEALTHY
