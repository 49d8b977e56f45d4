"""Durable streams (JetStream): the contract both bus implementations keep.

Use a durable stream where a message must not be lost: :meth:`DurableStream.publish` returns
only once the stream stored the message, and a durable consumer delivers every stored message
matching its filter **at least once**: a delivery that is not acknowledged within
``ack_wait`` seconds (or is :meth:`~Delivery.nak`-ed) is delivered again, to this or another
reader of the same durable consumer. Consumer progress lives in the stream, not in the
process: a new process that consumes the same durable name continues where the last stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, Self, TypeVar

from mizzen.bus.errors import (
    AckError,
    BusClosed,
    BusError,
    DecodeError,
    StreamError,
    SubjectError,
)
from mizzen.bus.subject import Subject, subject_is_subset, validate_filter

__all__ = [
    "Acker",
    "Consumer",
    "ConsumerConfig",
    "Delivery",
    "DurableStream",
    "PublishAck",
    "RawDelivery",
    "Retention",
    "Storage",
    "StreamConfig",
    "StreamInfo",
]

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class Retention(StrEnum):
    """When a stream forgets a message."""

    LIMITS = "limits"
    """Keep messages until ``max_age`` / ``max_msgs`` push them out."""
    WORK_QUEUE = "work_queue"
    """Remove a message once a consumer acknowledges it. (NATS also refuses two consumers
    whose filters overlap on such a stream.)"""


class Storage(StrEnum):
    """Where a NATS stream keeps its messages (the in-memory bus ignores it)."""

    FILE = "file"
    """On disk: survives a nats-server restart."""
    MEMORY = "memory"
    """In the server's memory: lost when it restarts."""


