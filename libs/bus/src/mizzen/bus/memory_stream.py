"""Durable streams for the in-memory bus: JetStream's semantics, kept in one process.

Streams live in the :class:`~mizzen.bus.memory_bus.MemoryBroker`, so they outlast any one
:class:`~mizzen.bus.memory_bus.MemoryBus` connection (but not the process). Consumer state
(next message, pending deliveries with their redelivery deadlines, delivery counts) lives in
the stream, so several readers of one durable name share it exactly as NATS pull consumers
do. Time is the event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from mizzen.bus.errors import AckError, BusClosed, NoStream, StreamError
from mizzen.bus.stream import (
    Consumer,
    ConsumerConfig,
    DurableStream,
    PublishAck,
    RawDelivery,
    Retention,
    StreamConfig,
    StreamInfo,
    consumer_config,
)
from mizzen.bus.subject import Subject, subject_matches

if TYPE_CHECKING:
    from mizzen.bus.memory_bus import MemoryBus

__all__ = ["MSG_ID_HEADER", "MemoryConsumer", "MemoryDurableStream", "StreamState"]

T = TypeVar("T")

MSG_ID_HEADER = "Nats-Msg-Id"
EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"  # NATS stores it with the message; so do we


@dataclass(slots=True)
class _Stored:
    sequence: int
    subject: str
    data: bytes
    headers: Mapping[str, str]
    stored_at: float


@dataclass(slots=True)
class _ConsumerState:
    config: ConsumerConfig
    next_sequence: int = 1
    due: dict[int, float] = field(default_factory=dict)
    """Pending deliveries: stream sequence → loop time at which it is delivered again."""
    deliveries: dict[int, int] = field(default_factory=dict)
    """Pending deliveries: stream sequence → times delivered so far."""


class StreamState:
    """One stream's messages and consumers. Owned by the broker; mutated only from the loop."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.messages: dict[int, _Stored] = {}
        self.last_sequence = 0
        self.msg_ids: dict[str, tuple[int, float]] = {}
        self.consumers: dict[str, _ConsumerState] = {}
        self._changed = asyncio.Event()

    def captures(self, subject: str) -> bool:
        """Whether a message on ``subject`` is stored by this stream."""
        return any(subject_matches(pattern, subject) for pattern in self.config.subjects)

    def changed(self) -> asyncio.Event:
        """An event set at the next change (a message stored, a nak, a close)."""
        return self._changed

    def notify(self) -> None:
        """Wake everyone waiting on :meth:`changed`."""
        self._changed.set()
        self._changed = asyncio.Event()

    def store(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, now: float
    ) -> PublishAck:
        """Append a message, unless its ``Nats-Msg-Id`` was seen within the window."""
        self.trim(now)
        frozen = MappingProxyType(dict(headers or {}))
        msg_id = frozen.get(MSG_ID_HEADER)
        if msg_id is not None:
            seen = self.msg_ids.get(msg_id)
            if seen is not None and now - seen[1] < self.config.duplicate_window:
                return PublishAck(self.config.name, seen[0], duplicate=True)
        self.last_sequence += 1
        self.messages[self.last_sequence] = _Stored(
            self.last_sequence, subject, bytes(data), frozen, now
        )
        if msg_id is not None:
            self.msg_ids[msg_id] = (self.last_sequence, now)
        self.trim(now)
        self.notify()
        return PublishAck(self.config.name, self.last_sequence)

    def trim(self, now: float) -> None:
        """Apply ``max_age``, ``max_msgs`` and the duplicate window."""
        if self.config.max_age is not None:
            for sequence in [s for s, m in self.messages.items()
                             if now - m.stored_at >= self.config.max_age]:  # fmt: skip
                del self.messages[sequence]
        if self.config.max_msgs is not None:
            while len(self.messages) > self.config.max_msgs:
                del self.messages[next(iter(self.messages))]
        window = self.config.duplicate_window
        for msg_id in [k for k, (_, at) in self.msg_ids.items() if now - at >= window]:
            del self.msg_ids[msg_id]

    def consumer(self, config: ConsumerConfig) -> _ConsumerState:
        """The durable consumer's state, created (or its config updated) as needed."""
        state = self.consumers.get(config.durable_name)
        if state is None:
            state = self.consumers[config.durable_name] = _ConsumerState(config)
        state.config = config
        return state

    def take(self, consumer: _ConsumerState, batch: int, now: float) -> list[tuple[_Stored, int]]:
        """Hand out up to ``batch`` deliveries: due redeliveries first, then new messages."""
        self.trim(now)
        config = consumer.config
        out: list[tuple[_Stored, int]] = []
        for sequence, due in sorted(consumer.due.items()):
            if len(out) >= batch:
                return out
            if due > now:
                continue
            stored = self.messages.get(sequence)
            count = consumer.deliveries.get(sequence, 0)
            if stored is None or (config.max_deliver is not None and count >= config.max_deliver):
                consumer.due.pop(sequence, None)
                consumer.deliveries.pop(sequence, None)
                continue
            consumer.deliveries[sequence] = count + 1
            consumer.due[sequence] = now + config.ack_wait
            out.append((stored, count + 1))
        while (
            len(out) < batch
            and consumer.next_sequence <= self.last_sequence
            and len(consumer.due) < config.max_ack_pending
        ):
            sequence = consumer.next_sequence
            consumer.next_sequence += 1
            stored = self.messages.get(sequence)
            if stored is None or not subject_matches(config.filter_subject, stored.subject):
                continue
            consumer.deliveries[sequence] = 1
            consumer.due[sequence] = now + config.ack_wait
            out.append((stored, 1))
        return out

    def info(self) -> StreamInfo:
        """Counts and sequence bounds, as JetStream reports them."""
        if self.messages:
            first = next(iter(self.messages))
        else:
            first = self.last_sequence + 1 if self.last_sequence else 0
        return StreamInfo(self.config.name, len(self.messages), first, self.last_sequence)


