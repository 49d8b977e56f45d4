"""The ADS protocol as a client sees it, with a raw gRPC client instead of Envoy: proxyless
named subscriptions, delta's initial versions and removals, refused nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2, struct_pb2
from grpc import aio

from mizzen.envoy import CLUSTER_TYPE, LISTENER_TYPE, make_resource, version_of
from mizzen.launcher import ServiceProcess
from mizzen.snapshots import ProxyClass, ProxyType, inputs_key, snapshot_key
from mizzen.snapshots.status import ProxyStatus, proxy_key
from mizzen.store import Store, Txn
from mizzen.testing import wait_for
from mizzen.xds.testing import CLASS_WAIT, Mesh, eds_cluster


def node(node_id: str, **metadata: str) -> base_pb2.Node:
    meta = struct_pb2.Struct()
    meta.update(metadata)
    return base_pb2.Node(id=node_id, metadata=meta)


@pytest_asyncio.fixture
async def xds(mesh: Mesh) -> ServiceProcess:
    return await mesh.xds_factory("xds-a")


@pytest_asyncio.fixture
async def ads(xds: ServiceProcess) -> AsyncIterator[ads_pb2_grpc.AggregatedDiscoveryServiceStub]:
    async with aio.insecure_channel(xds.grpc_target) as channel:
        yield ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)


async def stored_status(store: Store, proxy_id: str) -> ProxyStatus | None:
    kv = await store.get(proxy_key(proxy_id))
    return ProxyStatus.from_json(kv.value) if kv else None


async def test_a_proxyless_client_gets_what_it_names_once_its_class_exists(
    mesh: Mesh, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub
) -> None:
    proxy_class = ProxyClass.from_node_metadata(ProxyType.PROXYLESS, {"NAMESPACE": "shop"})
    call = ads.StreamAggregatedResources()
    await call.write(
        discovery_pb2.DiscoveryRequest(
            node=node("grpc-client-1", NAMESPACE="shop"),
            type_url=LISTENER_TYPE,
            resource_names=["cart.shop.svc.cluster.local:80"],
        )
    )
    # No snapshot yet: xds asks for the class (the translator would build it) and waits.
    await wait_for(lambda: mesh.store.get(inputs_key(proxy_class.class_id)), timeout=5,
                   message="class inputs written")  # fmt: skip

    listeners = [
        listener_pb2.Listener(name="cart.shop.svc.cluster.local:80"),
        listener_pb2.Listener(name="other.shop.svc.cluster.local:80"),
    ]
    wanted = make_resource(listeners[0])
    await mesh.snapshots.write(proxy_class.class_id, listeners)
    response = await call.read()
    assert response.type_url == LISTENER_TYPE
    assert [r.SerializeToString() for r in response.resources] == [wanted.body]
    assert response.version_info == version_of({wanted.name: wanted.hash})

    await call.write(
        discovery_pb2.DiscoveryRequest(
            type_url=LISTENER_TYPE,
            resource_names=[wanted.name],
            version_info=response.version_info,
            response_nonce=response.nonce,
        )
    )
    status = await wait_for(
        lambda: _acked(mesh.store, "grpc-client-1", LISTENER_TYPE), timeout=5, message="ACK"
    )
    assert status.class_id == proxy_class.class_id
    assert status.class_id.startswith("proxyless-shop-")
    call.cancel()


async def test_delta_sends_only_what_the_client_lacks_and_removes_last(
    mesh: Mesh, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub
) -> None:
    node_id = "sidecar~127.0.0.9~pay-1.shop~shop.svc.cluster.local"
    proxy_class = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"NAMESPACE": "shop"})
    a, b = make_resource(eds_cluster("a")), make_resource(eds_cluster("b"))
    await mesh.snapshots.write(proxy_class.class_id, [eds_cluster("a"), eds_cluster("b")])

    call = ads.DeltaAggregatedResources()
    # Reconnected: the client holds "a" as it is and an outdated "b".
    await call.write(
        discovery_pb2.DeltaDiscoveryRequest(
            node=node(node_id, NAMESPACE="shop"),
            type_url=CLUSTER_TYPE,
            initial_resource_versions={"a": a.hash, "b": "outdated"},
        )
    )
    response = await call.read()
    assert [(r.name, r.version) for r in response.resources] == [("b", b.hash)]
    assert response.resources[0].resource == any_pb2.Any.FromString(b.body)
    assert response.system_version_info == version_of({"a": a.hash, "b": b.hash})
    await call.write(
        discovery_pb2.DeltaDiscoveryRequest(type_url=CLUSTER_TYPE, response_nonce=response.nonce)
    )

    # "a" changes and "b" goes: the update comes first, the removal after it.
    a2 = make_resource(eds_cluster("a", connect_timeout=3))
    await mesh.snapshots.write(proxy_class.class_id, [eds_cluster("a", connect_timeout=3)])
    update = await call.read()
    assert [(r.name, r.version) for r in update.resources] == [("a", a2.hash)]
    assert list(update.removed_resources) == []
    # (Removals wait for the changed cluster to warm: the client says it did by its ACK.)
    await call.write(
        discovery_pb2.DeltaDiscoveryRequest(type_url=CLUSTER_TYPE, response_nonce=update.nonce)
    )
    removal = await call.read()
    assert list(removal.resources) == []
    assert list(removal.removed_resources) == ["b"]
    assert removal.system_version_info == version_of({"a": a2.hash})
    call.cancel()


async def test_a_node_that_cannot_be_served_is_refused(
    ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub,
) -> None:
    call = ads.StreamAggregatedResources()
    await call.write(
        discovery_pb2.DiscoveryRequest(node=node("gateway~1~x"), type_url=CLUSTER_TYPE)
    )
    with pytest.raises(aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "gateway~1~x" in (refused.value.details() or "")


async def _acked(store: Store, proxy_id: str, type_url: str) -> ProxyStatus | None:
    status = await stored_status(store, proxy_id)
    if status is None or type_url not in status.types:
        return None
    entry = status.types[type_url]
    return status if entry.acked_version and entry.acked_version == entry.sent_version else None


async def test_proxies_of_a_class_get_one_encoded_response_and_a_repeat_gets_its_own_nonce(
    mesh: Mesh, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub
) -> None:
    proxy_class = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"NAMESPACE": "shop"})
    await mesh.snapshots.write(proxy_class.class_id, [eds_cluster("a")])
    calls = [ads.StreamAggregatedResources() for _ in range(3)]
    try:
        first = []
        for index, call in enumerate(calls):
            node_id = f"sidecar~127.0.0.{index + 20}~pay-{index}.shop~shop.svc.cluster.local"
            await call.write(discovery_pb2.DiscoveryRequest(node=node(node_id),
                                                            type_url=CLUSTER_TYPE))  # fmt: skip
            first.append(await call.read())
        # Equal state, equal response: the bytes (nonce included) are shared.
        assert len({r.SerializeToString() for r in first}) == 1
        assert first[0].nonce.startswith("p")

        for call, response in zip(calls, first, strict=True):
            await call.write(discovery_pb2.DiscoveryRequest(
                type_url=CLUSTER_TYPE, version_info=response.version_info,
                response_nonce=response.nonce))  # fmt: skip
        await mesh.snapshots.write(proxy_class.class_id, [eds_cluster("a"), eds_cluster("b")])
        changed = [await call.read() for call in calls]
        assert len({r.SerializeToString() for r in changed}) == 1
        assert changed[0].nonce not in {first[0].nonce}
        assert len(changed[0].resources) == 2

        # The first proxy ACKs, then asks again with the same nonce (as Envoy does when it
        # re-warms): answered with the same content under a nonce of its own, once.
        ack = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE,
                                             version_info=changed[0].version_info,
                                             response_nonce=changed[0].nonce)  # fmt: skip
        await calls[0].write(ack)
        await calls[0].write(ack)
        again = await calls[0].read()
        assert again.version_info == changed[0].version_info
        assert not again.nonce.startswith("p")
        assert again.nonce != changed[0].nonce
        await calls[0].write(discovery_pb2.DiscoveryRequest(
            type_url=CLUSTER_TYPE, version_info=again.version_info,
            response_nonce=again.nonce))  # fmt: skip

        async def acked_again() -> bool:
            status = await stored_status(mesh.store, "pay-0.shop")
            return status is not None and status.types[CLUSTER_TYPE].acked_nonce == again.nonce

        await wait_for(acked_again, timeout=5, message="the repeat ACKed")
    finally:
        for call in calls:
            call.cancel()


async def test_a_connected_proxy_whose_class_was_retired_asks_for_it_again(
    mesh: Mesh, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub
) -> None:
    proxy_class = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"NAMESPACE": "shop"})
    await mesh.snapshots.write(proxy_class.class_id, [eds_cluster("a")])
    call = ads.StreamAggregatedResources()
    try:
        node_id = "sidecar~127.0.0.30~pay-9.shop~shop.svc.cluster.local"
        await call.write(discovery_pb2.DiscoveryRequest(node=node(node_id), type_url=CLUSTER_TYPE))
        first = await call.read()
        await call.write(discovery_pb2.DiscoveryRequest(
            type_url=CLUSTER_TYPE, version_info=first.version_info,
            response_nonce=first.nonce))  # fmt: skip
        # The translator retires the class (as it does when it thinks nobody uses it): both
        # keys go in one transaction, as SnapshotWriter.retire_classes deletes them. (Two
        # separate deletes race: xds may ask again between them, and the second delete
        # would then remove its request.)
        await mesh.store.commit(
            Txn()
            .then_delete(snapshot_key(proxy_class.class_id))
            .then_delete(inputs_key(proxy_class.class_id))
        )
        await wait_for(lambda: mesh.store.get(inputs_key(proxy_class.class_id)), timeout=5,
                       message="the class asked for again")  # fmt: skip
    finally:
        call.cancel()


async def test_a_class_request_lost_to_a_retirement_is_made_again(
    mesh: Mesh, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub
) -> None:
    """A proxy of a new class connects, xds asks for the class, and the request is deleted
    before any translation (a retirement racing it): xds asks again after CLASS_WAIT."""
    proxy_class = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"NAMESPACE": "lost"})
    call = ads.StreamAggregatedResources()
    try:
        node_id = "sidecar~127.0.0.31~pay-1.lost~lost.svc.cluster.local"
        await call.write(discovery_pb2.DiscoveryRequest(node=node(node_id), type_url=CLUSTER_TYPE))
        key = inputs_key(proxy_class.class_id)
        first = await wait_for(lambda: mesh.store.get(key), timeout=5, message="the request")
        await mesh.store.delete(key)
        again = await wait_for(lambda: mesh.store.get(key), timeout=CLASS_WAIT * 5,
                               message="the class asked for again")  # fmt: skip
        assert again.mod_revision > first.mod_revision
        # Once translated, the proxy gets it.
        await mesh.snapshots.write(proxy_class.class_id, [eds_cluster("b")])
        response = await asyncio.wait_for(call.read(), timeout=5)
        assert response.type_url == CLUSTER_TYPE
        assert len(response.resources) == 1
    finally:
        call.cancel()
