"""RegistryWriter: lease-bound registrations and reconciliation of a source's desired values."""

from __future__ import annotations

import asyncio

import pytest

from mizzen.registry import (
    REGISTRY_PREFIX,
    Endpoint,
    Fence,
    FenceLost,
    PlannedDelete,
    PlannedPut,
    Protocol,
    RegistryWriter,
    Service,
    ServicePort,
    decode_endpoint,
    decode_service,
    desired_values,
    encode_endpoint,
    encode_service,
    endpoint_key,
    merge_service,
    plan_reconcile,
    service_key,
    value_source,
)
from mizzen.store import KeyValue, Store

HOST = "reviews.default.svc.cluster.local"


def service(*ports: int, source: str = "agent", host: str = HOST) -> Service:
    return Service(host, "default", tuple(ServicePort(p) for p in ports), source=source)


def endpoint(workload: str, *, source: str = "agent", host: str = HOST) -> Endpoint:
    return Endpoint(host, "default", workload, "10.0.0.1", {9080: 9080}, source=source)


def kv(key: str, value: bytes, mod_revision: int, lease: int = 0) -> KeyValue:
    return KeyValue(key.encode(), value, mod_revision, mod_revision, 1, lease)


async def stored(store: Store) -> dict[str, object]:
    """Everything under the registry prefix, decoded."""
    listing = await store.range(REGISTRY_PREFIX)
    result: dict[str, object] = {}
    for item in listing.kvs:
        key = item.key.decode()
        decode = decode_service if key.startswith("/mizzen/registry/services/") else decode_endpoint
        result[key] = decode(item.value)
    return result


# -- pure helpers ----------------------------------------------------------------------------


def test_merge_service() -> None:
    assert merge_service(None, service(80)) == service(80)
    merged = merge_service(
        service(80, 90),
        Service(
            HOST, "default", (ServicePort(90, Protocol.GRPC, "g"), ServicePort(70)), source="agent"
        ),
    )
    assert merged is not None
    assert [(p.number, p.protocol) for p in merged.ports] == [
        (70, Protocol.HTTP),
        (80, Protocol.HTTP),
        (90, Protocol.GRPC),
    ]
    assert merge_service(service(80, 90), service(90)) is None  # nothing new
    assert merge_service(service(80, source="serviceentry"), service(90)) is None  # not ours


def test_plan_reconcile() -> None:
    owned = {"serviceentry"}
    keep = service(80, source="serviceentry", host="keep.example.com")
    change = service(80, source="serviceentry", host="change.example.com")
    stale = service(80, source="serviceentry", host="stale.example.com")
    stale_endpoint = endpoint("old", source="serviceentry", host="stale.example.com")
    agents = service(80, source="agent", host="agent.example.com")
    taken = service(80, source="agent", host="taken.example.com")
    current = [
        kv(service_key(keep.hostname), encode_service(keep), 5),
        kv(service_key(change.hostname), encode_service(change), 6),
        kv(service_key(stale.hostname), encode_service(stale), 7),
        kv(endpoint_key(stale.hostname, "default.old"), encode_endpoint(stale_endpoint), 8),
        kv(service_key(agents.hostname), encode_service(agents), 9),
        kv(service_key(taken.hostname), encode_service(taken), 10),
        kv(service_key("junk"), b"not json", 11),
    ]
    new = service(80, source="serviceentry", host="new.example.com")
    desired = desired_values(
        [
            keep,
            service(80, 81, source="serviceentry", host="change.example.com"),
            new,
            service(443, source="serviceentry", host="taken.example.com"),
        ],
        [endpoint("e1", source="serviceentry", host="new.example.com")],
    )
    plan = plan_reconcile(desired, current, owned)
    assert [(p.key, p.mod_revision) for p in plan.puts] == [
        (service_key("change.example.com"), 6),
        (service_key("new.example.com"), 0),
        (service_key("taken.example.com"), 10),  # desired values win over other sources
        (endpoint_key("new.example.com", "default.e1"), 0),  # endpoints after services
    ]
    assert plan.deletes == (
        PlannedDelete(endpoint_key("stale.example.com", "default.old"), 8),  # before its service
        PlannedDelete(service_key("stale.example.com"), 7),
    )
    assert isinstance(plan.puts[0], PlannedPut)
    assert plan_reconcile(desired, current, set()).deletes == ()
    assert plan_reconcile({}, [], owned).empty


