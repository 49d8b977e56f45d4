"""Resources serialized once and addressed by content; snapshots, versions and diffs."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from google.protobuf import any_pb2, duration_pb2

from mizzen.envoy import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    DuplicateResourceError,
    EnvoyResource,
    ResourceDiff,
    ResourceError,
    Snapshot,
    TypeSnapshot,
    UnknownTypeError,
    decode,
    diff_hashes,
    make_resource,
    message_class,
    pack,
    resolve_type,
    short_name,
    version_of,
    xds_abbreviation,
)

KEYS = [f"key-{i:02d}" for i in range(24)]


def _route_config(keys: list[str]) -> Any:
    """A RouteConfiguration whose map fields (metadata Struct, typed_per_filter_config)
    are filled in the order of ``keys``."""
    route = route_components_pb2.Route(name="default")
    route.match.prefix = "/"
    route.route.cluster = "outbound|9080||reviews.default.svc.cluster.local"
    for key in keys:
        route.metadata.filter_metadata["mizzen"].fields[key].string_value = key
        fault = fault_pb2.HTTPFault()
        fault.abort.http_status = 503
        route.typed_per_filter_config[f"envoy.filters.http.{key}"].CopyFrom(pack(fault))
    config = route_pb2.RouteConfiguration(name="9080")
    host = config.virtual_hosts.add(name="reviews.default.svc.cluster.local:9080")
    host.domains.append("reviews")
    host.routes.append(route)
    return config


def test_map_insertion_order_does_not_change_the_hash() -> None:
    forward = _route_config(KEYS)
    backward = _route_config(list(reversed(KEYS)))
    # The test is only worth something if plain serialization does depend on the order.
    assert forward.SerializeToString() != backward.SerializeToString()
    assert make_resource(forward).hash == make_resource(backward).hash
    assert make_resource(forward).body == make_resource(backward).body


def test_nested_messages_must_be_packed_deterministically() -> None:
    def listener(keys: list[str], packer: Any) -> Any:
        hcm = http_connection_manager_pb2.HttpConnectionManager(stat_prefix="outbound")
        hcm.route_config.CopyFrom(_route_config(keys))
        result = listener_pb2.Listener(name="127.0.0.5_15001")
        network_filter = result.filter_chains.add().filters.add(name="hcm")
        network_filter.typed_config.CopyFrom(packer(hcm))
        return result

    def plain_pack(message: Any) -> Any:
        packed = any_pb2.Any()
        packed.Pack(message)
        return packed

    reversed_keys = list(reversed(KEYS))
    assert (
        make_resource(listener(KEYS, pack)).hash
        == make_resource(listener(reversed_keys, pack)).hash
    )
    # Any.Pack alone keeps insertion order inside the packed bytes: the hashes differ.
    assert (
        make_resource(listener(KEYS, plain_pack)).hash
        != make_resource(listener(reversed_keys, plain_pack)).hash
    )


def test_resource_holds_the_packed_any_and_its_sha256() -> None:
    cluster = cluster_pb2.Cluster(name="outbound|9080||reviews.default.svc.cluster.local")
    resource = make_resource(cluster)
    assert resource.name == cluster.name
    assert resource.type_url == CLUSTER_TYPE
    assert resource.hash == hashlib.sha256(resource.body).hexdigest()
    packed = resource.to_any()
    assert packed.type_url == CLUSTER_TYPE
    assert packed.value == cluster.SerializeToString(deterministic=True)
    assert decode(resource) == cluster
    assert isinstance(decode(resource), cluster_pb2.Cluster)


def test_the_type_url_is_part_of_the_hash() -> None:
    # name is field 1 in both messages, so their bytes are equal; their hashes must not be.
    cluster = cluster_pb2.Cluster(name="x")
    listener = listener_pb2.Listener(name="x")
    assert cluster.SerializeToString() == listener.SerializeToString()
    assert make_resource(cluster).hash != make_resource(listener).hash


def test_names_come_from_the_message_or_the_caller() -> None:
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name="outbound|9080||reviews")
    assert make_resource(assignment).name == "outbound|9080||reviews"
    assert make_resource(assignment).type_url == ENDPOINT_TYPE
    assert make_resource(cluster_pb2.Cluster(), name="given").name == "given"
    with pytest.raises(ResourceError, match="has no name"):
        make_resource(cluster_pb2.Cluster())
    with pytest.raises(ResourceError, match="has no name"):
        make_resource(duration_pb2.Duration(seconds=1))


def test_stored_bytes_come_back_as_the_same_resource() -> None:
    resource = make_resource(_route_config(KEYS))
    assert EnvoyResource.from_body(resource.name, resource.body) == resource
    with pytest.raises(ResourceError, match="not a packed Any"):
        EnvoyResource.from_body("broken", b"\xff\xff\xff")


def test_decode_refuses_unknown_types_and_broken_bytes() -> None:
    unknown = make_resource(duration_pb2.Duration(seconds=1), name="d")
    with pytest.raises(UnknownTypeError):
        decode(unknown)
    broken_value = any_pb2.Any(type_url=CLUSTER_TYPE, value=b"\xff\xff").SerializeToString()
    with pytest.raises(ResourceError, match="does not decode"):
        decode(EnvoyResource("bad", CLUSTER_TYPE, broken_value, "0"))


def test_type_names_resolve_every_way() -> None:
    for spelling in ("clusters", "CDS", "cds", CLUSTER_TYPE):
        assert resolve_type(spelling) == CLUSTER_TYPE
    assert short_name(ROUTE_TYPE) == "routes"
    assert xds_abbreviation(ENDPOINT_TYPE) == "EDS"
    assert message_class(LISTENER_TYPE) is listener_pb2.Listener
    assert PUSH_ORDER[:4] == (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE)
    with pytest.raises(UnknownTypeError, match="clusters"):
        resolve_type("pods")
    with pytest.raises(UnknownTypeError):
        short_name("type.googleapis.com/google.protobuf.Duration")


def _clusters(*names: str, timeout: int = 1) -> list[EnvoyResource]:
    out = []
    for name in names:
        cluster = cluster_pb2.Cluster(name=name)
        cluster.connect_timeout.FromSeconds(timeout)
        out.append(make_resource(cluster))
    return out


def test_version_is_stable_and_order_independent() -> None:
    a, b, c = _clusters("a", "b", "c")
    assert (
        TypeSnapshot(CLUSTER_TYPE, [a, b, c]).version
        == TypeSnapshot(CLUSTER_TYPE, [c, a, b]).version
    )
    assert version_of({"a": "1", "b": "2"}) == version_of({"b": "2", "a": "1"})
    assert len(version_of({})) == 16
    changed = _clusters("b", timeout=2)[0]
    assert (
        TypeSnapshot(CLUSTER_TYPE, [a, changed, c]).version
        != TypeSnapshot(CLUSTER_TYPE, [a, b, c]).version
    )
    # the name matters as well as the content
    assert version_of({"a": "1"}) != version_of({"b": "1"})
    assert version_of({"ab": "c"}) != version_of({"a": "bc"})


def test_snapshot_groups_by_type_in_push_order() -> None:
    route = make_resource(_route_config(KEYS))
    listener = make_resource(listener_pb2.Listener(name="l"))
    assignment = make_resource(endpoint_pb2.ClusterLoadAssignment(cluster_name="a"))
    clusters = _clusters("a", "b")
    snapshot = Snapshot([route, listener, assignment, *clusters])
    assert list(snapshot) == [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]
    assert snapshot.hashes(CLUSTER_TYPE) == {"a": clusters[0].hash, "b": clusters[1].hash}
    assert snapshot[ROUTE_TYPE]["9080"] is route
    assert [r.name for r in snapshot.resources()] == ["a", "b", "a", "l", "9080"]
    assert snapshot.version(CLUSTER_TYPE) == version_of(snapshot.hashes(CLUSTER_TYPE))
    # a type without resources: absent from the mapping, empty through of_type
    secret_type = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
    assert secret_type not in snapshot
    assert len(snapshot.of_type(secret_type)) == 0
    assert snapshot.version(secret_type) == version_of({})
    with pytest.raises(TypeError):
        snapshot.hashes(CLUSTER_TYPE)["c"] = "x"  # type: ignore[index]  # proving it is read-only


def test_snapshot_refuses_duplicates_and_foreign_types() -> None:
    with pytest.raises(DuplicateResourceError) as caught:
        Snapshot([*_clusters("a"), *_clusters("a", timeout=2)])
    assert caught.value.name == "a"
    with pytest.raises(ResourceError, match="not a"):
        TypeSnapshot(LISTENER_TYPE, _clusters("a"))


DIFFS = [
    ("nothing", {"a": "1"}, {"a": "1"}, ResourceDiff((), (), ())),
    ("from-empty", {}, {"b": "2", "a": "1"}, ResourceDiff(("a", "b"), (), ())),
    ("to-empty", {"a": "1"}, {}, ResourceDiff((), (), ("a",))),
    ("mixed", {"a": "1", "b": "2", "c": "3"}, {"b": "2", "c": "30", "d": "4"},
     ResourceDiff(("d",), ("c",), ("a",))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "expected"), [d[1:] for d in DIFFS], ids=[d[0] for d in DIFFS]
)
def test_diff_of_name_to_hash_maps(
    old: dict[str, str], new: dict[str, str], expected: ResourceDiff
) -> None:
    result = diff_hashes(old, new)
    assert result == expected
    assert result.empty == (expected == ResourceDiff((), (), ()))
    assert result.updated == tuple(sorted((*expected.added, *expected.changed)))
