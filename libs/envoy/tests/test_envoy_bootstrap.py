"""The bootstrap: its shape, Envoy's verdict on it, and a real Envoy started from it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from mizzen.envoy import (
    XDS_CLUSTER,
    AdsMode,
    BootstrapConfig,
    InterceptionMode,
    Locality,
    NodeId,
    ProxyMetadata,
    ProxyType,
    XdsServerAddress,
    bootstrap_message,
    build_bootstrap,
    service_cluster,
    validate_bootstrap,
)
from mizzen.launcher import EnvoyProcess, PortAllocator
from mizzen.testing import wait_for

EnvoyFactory = Callable[..., Awaitable[EnvoyProcess]]

NODE = NodeId(ProxyType.SIDECAR, "127.0.0.5", "reviews-v2-5c7f", "default")
METADATA = ProxyMetadata(
    namespace="default",
    labels={"app": "reviews", "version": "v2"},
    service_account="bookinfo-reviews",
    network="net-1",
    local_address="127.0.0.5",
    mizzen_version="9.9.9",
    workload_name="reviews-v2",
    instance_ips=("127.0.0.5",),
    extra={"CUSTOM": "yes", "NAMESPACE": "ignored"},
)


def _config(xds_ports: list[int], admin_port: int, **overrides: Any) -> BootstrapConfig:
    return BootstrapConfig(
        node_id=NODE,
        metadata=METADATA,
        xds_servers=[XdsServerAddress("127.0.0.1", port) for port in xds_ports],
        admin_port=admin_port,
        **overrides,
    )


def test_node_follows_istio_conventions() -> None:
    node = build_bootstrap(_config([15010], 15000))["node"]
    assert node["id"] == "sidecar~127.0.0.5~reviews-v2-5c7f.default~default.svc.cluster.local"
    assert node["cluster"] == "reviews.default"
    assert node["metadata"] == {
        "NAMESPACE": "default",  # the extra key cannot replace a defined one
        "LABELS": {"app": "reviews", "version": "v2"},
        "SERVICE_ACCOUNT": "bookinfo-reviews",
        "CLUSTER_ID": "Kubernetes",
        "NETWORK": "net-1",
        "INTERCEPTION_MODE": "NONE",
        "MIZZEN_VERSION": "9.9.9",
        "LOCAL_ADDRESS": "127.0.0.5",
        "NAME": "reviews-v2-5c7f",
        "WORKLOAD_NAME": "reviews-v2",
        "INSTANCE_IPS": "127.0.0.5",
        "CUSTOM": "yes",
    }
    assert "locality" not in node


def test_optional_node_fields() -> None:
    config = _config([15010], 15000, locality=Locality("eu", "eu-1a"), service_cluster="x.y")
    node = build_bootstrap(config)["node"]
    assert node["locality"] == {"region": "eu", "zone": "eu-1a"}
    assert node["cluster"] == "x.y"
    bare = ProxyMetadata(namespace="ns", interception_mode=InterceptionMode.REDIRECT)
    assert set(bare.to_dict()) == {
        "NAMESPACE",
        "LABELS",
        "SERVICE_ACCOUNT",
        "CLUSTER_ID",
        "INTERCEPTION_MODE",
        "MIZZEN_VERSION",
    }
    assert bare.to_dict()["INTERCEPTION_MODE"] == "REDIRECT"


def test_service_cluster_prefers_the_canonical_name() -> None:
    labels = {"app": "reviews", "service.istio.io/canonical-name": "reviews-svc"}
    assert service_cluster(labels, "pod-1", "default") == "reviews-svc.default"
    assert service_cluster({"app": "reviews"}, "pod-1", "default") == "reviews.default"
    assert service_cluster({}, "pod-1", "default") == "pod-1.default"


@pytest.mark.parametrize("mode", list(AdsMode))
def test_ads_over_grpc_to_the_xds_cluster(mode: AdsMode) -> None:
    bootstrap = build_bootstrap(_config([15010, 15011], 15000, ads_mode=mode))
    ads = bootstrap["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == str(mode)
    assert ads["transport_api_version"] == "V3"
    assert ads["set_node_on_first_message_only"] is True
    assert ads["grpc_services"][0]["envoy_grpc"]["cluster_name"] == XDS_CLUSTER
    for key in ("cds_config", "lds_config"):
        source = bootstrap["dynamic_resources"][key]
        assert source == {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
    (cluster,) = bootstrap["static_resources"]["clusters"]
    assert cluster["name"] == XDS_CLUSTER
    assert cluster["type"] == "STATIC"
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints] == [
        15010,
        15011,
    ]
    options = cluster["typed_extension_protocol_options"]
    http2 = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "connection_keepalive" in http2["explicit_http_config"]["http2_protocol_options"]


def test_dns_named_servers_use_strict_dns_and_limits_and_stats_are_set() -> None:
    config = BootstrapConfig(
        node_id=NODE,
        metadata=METADATA,
        xds_servers=[XdsServerAddress("localhost", 15010)],
        admin_port=15000,
        stats_prefixes=("cluster_manager", "control_plane"),
        max_downstream_connections=1234,
    )
    bootstrap = build_bootstrap(config)
    assert bootstrap["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"
    (monitor,) = bootstrap["overload_manager"]["resource_monitors"]
    assert monitor["name"] == "envoy.resource_monitors.global_downstream_max_connections"
    assert int(monitor["typed_config"]["max_active_downstream_connections"]) == 1234
    patterns = bootstrap["stats_config"]["stats_matcher"]["inclusion_list"]["patterns"]
    assert patterns == [{"prefix": "cluster_manager"}, {"prefix": "control_plane"}]


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one xds server"):
        BootstrapConfig(node_id=NODE, metadata=METADATA, xds_servers=[], admin_port=1)
    with pytest.raises(ValueError, match="initial_fetch_timeout"):
        _config([1], 2, initial_fetch_timeout=-1)


@pytest.mark.parametrize("mode", list(AdsMode))
async def test_envoy_accepts_the_bootstrap(mode: AdsMode) -> None:
    extra = cluster_pb2.Cluster(name="sds-grpc", type=cluster_pb2.Cluster.STATIC)
    extra.connect_timeout.FromSeconds(1)
    config = BootstrapConfig(
        node_id=NODE,
        metadata=METADATA,
        xds_servers=[XdsServerAddress("localhost", 15010), XdsServerAddress("127.0.0.1", 15011)],
        admin_port=15000,
        ads_mode=mode,
        locality=Locality("eu", "eu-1a", "rack-3"),
        stats_prefixes=("cluster_manager",),
        static_clusters=[extra],
    )
    ok, error = await validate_bootstrap(bootstrap_message(config))
    assert (ok, error) == (True, "")
    # the JSON form validates the same, and a bad one is rejected with the reason
    assert await validate_bootstrap(build_bootstrap(config)) == (True, "")
    broken = build_bootstrap(config)
    broken["static_resources"]["clusters"][0]["connect_timeout"] = "-1s"
    ok, error = await validate_bootstrap(broken)
    assert not ok
    assert "positive duration" in error.lower()
    ok, error = await validate_bootstrap({"admin": {"no_such_field": 1}})
    assert not ok
    assert "no_such_field" in error


async def _stat(proc: EnvoyProcess, name: str) -> int:
    # EnvoyProcess.stats() cannot parse Envoy's text readouts (empty strings); ask for one stat.
    status, body = await proc.admin_get(f"/stats?format=json&filter=^{name}$")
    assert status == 200
    (stat,) = json.loads(body)["stats"]
    return int(stat["value"])


async def _connect_failures(proc: EnvoyProcess) -> dict[int, int]:
    """xds-grpc connection failures by endpoint port, from the admin ``/clusters``."""
    status, body = await proc.admin_get("/clusters?format=json")
    assert status == 200
    failures: dict[int, int] = {}
    for cluster in json.loads(body)["cluster_statuses"]:
        if cluster["name"] != XDS_CLUSTER:
            continue
        for host in cluster["host_statuses"]:
            stats = {s["name"]: int(s.get("value", 0)) for s in host["stats"]}
            failures[host["address"]["socket_address"]["port_value"]] = stats["cx_connect_fail"]
    return failures


async def test_envoy_starts_without_a_control_plane_and_tries_every_replica(
    envoy_factory: EnvoyFactory, ports: PortAllocator
) -> None:
    admin_port, dead_1, dead_2 = ports.take(), ports.take(), ports.take()
    config = _config([dead_1, dead_2], admin_port, initial_fetch_timeout=0.2)
    proc = await envoy_factory(build_bootstrap(config), admin_port=admin_port)

    dump = await proc.config_dump()
    node = dump["configs"][0]["bootstrap"]["node"]
    assert node["id"] == str(NODE)
    assert node["metadata"]["LOCAL_ADDRESS"] == "127.0.0.5"
    assert node["metadata"]["LABELS"] == {"app": "reviews", "version": "v2"}
    assert await _stat(proc, "control_plane.connected_state") == 0

    async def both_replicas_tried() -> bool:
        failures = await _connect_failures(proc)
        return failures.keys() == {dead_1, dead_2} and all(n >= 1 for n in failures.values())

    # (The annotation gives wait_for's TypeVar a context for an async condition.)
    tried: bool = await wait_for(both_replicas_tried, timeout=10, message="both replicas tried")
    assert tried
    assert await _stat(proc, "control_plane.connected_state") == 0


class _AdminUp(EnvoyProcess):
    """An Envoy counted as started once its admin answers, whether or not it is LIVE."""

    async def is_ready(self) -> bool:
        status, _ = await self.admin_get("/server_info")
        return status == 200


async def test_by_default_envoy_waits_for_the_control_plane(
    tmp_path: Path, ports: PortAllocator, envoy_factory: EnvoyFactory
) -> None:
    admin_port, other_admin_port, dead = ports.take(), ports.take(), ports.take()
    waiting = _AdminUp(
        tmp_path, build_bootstrap(_config([dead], admin_port)), admin_port=admin_port
    )
    await waiting.start()
    try:
        # A second Envoy with a 0.3 s fetch timeout, started after the first, goes LIVE...
        impatient = _config([dead], other_admin_port, initial_fetch_timeout=0.3)
        await envoy_factory(build_bootstrap(impatient), admin_port=other_admin_port)
        # ...while the first, up for longer and retrying all along, still waits for config.
        assert await _has_failed(waiting, dead, 1)
        _, body = await waiting.admin_get("/server_info")
        assert json.loads(body)["state"] in {"PRE_INITIALIZING", "INITIALIZING"}
        ready_status, _ = await waiting.admin_get("/ready")
        assert ready_status == 503
    finally:
        await waiting.stop()


async def _has_failed(proc: EnvoyProcess, port: int, times: int) -> bool:
    return (await _connect_failures(proc)).get(port, 0) >= times