class _MemoryAcker:
    """Settles one delivery by editing the consumer's state in the stream."""

    def __init__(self, stream: MemoryDurableStream, durable_name: str, sequence: int) -> None:
        self._stream = stream
        self._durable_name = durable_name
        self._sequence = sequence

    def _locate(self) -> tuple[StreamState, _ConsumerState]:
        if self._stream.bus.closed:
            raise BusClosed(f"bus {self._stream.bus.name} is closed")
        state = self._stream.bus.broker.streams.get(self._stream.name)
        consumer = state.consumers.get(self._durable_name) if state else None
        if state is None or consumer is None:
            raise AckError(f"consumer {self._durable_name} is gone", stream=self._stream.name)
        return state, consumer

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def ack(self) -> None:
        state, consumer = self._locate()
        consumer.due.pop(self._sequence, None)
        consumer.deliveries.pop(self._sequence, None)
        if state.config.retention is Retention.WORK_QUEUE:
            state.messages.pop(self._sequence, None)

    async def nak(self, delay: float | None) -> None:
        state, consumer = self._locate()
        if self._sequence in consumer.due:
            consumer.due[self._sequence] = self._now() + (delay or 0.0)
            state.notify()

    async def in_progress(self) -> None:
        _, consumer = self._locate()
        if self._sequence in consumer.due:
            consumer.due[self._sequence] = self._now() + consumer.config.ack_wait

    async def term(self) -> None:
        _, consumer = self._locate()
        consumer.due.pop(self._sequence, None)
        consumer.deliveries.pop(self._sequence, None)


