"""The durable-stream contract (JetStream), run against the in-memory twin and real NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from google.protobuf.wrappers_pb2 import Int64Value

from mizzen.bus import (
    AckError,
    Bus,
    Delivery,
    DurableStream,
    NoStream,
    StreamConfig,
    StreamError,
    Subject,
)
from mizzen.testing import wait_for

BusFactory = Callable[..., Awaitable[Bus]]

JOB = Subject("mizzen.test.jobs.{kind}.{n}", Int64Value)
RAW_JOB = Subject("mizzen.test.jobs.{kind}.{n}", bytes)
CONFIG = StreamConfig("TEST_JOBS", ("mizzen.test.jobs.>",))


async def publish_range(stream: DurableStream, numbers: range, kind: str = "build") -> None:
    for n in numbers:
        await stream.publish(JOB.bind(kind=kind, n=str(n)), Int64Value(value=n))


def values(deliveries: list[Delivery[Int64Value]]) -> list[int]:
    return [delivery.data.value for delivery in deliveries]


async def test_published_messages_are_stored_and_delivered_in_order(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    first = await stream.publish(JOB.bind(kind="build", n="0"), Int64Value(value=0))
    await publish_range(stream, range(1, 5))
    consumer = await stream.consume("worker", JOB, ack_wait=5.0)

    deliveries = await consumer.fetch(10, timeout=2.0)

    assert first.stream == "TEST_JOBS"
    assert first.sequence == 1
    assert values(deliveries) == [0, 1, 2, 3, 4]
    assert [d.num_delivered for d in deliveries] == [1] * 5
    assert deliveries[2].tokens == {"kind": "build", "n": "2"}
    assert [d.stream_sequence for d in deliveries] == [1, 2, 3, 4, 5]
    for delivery in deliveries:
        await delivery.ack()
    assert await consumer.fetch(1, timeout=0.2) == []
    info = await stream.info()
    assert (info.messages, info.first_sequence, info.last_sequence) == (5, 1, 5)


async def test_an_unacknowledged_delivery_comes_back_after_ack_wait(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    await publish_range(stream, range(1))
    consumer = await stream.consume("worker", JOB, ack_wait=0.3)

    [first] = await consumer.fetch(1, timeout=2.0)
    [again] = await consumer.fetch(1, timeout=3.0)  # not acked: redelivered after 0.3 s

    assert again.stream_sequence == first.stream_sequence
    assert (first.num_delivered, again.num_delivered) == (1, 2)
    await again.ack()
    assert await consumer.fetch(1, timeout=0.6) == []


async def test_nak_redelivers_and_term_never_does(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    await publish_range(stream, range(2))
    consumer = await stream.consume("worker", JOB, ack_wait=30.0)

    first, second = await consumer.fetch(2, timeout=2.0)
    await first.nak()
    await second.term()
    [again] = await consumer.fetch(2, timeout=2.0)

    assert (again.data.value, again.num_delivered) == (0, 2)
    await again.ack()
    with pytest.raises(AckError):
        await again.ack()
    assert await consumer.fetch(1, timeout=0.3) == []


async def test_a_repeated_msg_id_is_stored_once(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    subject = JOB.bind(kind="build", n="1")

    first = await stream.publish(subject, Int64Value(value=1), msg_id="job-1")
    second = await stream.publish(subject, Int64Value(value=1), msg_id="job-1")

    assert not first.duplicate
    assert second.duplicate
    assert second.sequence == first.sequence
    assert (await stream.info()).messages == 1
    [delivery] = await (await stream.consume("reader", JOB)).fetch(2, timeout=0.5)
    assert delivery.headers.get("Nats-Msg-Id") == "job-1"


async def test_readers_of_one_durable_share_its_messages(connect: BusFactory) -> None:
    first_bus, second_bus = await connect(), await connect()
    stream = await first_bus.durable_stream(CONFIG)
    await publish_range(stream, range(20))
    readers = [
        await (await bus.durable_stream(CONFIG)).consume("shared", JOB, batch=3, idle_wait=0.5)
        for bus in (first_bus, second_bus)
    ]
    got: list[list[int]] = [[], []]

    async def drain(index: int) -> None:
        async for delivery in readers[index]:
            got[index].append(delivery.data.value)
            await delivery.ack()

    tasks = [asyncio.create_task(drain(index)) for index in (0, 1)]
    try:
        await wait_for(lambda: len(got[0]) + len(got[1]) >= 20, timeout=10, message="all 20")
    finally:
        for reader in readers:
            await reader.close()
        await asyncio.gather(*tasks)

    assert sorted(got[0] + got[1]) == list(range(20)), "each message once across readers"


async def test_progress_belongs_to_the_durable_name_not_the_reader(connect: BusFactory) -> None:
    stream = await (await connect()).durable_stream(CONFIG)
    await publish_range(stream, range(6))
    reader = await stream.consume("progress", JOB)
    for delivery in await reader.fetch(3, timeout=2.0):
        await delivery.ack()
    await reader.close()

    later = await (await connect()).durable_stream(CONFIG)
    fresh = await later.consume("progress", JOB)
    other = await later.consume("another", JOB)

    assert values(await fresh.fetch(10, timeout=2.0)) == [3, 4, 5]
    assert values(await other.fetch(10, timeout=2.0)) == [0, 1, 2, 3, 4, 5]


async def test_a_consumer_filter_selects_by_token(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    await publish_range(stream, range(3), kind="build")
    await publish_range(stream, range(3, 5), kind="test")

    tests_only = await stream.consume("tests", JOB.bind(kind="test"))

    assert values(await tests_only.fetch(10, timeout=2.0)) == [3, 4]


async def test_undecodable_stream_messages_are_terminated_and_counted(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    await stream.publish(RAW_JOB.bind(kind="build", n="0"), b"\x08\x80")  # truncated varint
    await publish_range(stream, range(1, 2))
    consumer = await stream.consume("worker", JOB, ack_wait=0.3)

    [good] = await consumer.fetch(2, timeout=2.0)
    await good.ack()

    assert good.data.value == 1
    assert consumer.decode_errors == 1
    assert await consumer.fetch(1, timeout=0.8) == [], "a terminated message came back"


async def test_run_acks_on_success_and_naks_on_failure(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    await publish_range(stream, range(3))
    consumer = await stream.consume("runner", JOB, idle_wait=0.5)
    attempts: list[tuple[int, int]] = []

    async def handle(delivery: Delivery[Int64Value]) -> None:
        attempts.append((delivery.data.value, delivery.num_delivered))
        if delivery.data.value == 1 and delivery.num_delivered == 1:
            raise RuntimeError("first attempt fails")

    running = asyncio.create_task(consumer.run(handle))
    try:
        await wait_for(lambda: (1, 2) in attempts, timeout=10, message="the retry of message 1")
    finally:
        await consumer.close()
        await running

    assert sorted(attempts) == [(0, 1), (1, 1), (1, 2), (2, 1)]


async def test_stream_publishes_reach_core_subscribers_too(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    subscription = await bus.subscribe(JOB)

    await publish_range(stream, range(1))

    async with asyncio.timeout(5):
        message = await anext(subscription)
    assert message.data.value == 0


async def test_stream_errors_are_typed(bus: Bus) -> None:
    stream = await bus.durable_stream(CONFIG)
    elsewhere = Subject("mizzen.test.elsewhere", Int64Value)

    with pytest.raises(NoStream):
        await stream.publish(elsewhere, Int64Value(value=1), timeout=1.0)
    with pytest.raises(StreamError):
        await bus.durable_stream(StreamConfig("TEST_OVERLAP", ("mizzen.test.jobs.build.*",)))
    with pytest.raises(NoStream):
        await stream.delete_consumer("never-created")
    with pytest.raises(StreamError, match="not within stream"):
        await stream.consume("lost", Subject("mizzen.test.other.{n}", Int64Value))

    await bus.delete_stream(CONFIG.name)
    with pytest.raises(NoStream):
        await bus.delete_stream(CONFIG.name)


async def test_an_iterating_consumer_recreates_a_vanished_stream(connect: BusFactory) -> None:
    # What a server that lost its state (memory storage, a new node) looks like to a client.
    reader_bus, admin_bus = await connect(), await connect()
    consumer = await (await reader_bus.durable_stream(CONFIG)).consume(
        "survivor", JOB, idle_wait=0.5
    )
    consumer.retry_wait = 0.05
    admin_stream = await admin_bus.durable_stream(CONFIG)
    await admin_bus.delete_stream(CONFIG.name)
    pending = asyncio.create_task(anext(consumer))

    async def published() -> bool:
        try:  # the same msg_id on every attempt: stored once
            await admin_stream.publish(
                JOB.bind(kind="build", n="1"), Int64Value(value=1), msg_id="after", timeout=1.0
            )
        except NoStream:
            return False  # not recreated yet
        return True

    stored: bool = await wait_for(published, timeout=10, message="the stream to be recreated")
    async with asyncio.timeout(10):
        delivery = await pending
    await delivery.ack()

    assert stored
    assert (delivery.data.value, delivery.num_delivered) == (1, 1)
