"""The workload's description, its app's environment and its Envoy's bootstrap (no I/O)."""

from __future__ import annotations

import pytest

from mizzen.agent import (
    PortSpec,
    ServiceSpec,
    WorkloadSpec,
    WorkloadSpecError,
    app_environment,
    bootstrap_config,
    build_services,
    exit_status_of,
    parse_labels,
    parse_port,
    parse_server_address,
    workload_message,
)
from mizzen.envoy import XdsServerAddress, build_bootstrap
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import Protocol
from mizzen.snapshots import InboundPort, Interception, ProxyClass, ProxyType


def spec(**overrides: object) -> WorkloadSpec:
    values: dict[str, object] = {
        "name": "reviews-v2",
        "command": ("python", "app.py"),
        "services": build_services(["reviews"], ["9080:19080", "9443:19443:grpc"]),
        "labels": {"app": "reviews", "version": "v2"},
    }
    values.update(overrides)
    return WorkloadSpec(**values)  # type: ignore[arg-type]  # keyword values of mixed types


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9080:19080", ("", PortSpec(9080, 19080, Protocol.HTTP))),
        ("9080:19080:http2", ("", PortSpec(9080, 19080, Protocol.HTTP2))),
        ("9080:19080:GRPC", ("", PortSpec(9080, 19080, Protocol.GRPC))),
        ("db=3306:13306:tcp", ("db", PortSpec(3306, 13306, Protocol.TCP))),
    ],
)
def test_ports_parse(text: str, expected: tuple[str, PortSpec]) -> None:
    assert parse_port(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9080", "expected PORT:APP_PORT[:PROTOCOL]"),
        ("9080:x", "expected PORT:APP_PORT[:PROTOCOL]"),
        ("9080:19080:http:extra", "expected PORT:APP_PORT[:PROTOCOL]"),
        ("0:19080", "between 1 and 65535"),
        ("9080:70000", "between 1 and 65535"),
        ("9080:19080:smtp", "unknown protocol 'smtp'"),
        ("15001:19080", "outbound HTTP proxy"),
        ("=9080:19080", "the service before '=' is empty"),
    ],
)
def test_bad_ports_say_what_is_valid(text: str, fragment: str) -> None:
    with pytest.raises(WorkloadSpecError, match="--port") as caught:
        parse_port(text)
    assert fragment in str(caught.value)
    assert caught.value.option == "--port"


def test_ports_belong_to_every_service_unless_qualified() -> None:
    services = build_services(["reviews", "ratings"], ["9080:19080", "ratings=9090:19090"])
    assert services == (
        ServiceSpec("reviews", (PortSpec(9080, 19080),)),
        ServiceSpec("ratings", (PortSpec(9080, 19080), PortSpec(9090, 19090))),
    )


@pytest.mark.parametrize(
    ("names", "ports", "fragment"),
    [
        ([], ["9080:19080"], "needs a --service"),
        (["reviews"], [], "has no --port"),
        (["reviews"], ["other=9080:19080"], "not among --service"),
        (["reviews", "reviews"], ["9080:19080"], "given twice"),
        (["reviews"], ["9080:19080", "9080:19081"], "service port is given twice"),
        (["Reviews!"], ["9080:19080"], "expected a service name"),
    ],
)
def test_bad_services(names: list[str], ports: list[str], fragment: str) -> None:
    with pytest.raises(WorkloadSpecError, match=fragment):
        build_services(names, ports)


def test_one_service_port_reaches_one_app_port() -> None:
    services = build_services(["a", "b"], ["a=9080:19080", "b=9080:19081"])
    with pytest.raises(WorkloadSpecError, match="one service port must reach one app port"):
        spec(services=services)


def test_inbound_ports_are_the_union_of_services() -> None:
    services = build_services(["a", "b"], ["9080:19080", "b=9090:19090:tcp"])
    assert spec(services=services).inbound_ports() == (
        InboundPort(9080, 19080, Protocol.HTTP),
        InboundPort(9090, 19090, Protocol.TCP),
    )


def test_labels_parse_and_reject_what_kubernetes_rejects() -> None:
    assert parse_labels(["app=reviews,version=v2", "version=v3", "example.com/tier="]) == {
        "app": "reviews",
        "version": "v3",
        "example.com/tier": "",
    }
    for bad in ("app", "-app=x", "app=bad value", "Bad_Prefix/x=1", f"a={'x' * 64}"):
        with pytest.raises(WorkloadSpecError, match="--labels"):
            parse_labels([bad])


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"name": "Reviews"}, "--name"),
        ({"name": ""}, "--name"),
        ({"namespace": "a.b"}, "--namespace"),
        ({"service_account": "Bad SA"}, "--service-account"),
        ({"command": ()}, "COMMAND"),
    ],
)
def test_bad_workload_names_the_flag(overrides: dict[str, object], option: str) -> None:
    with pytest.raises(WorkloadSpecError) as caught:
        spec(**overrides)
    assert caught.value.option == option