@dataclass(frozen=True)
class StreamConfig:
    """A stream's definition. Creating a stream with the same name again updates it.

    Fields: ``name`` (letters, digits, ``-``, ``_``); ``subjects`` the filters whose
    messages the stream captures (they must not overlap another stream's); ``retention``;
    ``storage``; ``max_age`` seconds a message is kept (``None``: forever); ``max_msgs``
    messages kept (``None``: unlimited; the oldest go first); ``duplicate_window`` seconds
    during which a repeated ``msg_id`` is recognised and not stored twice; ``replicas``
    copies in a NATS cluster.
    """

    name: str
    subjects: tuple[str, ...]
    retention: Retention = Retention.LIMITS
    storage: Storage = Storage.FILE
    max_age: float | None = None
    max_msgs: int | None = None
    duplicate_window: float = 120.0
    replicas: int = 1

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SubjectError(
                f"stream name {self.name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        if isinstance(self.subjects, str) or not self.subjects:
            raise SubjectError(f"stream {self.name} needs a tuple of one or more subjects")
        for subject in self.subjects:
            validate_filter(subject)
        for value, label in ((self.max_age, "max_age"), (self.duplicate_window, "dup window")):
            if value is not None and value <= 0:
                raise ValueError(f"stream {self.name}: {label} must be positive, got {value}")


@dataclass(frozen=True)
class ConsumerConfig:
    """A durable consumer's definition.

    ``durable_name`` names its progress in the stream; ``filter_subject`` selects the
    messages it delivers; ``ack_wait`` seconds before an unacknowledged delivery is sent
    again; ``max_deliver`` deliveries of one message at most (``None``: unlimited);
    ``max_ack_pending`` deliveries outstanding at once before delivery pauses.
    """

    durable_name: str
    filter_subject: str
    ack_wait: float = 30.0
    max_deliver: int | None = None
    max_ack_pending: int = 1000

    def __post_init__(self) -> None:
        if not _NAME.match(self.durable_name):
            raise SubjectError(
                f"durable name {self.durable_name!r} must be letters, digits, '-' or '_'"
            )
        validate_filter(self.filter_subject)
        if self.ack_wait <= 0:
            raise ValueError(f"ack_wait must be positive, got {self.ack_wait}")


def consumer_config(
    stream: StreamConfig,
    durable_name: str,
    subject: Subject[Any],
    *,
    ack_wait: float,
    max_deliver: int | None,
    max_ack_pending: int,
) -> ConsumerConfig:
    """Build a consumer's config, refusing a filter outside the stream's subjects (NATS
    would accept it and never deliver anything)."""
    config = ConsumerConfig(
        durable_name, subject.filter_subject(), ack_wait, max_deliver, max_ack_pending
    )
    if not any(subject_is_subset(config.filter_subject, s) for s in stream.subjects):
        raise StreamError(
            f"consumer {durable_name}: filter {config.filter_subject} is not within stream "
            f"{stream.name}'s subjects {list(stream.subjects)}",
            subject=config.filter_subject,
            stream=stream.name,
        )
    return config


@dataclass(frozen=True)
class PublishAck:
    """The stream's receipt: ``sequence`` is the message's position in ``stream``;
    ``duplicate`` is true when the ``msg_id`` had been seen and nothing new was stored."""

    stream: str
    sequence: int
    duplicate: bool = False


@dataclass(frozen=True)
class StreamInfo:
    """A stream's state: ``messages`` stored now, ``first_sequence`` and ``last_sequence``
    (0 when it never held any)."""

    name: str
    messages: int
    first_sequence: int
    last_sequence: int


class Acker(Protocol):
    """Backend side of settling one delivery."""

    async def ack(self) -> None:
        """Record the acknowledgement; return once the server confirmed it."""

    async def nak(self, delay: float | None) -> None:
        """Ask for redelivery after ``delay`` seconds (now when ``None``)."""

    async def in_progress(self) -> None:
        """Restart the ``ack_wait`` clock."""

    async def term(self) -> None:
        """Never deliver this message again to this consumer."""


@dataclass(frozen=True, slots=True)
class RawDelivery:
    """One delivery as a backend hands it over: undecoded bytes plus how to settle it."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    stream_sequence: int
    num_delivered: int
    acker: Acker


class Delivery(Generic[T]):
    """A message delivered by a durable consumer, to be settled exactly once with
    :meth:`ack`, :meth:`nak` or :meth:`term` (:meth:`in_progress` may come before, any
    number of times). ``num_delivered`` is 1 on first delivery and grows with redeliveries;
    ``stream_sequence`` identifies the message in the stream (use it to drop duplicates)."""

    def __init__(self, raw: RawDelivery, data: T, tokens: Mapping[str, str]) -> None:
        self.subject = raw.subject
        self.data = data
        self.headers = raw.headers
        self.tokens = tokens
        self.stream_sequence = raw.stream_sequence
        self.num_delivered = raw.num_delivered
        self._acker = raw.acker
        self._settled = False

    @property
    def settled(self) -> bool:
        """Whether :meth:`ack`, :meth:`nak` or :meth:`term` was called."""
        return self._settled

    def _settle(self, what: str) -> None:
        if self._settled:
            raise AckError(
                f"cannot {what} stream message {self.stream_sequence}: already settled",
                subject=self.subject,
            )
        self._settled = True

    async def ack(self) -> None:
        """Done with the message: it is not delivered again to this consumer. Returns once the
        server confirmed. Raises :class:`AckError` if already settled or not confirmed (the
        message may then be delivered again)."""
        self._settle("ack")
        await self._acker.ack()

    async def nak(self, delay: float | None = None) -> None:
        """Not done: deliver again after ``delay`` seconds (at once when ``None``)."""
        self._settle("nak")
        await self._acker.nak(delay)

    async def in_progress(self) -> None:
        """Still working: restart the ``ack_wait`` clock for this delivery."""
        if self._settled:
            raise AckError("delivery already settled", subject=self.subject)
        await self._acker.in_progress()

    async def term(self) -> None:
        """Give up on the message for good: it is never delivered again to this consumer."""
        self._settle("term")
        await self._acker.term()

    def __repr__(self) -> str:
        return (
            f"Delivery(subject={self.subject!r}, stream_sequence={self.stream_sequence}, "
            f"num_delivered={self.num_delivered})"
        )


class Consumer(ABC, Generic[T]):
    """A reader of one durable consumer, decoding its messages as ``T``.

    Pull-based and flow-controlled: :meth:`fetch` takes up to ``max_messages`` when asked;
    ``async for delivery in consumer`` fetches ``batch`` at a time and waits as long as it
    takes, riding out disconnections (the consumer is recreated after a server restart).
    Deliveries must be settled by the reader. Messages whose payload does not decode are
    logged, counted in :attr:`decode_errors` and terminated (they would never decode).

    :meth:`close` stops this reader only; the durable consumer and its progress stay in the
    stream. Deliveries fetched but not settled are delivered again after ``ack_wait``.
    """

    retry_wait = 0.2
    """Seconds to back off after a failed fetch before trying again (iteration only)."""

    def __init__(
        self,
        stream_name: str,
        config: ConsumerConfig,
        subject: Subject[T],
        *,
        batch: int,
        idle_wait: float,
        log: Any,
    ) -> None:
        self.stream_name = stream_name
        self.config = config
        self.subject = subject
        self.batch = batch
        self.idle_wait = idle_wait
        self.decode_errors = 0
        """Messages terminated because their payload did not decode."""
        self._log = log.bind(stream=stream_name, durable=config.durable_name)
        self._buffer: deque[Delivery[T]] = deque()
        self._closed = asyncio.Event()
        self._on_closed: Callable[[Consumer[Any]], None] | None = None

    @abstractmethod
    async def _fetch_raw(self, batch: int, timeout: float) -> list[RawDelivery]:
        """Up to ``batch`` deliveries, waiting at most ``timeout`` seconds for the first; an
        empty list when none came or the consumer was closed meanwhile."""

    async def _close_raw(self) -> None:
        """Release backend resources (the NATS pull subscription)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the bus closed)."""
        return self._closed.is_set()

    async def fetch(self, max_messages: int = 1, *, timeout: float = 1.0) -> list[Delivery[T]]:
        """Return 1 to ``max_messages`` deliveries, or ``[]`` when none arrived within
        ``timeout`` seconds. Raises :class:`BusClosed` after :meth:`close`, and
        :class:`BusError` subclasses when the server cannot be asked."""
        if self.closed:
            raise BusClosed(f"consumer {self.config.durable_name} is closed")
        if max_messages < 1 or timeout <= 0:
            raise ValueError("max_messages must be >= 1 and timeout > 0")
        raws = await self._fetch_raw(max_messages, timeout)
        out: list[Delivery[T]] = []
        for raw in raws:
            delivery = await self._decode(raw)
            if delivery is not None:
                out.append(delivery)
        return out

    async def _decode(self, raw: RawDelivery) -> Delivery[T] | None:
        try:
            data = self.subject.codec.decode(raw.data)
            tokens = self.subject.parse(raw.subject)
        except (DecodeError, SubjectError) as exc:
            self.decode_errors += 1
            self._log.warning(
                "bus payload undecodable",
                subject=raw.subject,
                stream_sequence=raw.stream_sequence,
                payload_type=self.subject.codec.type_name,
                error=str(exc),
                decode_errors=self.decode_errors,
            )
            with contextlib.suppress(BusError):
                await raw.acker.term()
            return None
        return Delivery(raw, data, tokens)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery[T]:
        while not self._buffer:
            if self.closed:
                raise StopAsyncIteration
            try:
                self._buffer.extend(await self.fetch(self.batch, timeout=self.idle_wait))
            except BusClosed:
                raise StopAsyncIteration from None
            except BusError as exc:
                self._log.warning("bus consumer fetch failed", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), self.retry_wait)
        return self._buffer.popleft()

    async def run(
        self, handler: Callable[[Delivery[T]], Awaitable[None]], *, nak_delay: float | None = None
    ) -> None:
        """Call ``handler`` for each delivery until the consumer is closed: ack when it
        returns without settling, nak (after ``nak_delay``) when it raises. Exceptions from
        the handler are logged, never propagated."""
        async for delivery in self:
            try:
                await handler(delivery)
            except Exception:
                self._log.exception(
                    "bus consumer handler failed", stream_sequence=delivery.stream_sequence
                )
                if not delivery.settled:
                    with contextlib.suppress(BusError):
                        await delivery.nak(nak_delay)
                continue
            if not delivery.settled:
                try:
                    await delivery.ack()
                except AckError as exc:
                    self._log.warning("bus ack failed", error=str(exc))

    async def close(self) -> None:
        """Stop reading: end iteration, wake a waiting fetch. Idempotent."""
        if self.closed:
            return
        self._closed.set()
        self._buffer.clear()
        await self._close_raw()
        if self._on_closed is not None:
            self._on_closed(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class DurableStream(ABC):
    """One JetStream stream, opened with :meth:`Bus.durable_stream
    <mizzen.bus.Bus.durable_stream>`. Safe to share between tasks of one event loop."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.name = config.name

    @abstractmethod
    async def publish(
        self,
        subject: Subject[T],
        payload: T,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> PublishAck:
        """Store one message; return once the stream has it.

        ``msg_id`` makes a retry safe: within the stream's ``duplicate_window`` a second
        publish with the same id stores nothing and returns ``duplicate=True``. Core
        subscribers of the subject receive the message too.

        Raises :class:`NoStream` when the subject is not this stream's,
        :class:`RequestTimeout` when no receipt came within ``timeout`` (the message may or may
        not be stored: retry with the same ``msg_id``), :class:`SubjectError`,
        :class:`EncodeError`, :class:`PayloadTooLarge`, :class:`BusClosed`.
        """

    @abstractmethod
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
        """Create (or update) the durable consumer ``durable_name`` delivering this stream's
        messages that match ``subject`` (unbound placeholders match anything), and return a
        reader of it. Several readers of one durable name share its messages, each delivered
        to one of them. ``batch`` is how many deliveries iteration asks for at once;
        ``idle_wait`` how long one pull waits before asking again. See :class:`ConsumerConfig`
        for the rest."""

    @abstractmethod
    async def delete_consumer(self, durable_name: str) -> None:
        """Delete a durable consumer and its progress. Raises :class:`NoStream` when it does
        not exist."""

    @abstractmethod
    async def info(self) -> StreamInfo:
        """The stream's current state."""
