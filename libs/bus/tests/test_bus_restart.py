"""Delivery across a nats-server ``kill -9`` and restart on the same port (real NATS only)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from google.protobuf.wrappers_pb2 import Int64Value, StringValue

from mizzen.bus import (
    Bus,
    BusUnavailable,
    ConnectionEvent,
    Endpoint,
    Message,
    NatsBus,
    StreamConfig,
    Subject,
    open_bus,
)
from mizzen.launcher import NatsProcess, PortAllocator
from mizzen.testing import wait_for

pytestmark = pytest.mark.integration

EVENT = Subject("mizzen.test.restart.{n}", Int64Value)
JOB = Subject("mizzen.test.durable.{n}", Int64Value)
ECHO = Endpoint("mizzen.test.restart.echo", StringValue, StringValue)


class Watched:
    """A bus and the connection events it reported."""

    def __init__(self, bus: Bus, events: list[ConnectionEvent]) -> None:
        self.bus = bus
        self.events = events

    def reconnected(self) -> bool:
        return ConnectionEvent.RECONNECTED in self.events and self.bus.is_connected


@pytest_asyncio.fixture
async def watched(nats_server: NatsProcess) -> AsyncIterator[list[Watched]]:
    """Two buses on the test's nats-server, retrying every 50 ms, with their events."""
    opened = []
    for name in ("first", "second"):
        events: list[ConnectionEvent] = []
        bus = await open_bus(
            nats_server.url, name=name, reconnect_wait=0.05, on_connection=events.append
        )
        opened.append(Watched(bus, events))
    try:
        yield opened
    finally:
        for item in opened:
            await item.bus.close(drain_timeout=2.0)


async def restart(server: NatsProcess, clients: list[Watched]) -> None:
    """``kill -9`` the server, start it on the same port, wait until every client is back."""
    await server.kill()
    await server.start()
    await wait_for(
        lambda: all(client.reconnected() for client in clients),
        timeout=10,
        message="every client reconnected",
    )


async def test_core_subscriptions_and_responders_resume_after_a_restart(
    nats_server: NatsProcess, watched: list[Watched]
) -> None:
    subscriber, publisher = watched
    subscription = await subscriber.bus.subscribe(EVENT)

    async def echo(message: Message[StringValue]) -> StringValue:
        return StringValue(value=message.data.value)

    await subscriber.bus.serve(ECHO, echo)
    await publisher.bus.publish(EVENT.bind(n="1"), Int64Value(value=1))
    async with asyncio.timeout(5):
        assert (await anext(subscription)).data.value == 1

    await restart(nats_server, watched)
    await publisher.bus.publish(EVENT.bind(n="2"), Int64Value(value=2))

    async with asyncio.timeout(5):
        assert (await anext(subscription)).data.value == 2
    reply = await publisher.bus.request(ECHO, StringValue(value="back"), timeout=2.0)
    assert reply.value == "back"
    assert subscriber.events[:2] == [ConnectionEvent.CONNECTED, ConnectionEvent.DISCONNECTED]


async def test_stream_messages_not_yet_consumed_are_delivered_after_a_restart(
    nats_server: NatsProcess, watched: list[Watched]
) -> None:
    consumer_side, producer_side = watched
    config = StreamConfig("TEST_RESTART", ("mizzen.test.durable.>",))
    stream = await producer_side.bus.durable_stream(config)
    for n in range(30):
        await stream.publish(JOB.bind(n=str(n)), Int64Value(value=n), msg_id=f"job-{n}")
    consumer = await (await consumer_side.bus.durable_stream(config)).consume(
        "restart-worker", JOB, ack_wait=1.0, batch=5, idle_wait=1.0
    )
    acked = await consumer.fetch(5, timeout=2.0)
    for delivery in acked:
        await delivery.ack()
    in_hand = await consumer.fetch(5, timeout=2.0)  # delivered, never acknowledged
    assert [d.data.value for d in acked + in_hand] == list(range(10))

    await restart(nats_server, watched)

    seen: Counter[int] = Counter()

    async def consume() -> None:
        async for delivery in consumer:
            seen[delivery.data.value] += 1
            await delivery.ack()

    reading = asyncio.create_task(consume())
    try:
        await wait_for(lambda: set(range(5, 30)) <= set(seen), timeout=15, message="messages 5..29")
    finally:
        await consumer.close()
        await reading
    # At least once: everything not acknowledged came back; an acknowledged message may
    # come back too if its ack was not yet on disk when the server died.
    assert set(seen) <= set(range(30))
    assert (await stream.info()).messages == 30


async def test_a_consumer_waiting_across_the_restart_gets_later_messages(
    nats_server: NatsProcess, watched: list[Watched]
) -> None:
    consumer_side, producer_side = watched
    config = StreamConfig("TEST_RESTART_WAIT", ("mizzen.test.durable.>",))
    consumer = await (await consumer_side.bus.durable_stream(config)).consume(
        "waiter",
        JOB,
        idle_wait=30.0,  # far longer than the test: a lost pull must be redone
    )
    pending = asyncio.create_task(anext(consumer))
    nats_bus = consumer_side.bus
    assert isinstance(nats_bus, NatsBus)

    async def pulls_waiting() -> int:
        info = await nats_bus.jetstream.consumer_info(config.name, "waiter")
        return int(info.num_waiting or 0)

    # (The annotation gives mizzen.testing.wait_for's TypeVar a context for async conditions.)
    waiting: int = await wait_for(pulls_waiting, timeout=5, message="the pull to be waiting")
    assert waiting >= 1
    await restart(nats_server, watched)

    stream = await producer_side.bus.durable_stream(config)
    await stream.publish(JOB.bind(n="7"), Int64Value(value=7))

    started = time.monotonic()
    async with asyncio.timeout(10):
        delivery = await pending
    await delivery.ack()
    assert delivery.data.value == 7
    assert time.monotonic() - started < 5.0


async def test_opening_a_bus_with_no_server_fails_after_the_connect_timeout() -> None:
    port = PortAllocator().take()
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match=r"within 0\.3s"):
        await open_bus(f"nats://127.0.0.1:{port}", connect_timeout=0.3, reconnect_wait=0.05)
    assert time.monotonic() - started < 2.0