def test_app_environment_points_at_its_envoy() -> None:
    inherited = {"PATH": "/bin", "https_proxy": "http://corp:3128", "MIZZEN_APP_PORT": "1"}
    env = app_environment(spec(), "127.1.0.7", inherited)
    assert env["http_proxy"] == env["HTTP_PROXY"] == "http://127.1.0.7:15001"
    assert env["no_proxy"] == env["NO_PROXY"] == "127.1.0.7,localhost,127.0.0.1"
    assert env["MIZZEN_ADDRESS"] == "127.1.0.7"
    assert env["MIZZEN_WORKLOAD"] == "reviews-v2"
    assert env["MIZZEN_NAMESPACE"] == "default"
    assert env["MIZZEN_PORTS"] == "9080:19080,9443:19443"
    assert env["MIZZEN_APP_PORT"] == "19080"
    assert env["PATH"] == "/bin"
    assert "https_proxy" not in env  # nothing may route the app around its Envoy
    assert inherited["MIZZEN_APP_PORT"] == "1"  # the input is not changed


def test_app_environment_without_services_has_no_app_port() -> None:
    env = app_environment(spec(services=()), "127.1.0.7", {"MIZZEN_APP_PORT": "1"})
    assert "MIZZEN_APP_PORT" not in env
    assert env["MIZZEN_PORTS"] == ""


def test_bootstrap_metadata_reads_back_as_the_proxy_class() -> None:
    workload = spec(namespace="shop", service_account="reviews-sa")
    config = bootstrap_config(
        workload, "127.1.0.7", xds_servers=[XdsServerAddress("127.0.0.1", 15010)], delta=True
    )
    bootstrap = build_bootstrap(config)
    node = bootstrap["node"]
    assert node["id"] == "sidecar~127.1.0.7~reviews-v2.shop~shop.svc.cluster.local"
    assert node["cluster"] == "reviews.shop"
    assert bootstrap["admin"]["address"]["socket_address"] == {
        "address": "127.1.0.7",
        "port_value": 15000,
    }
    assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert ProxyClass.from_node_metadata(ProxyType.SIDECAR, node["metadata"]) == ProxyClass(
        proxy_type=ProxyType.SIDECAR,
        namespace="shop",
        labels={"app": "reviews", "version": "v2"},
        service_account="reviews-sa",
        interception=Interception.NONE,
        local_address="127.1.0.7",
        inbound=(InboundPort(9080, 19080, Protocol.HTTP), InboundPort(9443, 19443, Protocol.GRPC)),
    )


def test_server_addresses() -> None:
    assert parse_server_address("127.0.0.1:15010", option="--xds") == XdsServerAddress(
        "127.0.0.1", 15010
    )
    assert parse_server_address("[::1]:15010", option="--xds") == XdsServerAddress("::1", 15010)
    for bad in ("127.0.0.1", ":15010", "host:0", "host:x"):
        with pytest.raises(WorkloadSpecError, match="expected HOST:PORT"):
            parse_server_address(bad, option="--xds")


def test_exit_status_follows_the_shell() -> None:
    assert exit_status_of(0) == 0
    assert exit_status_of(3) == 3
    assert exit_status_of(-15) == 143
    assert exit_status_of(-9) == 137


def test_a_locality_goes_to_the_node_and_the_registration() -> None:
    workload = spec(locality="us-east/a/1")
    config = bootstrap_config(workload, "127.1.0.7", xds_servers=[XdsServerAddress("127.0.0.1", 1)])
    node = build_bootstrap(config)["node"]
    assert node["locality"] == {"region": "us-east", "zone": "a", "sub_zone": "1"}
    message = workload_message(workload, "127.1.0.7", health=pb.HEALTH_HEALTHY)
    assert (message.locality.region, message.locality.zone, message.locality.sub_zone) == (
        "us-east", "a", "1"
    )  # fmt: skip
    assert (
        "locality"
        not in build_bootstrap(
            bootstrap_config(spec(), "127.1.0.7", xds_servers=[XdsServerAddress("127.0.0.1", 1)])
        )["node"]
    )
    with pytest.raises(WorkloadSpecError) as caught:
        spec(locality="us-east//1")
    assert caught.value.option == "--locality"
