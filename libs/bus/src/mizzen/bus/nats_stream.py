"""Durable streams over JetStream: file-backed streams and durable pull consumers.

A server restart loses in-flight pull requests, and a server that lost its state (memory
storage, a new node) has lost the stream and consumer too. So each consumer listens to the
bus's connection events: on ``RECONNECTED`` it cancels its in-flight pull and re-declares
its stream and consumer (idempotent when they survived) before pulling again. Messages that
were delivered but not acknowledged are redelivered by the server after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api

from mizzen.bus.bus import ConnectionEvent
from mizzen.bus.errors import BusError, RequestTimeout
from mizzen.bus.nats_errors import mapped
from mizzen.bus.stream import (
    Consumer,
    ConsumerConfig,
    DurableStream,
    PublishAck,
    RawDelivery,
    Retention,
    Storage,
    StreamConfig,
    StreamInfo,
    consumer_config,
)
from mizzen.bus.subject import Subject
from mizzen.bus.subscription import EMPTY_HEADERS

if TYPE_CHECKING:
    from mizzen.bus.nats_bus import NatsBus

__all__ = ["NatsConsumer", "NatsDurableStream"]

T = TypeVar("T")

_STREAM_NAME_IN_USE = 10058  # "stream name already in use with a different configuration"
_RETENTION = {Retention.LIMITS: api.RetentionPolicy.LIMITS,
              Retention.WORK_QUEUE: api.RetentionPolicy.WORK_QUEUE}  # fmt: skip
_STORAGE = {Storage.FILE: api.StorageType.FILE, Storage.MEMORY: api.StorageType.MEMORY}


class _NatsAcker:
    """Settles one JetStream delivery; acks wait for the server's confirmation."""

    def __init__(self, msg: Msg, timeout: float) -> None:
        self._msg = msg
        self._timeout = timeout

    async def ack(self) -> None:
        with mapped("ack", subject=self._msg.subject, timeout=self._timeout, acking=True):
            await self._msg.ack_sync(timeout=self._timeout)

    async def nak(self, delay: float | None) -> None:
        with mapped("nak", subject=self._msg.subject, acking=True):
            await self._msg.nak(delay=delay)

    async def in_progress(self) -> None:
        with mapped("in progress", subject=self._msg.subject, acking=True):
            await self._msg.in_progress()

    async def term(self) -> None:
        with mapped("term", subject=self._msg.subject, acking=True):
            await self._msg.term()