class MemoryDurableStream(DurableStream):
    """A :class:`DurableStream` kept in the broker's memory."""

    def __init__(self, bus: MemoryBus, config: StreamConfig) -> None:
        super().__init__(config)
        self.bus = bus

    def _state(self) -> StreamState:
        state = self.bus.broker.streams.get(self.name)
        if state is None:
            raise NoStream(f"stream {self.name} does not exist", stream=self.name)
        return state

    async def publish(
        self,
        subject: Subject[T],
        payload: T,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> PublishAck:
        """See :meth:`DurableStream.publish`. Stored synchronously; ``timeout`` is unused."""
        self.bus._check_open()
        name = subject.publish_subject()
        self.bus._check_headers(headers)
        data = self.bus._encode(subject.codec, payload, name)
        all_headers = dict(headers or {})
        if msg_id is not None:
            all_headers[MSG_ID_HEADER] = msg_id
        all_headers[EXPECTED_STREAM_HEADER] = self.name
        owner = self.bus.broker.stream_for(name)
        if owner is None:
            raise NoStream(f"stream publish {name}: no stream captures the subject", subject=name)
        if owner is not self._state():
            raise StreamError(
                f"stream publish {name}: the subject belongs to stream {owner.config.name}",
                subject=name,
                stream=self.name,
                code=10060,
            )
        ack = owner.store(name, data, all_headers, asyncio.get_running_loop().time())
        self.bus.broker.route(name, data, all_headers, None)
        return ack

    async def consume(
        self,
        durable_name: str,
        subject: Subject[T],
        *,
        ack_wait: float = 30.0,
        max_deliver: int | None = None,
        max_ack_pending: int = 1000,
        batch: int = 16,
        idle_wait: float = 5.0,
    ) -> Consumer[T]:
        """See :meth:`DurableStream.consume`."""
        self.bus._check_accepting()
        state = self._state()
        config = consumer_config(
            state.config,
            durable_name,
            subject,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            max_ack_pending=max_ack_pending,
        )
        state.consumer(config)
        consumer = MemoryConsumer(self, config, subject, batch=batch, idle_wait=idle_wait)
        self.bus._track_consumer(consumer)
        return consumer

    async def delete_consumer(self, durable_name: str) -> None:
        """See :meth:`DurableStream.delete_consumer`."""
        state = self._state()
        if state.consumers.pop(durable_name, None) is None:
            raise NoStream(
                f"consumer {durable_name} does not exist in stream {self.name}", stream=self.name
            )
        state.notify()

    async def info(self) -> StreamInfo:
        """See :meth:`DurableStream.info`."""
        state = self._state()
        state.trim(asyncio.get_running_loop().time())
        return state.info()


class MemoryConsumer(Consumer[T]):
    """A reader of a durable consumer of a :class:`MemoryDurableStream`."""

    def __init__(
        self,
        stream: MemoryDurableStream,
        config: ConsumerConfig,
        subject: Subject[T],
        *,
        batch: int,
        idle_wait: float,
    ) -> None:
        super().__init__(
            stream.name, config, subject, batch=batch, idle_wait=idle_wait, log=stream.bus._log
        )
        self._stream = stream

    async def _fetch_raw(self, batch: int, timeout: float) -> list[RawDelivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.closed:
            # Like the NATS consumer, recreate the stream and the consumer if they vanished.
            state = self._stream.bus.broker.streams.get(self.stream_name)
            if state is None:
                self._log.warning("bus stream missing, recreating")
                state = self._stream.bus.broker.create_stream(self._stream.config)
            consumer = state.consumer(self.config)
            changed = state.changed()
            now = loop.time()
            taken = state.take(consumer, batch, now)
            if taken:
                return [
                    RawDelivery(
                        stored.subject,
                        stored.data,
                        stored.headers,
                        stored.sequence,
                        count,
                        _MemoryAcker(self._stream, self.config.durable_name, stored.sequence),
                    )
                    for stored, count in taken
                ]
            wake = deadline - now
            if wake <= 0:
                return []
            if consumer.due:
                wake = min(wake, max(0.0, min(consumer.due.values()) - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wake)
        return []

    async def _close_raw(self) -> None:
        state = self._stream.bus.broker.streams.get(self._stream.name)
        if state is not None:
            state.notify()