def test_value_source() -> None:
    assert value_source(encode_service(service(80, source="x"))) == "x"
    assert value_source(b"[1, 2]") is None
    assert value_source(b"garbage") is None


# -- against etcd ----------------------------------------------------------------------------


async def test_register_merges_services_and_leases_endpoints(store: Store) -> None:
    writer = RegistryWriter(store)
    async with await store.grant(5) as first_lease:
        await writer.register([service(9080)], [endpoint("v1")], lease=first_lease)
        second_lease = await store.grant(5)
        await writer.register([service(9090)], [endpoint("v2")], lease=second_lease)
        content = await stored(store)
        assert content[service_key(HOST)] == service(9080, 9090)
        endpoint_kv = await store.get(endpoint_key(HOST, "default.v1"))
        assert endpoint_kv is not None
        assert endpoint_kv.lease == first_lease.id
        await second_lease.revoke()
        assert set(await stored(store)) == {
            service_key(HOST),
            endpoint_key(HOST, "default.v1"),
        }
    # Both leases gone: the endpoints went, the service stays (with every port).
    assert await stored(store) == {service_key(HOST): service(9080, 9090)}


async def test_register_leaves_services_of_other_sources_alone(store: Store) -> None:
    writer = RegistryWriter(store)
    declared = service(443, source="serviceentry")
    await writer.put_service(declared)
    async with await store.grant(5) as lease:
        await writer.register([service(9080)], [endpoint("v1")], lease=lease)
        assert (await stored(store))[service_key(HOST)] == declared
        assert endpoint_key(HOST, "default.v1") in await stored(store)


async def test_concurrent_registrations_lose_no_port(store: Store) -> None:
    writer = RegistryWriter(store, max_attempts=20)
    async with await store.grant(5) as lease:
        await asyncio.gather(
            *(
                writer.register([service(9000 + i)], [endpoint(f"w{i}")], lease=lease)
                for i in range(10)
            )
        )
    merged = (await stored(store))[service_key(HOST)]
    assert isinstance(merged, Service)
    assert [p.number for p in merged.ports] == [9000 + i for i in range(10)]


async def test_reconcile_writes_only_the_difference(store: Store) -> None:
    writer = RegistryWriter(store, batch_size=2)
    agent_endpoint = endpoint("agent-1")
    async with await store.grant(5) as lease:
        await writer.register([service(9080)], [agent_endpoint], lease=lease)
        owned = {"serviceentry", "workloadentry"}
        hosts = [f"h{i}.example.com" for i in range(3)]
        desired = desired_values(
            [service(80, source="serviceentry", host=h) for h in hosts],
            [endpoint("w", source="workloadentry", host=h) for h in hosts],
        )
        first = await writer.reconcile(owned, desired)
        assert (first.puts, first.deletes, len(first.written)) == (6, 0, 3)  # 3 batches of 2
        assert first.keys == frozenset(desired)

        again = await writer.reconcile(owned, desired)
        assert (again.puts, again.deletes, again.written) == (0, 0, ())

        smaller = {k: v for k, v in desired.items() if "h0" not in k}
        third = await writer.reconcile(owned, smaller)
        assert (third.puts, third.deletes) == (0, 2)
        content = await stored(store)
        assert not any("h0." in key for key in content)
        # The agent's values are not the reconciler's.
        assert content[endpoint_key(HOST, "default.agent-1")] == agent_endpoint
        assert await writer.delete_source("workloadentry") == 2
        assert {value_source(v.value) for v in (await store.range(REGISTRY_PREFIX)).kvs} == {
            "agent",
            "serviceentry",
        }


async def test_a_lost_fence_stops_every_write(store: Store) -> None:
    writer = RegistryWriter(store)
    fence_key = b"/mizzen/elections/test/leader"
    revision = await store.put(fence_key, b"me")
    fence = Fence(fence_key, revision)
    desired = desired_values([service(80, source="serviceentry")], [])
    await writer.reconcile({"serviceentry"}, desired, fence=fence)
    assert service_key(HOST) in await stored(store)

    await store.delete(fence_key)
    await store.put(fence_key, b"someone else")  # re-created: a new leader
    with pytest.raises(FenceLost):
        await writer.reconcile({"serviceentry"}, {}, fence=fence)
    assert service_key(HOST) in await stored(store)