class NatsDurableStream(DurableStream):
    """A :class:`DurableStream` backed by a JetStream stream."""

    def __init__(self, bus: NatsBus, config: StreamConfig) -> None:
        super().__init__(config)
        self.bus = bus

    @classmethod
    async def open(cls, bus: NatsBus, config: StreamConfig) -> NatsDurableStream:
        """Declare the stream (create or update) and return it."""
        stream = cls(bus, config)
        await stream.declare()
        return stream

    def _nats_config(self) -> api.StreamConfig:
        config = self.config
        return api.StreamConfig(
            name=config.name,
            subjects=list(config.subjects),
            retention=_RETENTION[config.retention],
            storage=_STORAGE[config.storage],
            max_age=config.max_age,
            max_msgs=config.max_msgs if config.max_msgs is not None else -1,
            duplicate_window=config.duplicate_window,
            num_replicas=config.replicas,
        )

    async def declare(self) -> None:
        """Create the stream, or update it when it exists with another configuration."""
        js = self.bus.jetstream
        with mapped("create stream", stream=self.name):
            try:
                await js.add_stream(self._nats_config())
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_NAME_IN_USE:
                    raise
                await js.update_stream(self._nats_config())

    async def publish(
        self,
        subject: Subject[T],
        payload: T,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> PublishAck:
        """See :meth:`DurableStream.publish`."""
        self.bus._check_open()
        name = subject.publish_subject()
        self.bus._check_headers(headers)
        data = self.bus._encode(subject.codec, payload, name)
        all_headers = dict(headers or {})
        if msg_id is not None:
            all_headers[api.Header.MSG_ID] = msg_id
        with mapped("stream publish", subject=name, timeout=timeout):
            ack = await self.bus.jetstream.publish(
                name, data, timeout=timeout, stream=self.name, headers=all_headers or None
            )
        return PublishAck(ack.stream, ack.seq, bool(ack.duplicate))

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
        config = consumer_config(
            self.config,
            durable_name,
            subject,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            max_ack_pending=max_ack_pending,
        )
        consumer = NatsConsumer(self, config, subject, batch=batch, idle_wait=idle_wait)
        try:
            await consumer.declare()
        except BaseException:
            await consumer.close()
            raise
        self.bus._track_consumer(consumer)
        return consumer

    async def delete_consumer(self, durable_name: str) -> None:
        """See :meth:`DurableStream.delete_consumer`."""
        with mapped("delete consumer", stream=self.name):
            await self.bus.jetstream.delete_consumer(self.name, durable_name)

    async def info(self) -> StreamInfo:
        """See :meth:`DurableStream.info`."""
        with mapped("stream info", stream=self.name):
            info = await self.bus.jetstream.stream_info(self.name)
        state = info.state
        return StreamInfo(self.name, state.messages, state.first_seq, state.last_seq)


class NatsConsumer(Consumer[T]):
    """A reader of a durable JetStream pull consumer."""

    def __init__(
        self,
        stream: NatsDurableStream,
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
        self._pull: nats.js.JetStreamContext.PullSubscription | None = None
        self._declared = False
        self._interrupt = asyncio.Event()
        self._remove_listener = stream.bus.add_connection_listener(self._on_connection)

    def _on_connection(self, event: ConnectionEvent) -> None:
        if event is ConnectionEvent.RECONNECTED:
            # The pull in flight died with the old server; the consumer itself may have too.
            self._declared = False
            self._interrupt.set()

    def _nats_config(self) -> api.ConsumerConfig:
        config = self.config
        return api.ConsumerConfig(
            name=config.durable_name,
            durable_name=config.durable_name,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=config.ack_wait,
            max_deliver=config.max_deliver if config.max_deliver is not None else -1,
            max_ack_pending=config.max_ack_pending,
            filter_subject=config.filter_subject,
        )

    async def declare(self) -> None:
        """Create (or update) the durable consumer, recreating the stream if it vanished,
        and bind the pull subscription."""
        js = self._stream.bus.jetstream
        with mapped("create consumer", stream=self.stream_name):
            try:
                await js.add_consumer(self.stream_name, self._nats_config())
            except nats.js.errors.NotFoundError:
                self._log.warning("bus stream missing, recreating")
                await self._stream.declare()
                await js.add_consumer(self.stream_name, self._nats_config())
            if self._pull is None:
                self._pull = await js.pull_subscribe_bind(
                    self.config.durable_name, stream=self.stream_name
                )
        self._declared = True

    async def _fetch_raw(self, batch: int, timeout: float) -> list[RawDelivery]:
        self._interrupt.clear()
        if not self._stream.bus.is_connected:
            # Nothing can be pulled; wait for the reconnection (or the deadline, or close).
            await self._wait_interrupt(timeout)
            return []
        if not self._declared or self._pull is None:
            await self.declare()
        pull = self._pull
        assert pull is not None  # declare() bound it
        fetch = asyncio.ensure_future(self._fetch(pull, batch, timeout))
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        try:
            await asyncio.wait({fetch, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            if not fetch.done():
                fetch.cancel()
                await asyncio.gather(fetch, return_exceptions=True)
        if fetch.cancelled():
            return []  # interrupted by a reconnection or close: nothing pulled
        return fetch.result()

    async def _wait_interrupt(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._interrupt.wait()
        except TimeoutError:
            return

    async def _fetch(
        self, pull: nats.js.JetStreamContext.PullSubscription, batch: int, timeout: float
    ) -> list[RawDelivery]:
        try:
            with mapped("fetch", stream=self.stream_name, timeout=timeout):
                msgs = await pull.fetch(batch, timeout=timeout)
        except RequestTimeout:
            return []
        except BusError:
            # The consumer may be gone (deleted, or lost by the server): declare it again.
            self._declared = False
            raise
        ack_timeout = self._stream.bus.api_timeout
        return [
            RawDelivery(
                msg.subject,
                msg.data,
                msg.headers or EMPTY_HEADERS,
                msg.metadata.sequence.stream,
                msg.metadata.num_delivered,
                _NatsAcker(msg, ack_timeout),
            )
            for msg in msgs
        ]

    async def _close_raw(self) -> None:
        self._remove_listener()
        self._interrupt.set()
        pull, self._pull = self._pull, None
        if pull is not None and not self._stream.bus._nc.is_closed:
            try:
                with mapped("unsubscribe", stream=self.stream_name):
                    await pull.unsubscribe()
            except BusError as exc:
                self._log.debug("bus pull unsubscribe failed", error=str(exc))
