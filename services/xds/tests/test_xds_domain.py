"""The pure parts: node identity, planning, the proxy status record, response encoding."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from mizzen.envoy import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE, make_resource, version_of
from mizzen.snapshots import ProxyClass, ProxyType
from mizzen.snapshots.status import (
    NackRecord,
    ProxyStatus,
    TypeStatus,
    proxy_id_of,
    proxy_key,
)
from mizzen.xds.api import wire
from mizzen.xds.api.sotw import SotwVariant
from mizzen.xds.domain.node import identify, locality_text
from mizzen.xds.domain.plans import SharedMaps, plan_delta, plan_sotw
from mizzen.xds.domain.subscriptions import TypeState
from mizzen.xds.domain.warming import eds_service_name
from mizzen.xds.errors import InvalidNodeError
from mizzen.xds.testing import eds_cluster


def test_nodes_are_identified_by_istio_id_or_as_proxyless() -> None:
    sidecar = identify("sidecar~127.0.0.5~reviews-v1.shop~shop.svc.cluster.local", {})
    assert sidecar.proxy_id == "reviews-v1.shop"
    assert sidecar.proxy_class.proxy_type is ProxyType.SIDECAR
    assert sidecar.proxy_class.namespace == "shop", "namespace from the node id"
    router = identify("router~10.0.0.1~gw.edge~edge.svc.cluster.local", {"NAMESPACE": "edge"})
    assert router.proxy_class.proxy_type is ProxyType.ROUTER

    bare = identify("client-7", {"NAMESPACE": "shop"})
    assert bare.proxy_class.proxy_type is ProxyType.PROXYLESS
    assert (bare.proxy_id, bare.proxy_class.namespace) == ("client-7", "shop")
    istio_grpc = identify("sidecar~10.0.0.2~app.shop~shop.svc.cluster.local",
                          {"NAMESPACE": "shop", "GENERATOR": "grpc"})  # fmt: skip
    assert istio_grpc.proxy_class.proxy_type is ProxyType.PROXYLESS
    assert istio_grpc.proxy_id == "app.shop"

    with pytest.raises(InvalidNodeError, match="unknown proxy type"):
        identify("waypoint~1.2.3.4~a.b~b.svc.cluster.local", {})
    with pytest.raises(InvalidNodeError, match="expected"):
        identify("sidecar~1.2.3.4", {})
    with pytest.raises(InvalidNodeError, match="must carry"):
        identify("", {})
    with pytest.raises(InvalidNodeError, match="INTERCEPTION_MODE"):
        identify("client", {"INTERCEPTION_MODE": "magic"})


def test_sotw_sends_on_change_and_removes_clusters_last() -> None:
    state = TypeState(CLUSTER_TYPE, wildcard=True)
    first = plan_sotw(state, {"a": "1", "b": "2"})
    assert first.first is not None
    assert first.last is None
    assert first.first.version == version_of({"a": "1", "b": "2"})
    state.record_sent(first.first.known_after, first.first.version, "n1", {"a", "b"})
    assert not plan_sotw(state, {"a": "1", "b": "2"}).responses, "unchanged: nothing"

    # "c" arrives while "b" goes: the first response keeps "b", the last drops it.
    plan = plan_sotw(state, {"a": "1", "c": "3"})
    assert plan.first is not None
    assert plan.last is not None
    assert dict(plan.first.resources) == {"a": "1", "b": "2", "c": "3"}
    assert dict(plan.last.resources) == {"a": "1", "c": "3"}
    # Only a removal: nothing to send first.
    only_removal = plan_sotw(state, {"a": "1"})
    assert only_removal.first is None
    assert only_removal.last is not None


def test_sotw_reconnect_with_a_matching_version_sends_nothing() -> None:
    state = TypeState(CLUSTER_TYPE, wildcard=True, known=None, answered=True)
    state.version = version_of({"a": "1"})
    assert not plan_sotw(state, {"a": "1"}).responses
    assert state.known == {"a": "1"}, "what the proxy holds is now known"
    assert plan_sotw(state, {"a": "1"}, force=True).responses, "asked again: answered"
    state.resend.add("a")
    assert plan_sotw(state, {"a": "1"}).responses, "marked for resend: answered"


def test_sotw_routes_and_endpoints_carry_only_what_the_proxy_lacks() -> None:
    memo = SharedMaps()
    state = TypeState(ROUTE_TYPE, names=frozenset({"80", "9080"}))
    old = MappingProxyType({"80": "1", "9080": "2", "other": "3"})
    first = plan_sotw(state, old, memo=memo)
    assert first.first is not None
    assert dict(first.first.resources) == {"80": "1", "9080": "2"}, "a first answer: all"
    state.record_sent(first.first.known_after, first.first.version, "n1", first.first.resources)

    new = MappingProxyType({"80": "1", "9080": "5", "other": "3"})
    plan = plan_sotw(state, new, memo=memo)
    assert plan.first is not None
    assert dict(plan.first.resources) == {"9080": "5"}, "only the changed configuration"
    assert dict(plan.first.known_after) == {"80": "1", "9080": "5"}
    assert plan.first.version == version_of({"80": "1", "9080": "5"}), "the whole state's"
    forced = plan_sotw(state, new, memo=memo, force=True).first
    assert forced is not None
    assert dict(forced.resources) == {"80": "1", "9080": "5"}, "asked again: all"
    state.record_sent(plan.first.known_after, plan.first.version, "n2", plan.first.resources)

    # A name dropped from the subscription: nothing to carry, an empty response moves the
    # version (so the proxy's ACK matches what it holds).
    state.names = frozenset({"80"})
    plan = plan_sotw(state, new, memo=memo)
    assert plan.first is not None
    assert not plan.first.resources
    assert plan.first.version == version_of({"80": "1"})


def test_streams_of_a_class_share_their_maps_and_the_work_on_them() -> None:
    memo = SharedMaps()
    available = MappingProxyType({f"c{i}": str(i) for i in range(100)})
    streams = [TypeState(ENDPOINT_TYPE, names=frozenset(available)) for _ in range(3)]
    plans = [plan_sotw(state, available, memo=memo) for state in streams]
    assert streams[0].names is streams[1].names is streams[2].names, "one interned name set"
    wanted = [p.first.known_after for p in plans if p.first is not None]
    assert len(wanted) == 3
    assert all(w is available for w in wanted), "names covering the class: its own map"

    partial = [TypeState(ENDPOINT_TYPE, names=frozenset({"c1", "c2", "gone"})) for _ in range(2)]
    subsets = [plan_sotw(state, available, memo=memo).first for state in partial]
    assert subsets[0] is not None
    assert subsets[1] is not None
    assert subsets[0].known_after is subsets[1].known_after, "one subset per name set"
    assert dict(subsets[0].known_after) == {"c1": "1", "c2": "2"}
    for state, plan in zip(partial, subsets, strict=True):
        assert plan is not None
        state.record_sent(plan.known_after, plan.version, "n1", plan.resources)

    changed = MappingProxyType({**available, "c2": "new"})
    diffs = [plan_sotw(state, changed, memo=memo).first for state in partial]
    assert diffs[0] is not None
    assert diffs[1] is not None
    assert diffs[0].resources is diffs[1].resources, "one difference, shared"
    assert dict(diffs[0].resources) == {"c2": "new"}


def test_delta_sends_differences_then_removals() -> None:
    state = TypeState(ENDPOINT_TYPE, names=frozenset({"a", "b", "missing"}))
    empty = TypeState(ENDPOINT_TYPE, names=frozenset({"missing"}))
    assert plan_delta(empty, {}).first is not None, "a first answer even when empty"
    plan = plan_delta(state, {"a": "1", "b": "2", "c": "3"})
    assert plan.first is not None
    assert dict(plan.first.resources) == {"a": "1", "b": "2"}, "only subscribed names"
    state.record_sent(plan.first.known_after, plan.first.version, "n1", {"a", "b"})

    plan = plan_delta(state, {"a": "9"})
    assert plan.first is not None
    assert plan.last is not None
    assert dict(plan.first.resources) == {"a": "9"}
    assert plan.last.removed == ("b",)
    assert plan.last.version == version_of({"a": "9"})

    state.record_sent(plan.last.known_after, plan.last.version, "n2", set())
    state.resend.add("a")
    again = plan_delta(state, {"a": "9"})
    assert again.first is not None
    assert dict(again.first.resources) == {"a": "9"}


def test_the_status_record_round_trips_and_keys_are_safe() -> None:
    status = ProxyStatus(
        proxy_id="a/b.shop", node_id="n", class_id="c", replica="r", connection="r-1",
        protocol="delta", connected_at="2026-01-01T00:00:00.000Z",
        types={CLUSTER_TYPE: TypeStatus("v2", "2", "v1", "1", nacked=True)},
        last_nack=NackRecord(CLUSTER_TYPE, "v2", "2", "bad cluster", "2026-01-01T00:00:01.000Z"),
    )  # fmt: skip
    assert ProxyStatus.from_json(status.to_json()) == status
    assert status.key == "/mizzen/proxies/a%2Fb.shop"
    assert proxy_id_of(proxy_key("a/b.shop")) == "a/b.shop"


def test_responses_built_from_stored_bytes_parse_as_envoy_reads_them() -> None:
    a, b = make_resource(eds_cluster("a")), make_resource(eds_cluster("b"))
    raw = wire.sotw_response(type_url=CLUSTER_TYPE, version="v", nonce="7",
                             bodies=[a.body, b.body], control_plane="xds-a")  # fmt: skip
    parsed = discovery_pb2.DiscoveryResponse.FromString(raw)
    assert (parsed.version_info, parsed.nonce, parsed.type_url) == ("v", "7", CLUSTER_TYPE)
    assert [r.SerializeToString(deterministic=True) for r in parsed.resources] == [a.body, b.body]
    assert parsed.control_plane.identifier == "xds-a"

    big = make_resource(cluster_pb2.Cluster(name="x" * 300))  # multi-byte length prefixes
    raw = wire.delta_response(type_url=CLUSTER_TYPE, system_version="s", nonce="8",
                              resources=[("x" * 300, big.hash, big.body)], removed=["gone"],
                              control_plane="xds-a")  # fmt: skip
    delta = discovery_pb2.DeltaDiscoveryResponse.FromString(raw)
    assert [(r.name, r.version) for r in delta.resources] == [("x" * 300, big.hash)]
    assert delta.resources[0].resource.SerializeToString(deterministic=True) == big.body
    assert list(delta.removed_resources) == ["gone"]


def test_the_eds_name_of_a_cluster() -> None:
    assert eds_service_name(make_resource(eds_cluster("a")).body) == "a"
    named = eds_cluster("a")
    named.eds_cluster_config.service_name = "svc-a"
    assert eds_service_name(make_resource(named).body) == "svc-a"
    static = cluster_pb2.Cluster(name="s", type=cluster_pb2.Cluster.STATIC)
    assert eds_service_name(make_resource(static).body) == ""


def test_a_repeated_subscription_keeps_the_shared_name_set() -> None:
    memo, variant = SharedMaps(), SotwVariant()
    states: dict[str, TypeState] = {}
    names = [f"c{i}" for i in range(50)]
    request = discovery_pb2.DiscoveryRequest(type_url=ENDPOINT_TYPE, resource_names=names)
    variant.on_request(request, states, 0.0)
    state = states[ENDPOINT_TYPE]
    plan = plan_sotw(state, MappingProxyType(dict.fromkeys(names, "h")), memo=memo)
    assert plan.first is not None
    state.record_sent(plan.first.known_after, plan.first.version, "p1", plan.first.resources)
    shared = state.names
    assert shared is memo.names(frozenset(names)), "interned when planned"
    # The ACK names the same resources: the stream keeps the shared set, not its own copy.
    ack = discovery_pb2.DiscoveryRequest(
        type_url=ENDPOINT_TYPE, resource_names=names, version_info=plan.first.version,
        response_nonce="p1",
    )  # fmt: skip
    outcome = variant.on_request(ack, states, 0.0)
    assert outcome.acked
    assert not outcome.respond
    assert state.names is shared


def test_a_nodes_locality_is_part_of_its_class() -> None:
    node_id = "sidecar~127.0.0.5~reviews-v1.shop~shop.svc.cluster.local"
    assert locality_text(base_pb2.Locality(region="us", zone="a", sub_zone="1")) == "us/a/1"
    assert locality_text(base_pb2.Locality(region="us")) == "us"
    assert locality_text(base_pb2.Locality()) == ""
    nowhere = identify(node_id, {})
    east = identify(node_id, {}, "us/a")
    assert east.proxy_class.locality == "us/a"
    assert east.proxy_class.class_id != nowhere.proxy_class.class_id
    assert "locality" not in nowhere.proxy_class.to_dict()  # ids of classes without one kept
    assert ProxyClass.from_json(east.proxy_class.to_json()) == east.proxy_class
