"""RegistryView: an immutable Registry kept current from a listing and watch items."""

from __future__ import annotations

from mizzen.registry import (
    REGISTRY_PREFIX,
    Endpoint,
    RegistryView,
    Service,
    ServicePort,
    encode_endpoint,
    encode_service,
    endpoint_key,
    service_key,
)
from mizzen.store import Event, EventType, KeyValue, Reset, Store

REVIEWS = Service("reviews.default.svc.cluster.local", "default", (ServicePort(9080),))
RATINGS = Service("ratings.default.svc.cluster.local", "default", (ServicePort(9080),))


def endpoint(workload: str, service: Service = REVIEWS) -> Endpoint:
    return Endpoint(service.hostname, "default", workload, "10.0.0.1", {9080: 9080})


def kv(key: str, value: bytes, revision: int) -> KeyValue:
    return KeyValue(key.encode(), value, revision, revision, 1)


def put_service(service: Service, revision: int) -> Event:
    return Event(
        EventType.PUT, kv(service_key(service.hostname), encode_service(service), revision)
    )


def put_endpoint(ep: Endpoint, revision: int) -> Event:
    key = endpoint_key(ep.service, ep.endpoint_id)
    return Event(EventType.PUT, kv(key, encode_endpoint(ep), revision))


def test_events_build_the_registry() -> None:
    view = RegistryView()
    view.apply(put_service(REVIEWS, 2))
    view.apply(put_endpoint(endpoint("b"), 3))
    view.apply(put_endpoint(endpoint("a"), 4))
    registry = view.current
    assert registry.revision == 4
    assert dict(registry.services) == {REVIEWS.hostname: REVIEWS}
    assert [e.workload for e in registry.endpoints_of(REVIEWS.hostname)] == ["a", "b"]
    assert view.current is registry  # cached until the next item

    gone = endpoint_key(REVIEWS.hostname, "default.a")
    view.apply(Event(EventType.DELETE, KeyValue(gone.encode(), b"", 0, 5, 0)))
    assert [e.workload for e in view.current.endpoints_of(REVIEWS.hostname)] == ["b"]
    assert view.current.endpoints_of("nothing.here") == ()


def test_a_reset_replaces_everything() -> None:
    view = RegistryView()
    view.apply(put_service(REVIEWS, 2))
    view.apply(put_endpoint(endpoint("a"), 3))
    listing = (
        kv(service_key(RATINGS.hostname), encode_service(RATINGS), 7),
        kv(endpoint_key(RATINGS.hostname, "default.r"), encode_endpoint(endpoint("r", RATINGS)), 8),
    )
    view.apply(Reset(listing, revision=9, compact_revision=6))
    registry = view.current
    assert registry.revision == 9
    assert list(registry.services) == [RATINGS.hostname]
    assert list(registry.endpoints) == [RATINGS.hostname]


def test_undecodable_values_are_skipped() -> None:
    view = RegistryView()
    view.apply(put_service(REVIEWS, 2))
    view.apply(Event(EventType.PUT, kv(service_key("broken"), b"{not json", 3)))
    view.apply(Event(EventType.PUT, kv(endpoint_key("x", "default.y"), b'{"service": "x"}', 4)))
    assert list(view.current.services) == [REVIEWS.hostname]
    assert dict(view.current.endpoints) == {}


async def test_load_and_a_watch_reset_after_compaction(store: Store) -> None:
    await store.put(service_key(REVIEWS.hostname), encode_service(REVIEWS))
    view = RegistryView()
    start = await view.load(store)
    assert list(view.current.services) == [REVIEWS.hostname]
    assert view.current.revision == start

    # Changes the view misses, then history compacted: the watch can only reset.
    await store.put(service_key(RATINGS.hostname), encode_service(RATINGS))
    deleted = await store.delete(service_key(REVIEWS.hostname))
    await store.compact(deleted.revision)
    async with store.watch(REGISTRY_PREFIX, start_revision=start + 1) as watch:
        item = await anext(watch)
    assert isinstance(item, Reset)
    view.apply(item)
    assert list(view.current.services) == [RATINGS.hostname]
    assert view.current.revision == item.revision
