"""The ``Bus`` contract: typed publish/subscribe, queue groups, request/reply, durable streams.

:class:`Bus` implements the typed layer once (encoding, decoding, subject checks, reply
handling, closing) over a handful of byte-moving primitives that each backend provides
(``_publish_raw``, ``_subscribe_raw``, ``_request_raw``, ...). Both backends — NATS and the
in-memory twin — therefore behave the same for everything above the wire.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from types import TracebackType
from typing import Any, Self, TypeVar

import structlog

from mizzen.bus.codec import Codec
from mizzen.bus.errors import (
    BusClosed,
    DecodeError,
    EncodeError,
    PayloadTooLarge,
    ResponderError,
    SubjectError,
)
from mizzen.bus.stream import Consumer, DurableStream, StreamConfig
from mizzen.bus.subject import Endpoint, Subject
from mizzen.bus.subscription import (
    DEFAULT_MAX_PENDING,
    Detach,
    Handler,
    Message,
    RawMessage,
    Subscription,
)

__all__ = ["ERROR_HEADER", "Bus", "ConnectionEvent", "ConnectionListener", "RawSink"]

T = TypeVar("T")
ReqT = TypeVar("ReqT")
RespT = TypeVar("RespT")

log = structlog.get_logger("mizzen.bus")

ERROR_HEADER = "Mizzen-Error"
"""Reply header a responder sets (with an empty body) to report that it failed."""

_HEADER_KEY = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' or space
_QUEUE = re.compile(r"^[^\s]+$")


class ConnectionEvent(StrEnum):
    """What happened to a bus's connection, as told to connection listeners."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    CLOSED = "closed"


ConnectionListener = Callable[[ConnectionEvent], None]
RawSink = Callable[[RawMessage], None]


class Bus(ABC):
    """An async message bus.

    Core messages are fire-and-forget and at-most-once: a subscriber that is not connected
    when a message passes never sees it (use :meth:`durable_stream` for what must not be
    lost; "etcd is the truth, NATS is a hint" covers the rest). Messages from one publisher
    on one subject arrive in publish order.

    Subjects are :class:`~mizzen.bus.subject.Subject` objects, so every payload is encoded
    and decoded by the subject's codec. All methods are coroutines for one event loop; a bus
    may be shared by any number of tasks of that loop. After :meth:`close`, calls raise
    :class:`BusClosed`. Open one with :func:`mizzen.bus.open_bus`.
    """

    default_request_timeout = 2.0

    def __init__(self, name: str) -> None:
        self.name = name
        self._log = log.bind(bus=name)
        self._listeners: list[ConnectionListener] = []
        self._subscriptions: set[Subscription[Any]] = set()
        self._consumers: set[Consumer[Any]] = set()
        self._closing = False
        self._closed = False
        self._close_lock = asyncio.Lock()

    # ----------------------------------------------------------------- backend primitives

    @abstractmethod
    async def _publish_raw(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, reply: str | None
    ) -> None:
        """Send bytes to a concrete subject (already validated)."""

    @abstractmethod
    async def _subscribe_raw(self, filter_subject: str, queue: str | None, sink: RawSink) -> Detach:
        """Register interest; call ``sink`` (synchronously, from the loop) per message."""

    @abstractmethod
    async def _request_raw(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, timeout: float
    ) -> RawMessage:
        """Send a request and return the first reply, or raise RequestTimeout/NoResponders."""

    @abstractmethod
    async def _flush_raw(self, timeout: float) -> None:
        """Return once everything published so far has reached the server."""

    @abstractmethod
    async def _close_raw(self) -> None:
        """Flush and close the connection."""

    @property
    @abstractmethod
    def is_connected(self) -> bool:
        """Whether the bus is connected to its server right now (false while reconnecting)."""

    @property
    @abstractmethod
    def max_payload(self) -> int:
        """The largest payload, in bytes, the server accepts."""

    @abstractmethod
    async def durable_stream(self, config: StreamConfig) -> DurableStream:
        """Create the stream, or update it to ``config`` if it exists, and return it.

        Raises :class:`StreamError` when the server refuses the configuration (for instance
        subjects that overlap another stream's)."""

    @abstractmethod
    async def delete_stream(self, name: str) -> None:
        """Delete a stream and all its messages and consumers. Raises :class:`NoStream` when
        it does not exist."""

    # ----------------------------------------------------------------- connection state

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has completed."""
        return self._closed

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """Call ``listener`` (synchronously, on the event loop) with each
        :class:`ConnectionEvent`; return a function that removes it. A listener that raises
        is logged and kept."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: ConnectionEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                self._log.exception("bus connection listener failed", event=str(event))

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosed(f"bus {self.name} is closed")

    def _check_accepting(self) -> None:
        if self._closing or self._closed:
            raise BusClosed(f"bus {self.name} is closed")

    def _track_consumer(self, consumer: Consumer[Any]) -> None:
        """Backends register every consumer so that :meth:`close` closes it."""
        self._consumers.add(consumer)
        consumer._on_closed = self._consumers.discard

    # ----------------------------------------------------------------- typed operations

    def _encode(self, codec: Codec[T], payload: T, subject: str) -> bytes:
        try:
            data = codec.encode(payload)
        except EncodeError as exc:
            exc.subject = subject
            raise
        if len(data) > self.max_payload:
            raise PayloadTooLarge(
                f"payload of {len(data)} bytes for {subject} exceeds the server's maximum of "
                f"{self.max_payload}",
                subject=subject,
                payload_type=codec.type_name,
                size=len(data),
            )
        return data

    @staticmethod
    def _check_headers(headers: Mapping[str, str] | None) -> None:
        for key, value in (headers or {}).items():
            if not _HEADER_KEY.match(key) or not isinstance(value, str) or "\r" in value \
                    or "\n" in value:  # fmt: skip
                raise EncodeError(f"bad header {key!r}: {value!r}", payload_type="headers")

    async def publish(
        self, subject: Subject[T], payload: T, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``payload`` to the subject (all placeholders bound).

        Returns once the message is handed to the connection (buffered while reconnecting),
        not when anyone received it; :meth:`flush` waits for the server. Raises
        :class:`SubjectError`, :class:`EncodeError`, :class:`PayloadTooLarge`,
        :class:`BusUnavailable` (outgoing buffer full while reconnecting), :class:`BusClosed`.
        """
        self._check_open()
        name = subject.publish_subject()
        self._check_headers(headers)
        await self._publish_raw(name, self._encode(subject.codec, payload, name), headers, None)

    async def flush(self, timeout: float = 2.0) -> None:
        """Return once every message published so far has reached the server. Raises
        :class:`RequestTimeout` after ``timeout`` seconds, :class:`BusClosed`."""
        self._check_open()
        await self._flush_raw(timeout)

    async def subscribe(
        self,
        subject: Subject[T],
        *,
        queue: str | None = None,
        handler: Handler[T] | None = None,
        concurrency: int = 1,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> Subscription[T]:
        """Subscribe to the subject's filter (unbound placeholders and wildcards match any
        token, NATS-style) and return the subscription, active on return.

        With ``queue``, the subscription joins that queue group: each message goes to one
        member of the group (chosen by the server), not to all. With ``handler``, the bus calls
        it per message (``concurrency`` at a time; 1 keeps order); without, iterate the
        returned subscription. See :class:`Subscription` for decode errors and slow readers.
        """
        return await self._subscribe(
            subject, queue=queue, handler=handler, concurrency=concurrency, max_pending=max_pending
        )

    async def _subscribe(
        self,
        subject: Subject[T],
        *,
        queue: str | None,
        handler: Handler[T] | None,
        concurrency: int,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_decode_error: Callable[[RawMessage, DecodeError], Awaitable[None]] | None = None,
    ) -> Subscription[T]:
        self._check_accepting()
        if queue is not None and not _QUEUE.match(queue):
            raise SubjectError(f"queue group {queue!r} must be non-empty, without whitespace")
        if concurrency < 1 or max_pending < 1:
            raise ValueError("concurrency and max_pending must be >= 1")
        subscription = Subscription(
            subject,
            queue=queue,
            max_pending=max_pending,
            log=self._log,
            on_decode_error=on_decode_error,
        )
        if handler is not None:
            subscription._start_handler(handler, concurrency)
        try:
            detach = await self._subscribe_raw(subscription.filter, queue, subscription._deliver)
        except BaseException:
            await subscription.unsubscribe()
            raise
        subscription._attach(detach, self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription

    async def request(
        self,
        endpoint: Endpoint[ReqT, RespT],
        payload: ReqT,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RespT:
        """Send a request and return the decoded reply (the first one, if several answer).

        ``timeout`` (default :attr:`default_request_timeout`) is the deadline in seconds.
        Raises :class:`NoResponders` at once when nobody subscribes to the subject,
        :class:`RequestTimeout` when nobody answered in time, :class:`ResponderError` when the
        responder reported a failure, :class:`DecodeError` when the reply does not decode,
        and what :meth:`publish` raises.
        """
        self._check_open()
        deadline = self.default_request_timeout if timeout is None else timeout
        if deadline <= 0:
            raise ValueError(f"request timeout must be positive, got {deadline}")
        name = endpoint.publish_subject()
        self._check_headers(headers)
        data = self._encode(endpoint.codec, payload, name)
        reply = await self._request_raw(name, data, headers, deadline)
        remote_error = reply.headers.get(ERROR_HEADER)
        if remote_error is not None:
            raise ResponderError(
                f"responder on {name} failed: {remote_error}",
                subject=name,
                timeout=deadline,
                remote_error=remote_error,
            )
        try:
            return endpoint.response_codec.decode(reply.data)
        except DecodeError as exc:
            exc.subject = name
            raise

    async def serve(
        self,
        endpoint: Endpoint[ReqT, RespT],
        handler: Callable[[Message[ReqT]], Awaitable[RespT]],
        *,
        queue: str | None = None,
        concurrency: int = 16,
    ) -> Subscription[ReqT]:
        """Answer requests on the endpoint's filter with ``handler``'s return value.

        Up to ``concurrency`` requests are handled at once. Replicas serving one endpoint
        should share a ``queue`` so each request is answered once. When the handler raises,
        or the request does not decode, the requester gets :class:`ResponderError` at once
        (the failure is also logged and counted on the subscription). Unsubscribe or close
        the bus to stop serving.
        """

        async def respond(message: Message[ReqT]) -> None:
            try:
                result = await handler(message)
                data = self._encode(endpoint.response_codec, result, message.subject)
            except Exception as exc:
                if message.reply:
                    await self._reply_error(message.reply, f"{type(exc).__name__}: {exc}")
                raise
            if message.reply:
                await self._reply(message.reply, data, None)

        async def reject(raw: RawMessage, exc: DecodeError) -> None:
            if raw.reply:
                await self._reply_error(raw.reply, f"DecodeError: {exc}")

        return await self._subscribe(
            endpoint, queue=queue, handler=respond, concurrency=concurrency,
            on_decode_error=reject,
        )  # fmt: skip

    async def _reply_error(self, reply: str, description: str) -> None:
        # Header values are one line; keep the first line of the error.
        line = description.splitlines()[0] if description else "error"
        await self._reply(reply, b"", {ERROR_HEADER: line[:512]})

    async def _reply(self, reply: str, data: bytes, headers: Mapping[str, str] | None) -> None:
        try:
            await self._publish_raw(reply, data, headers, None)
        except Exception as exc:
            # The requester will time out; nothing else can be done from here.
            self._log.warning("bus reply failed", reply=reply, error=str(exc))

    # ----------------------------------------------------------------- closing

    async def close(self, *, drain_timeout: float = 5.0) -> None:
        """Drain and close: stop every consumer, stop intake on every subscription, let
        handlers finish the messages already received (up to ``drain_timeout`` seconds, then
        they are cancelled), flush what was published, close the connection. Iterators end
        after their buffered messages. Idempotent; concurrent calls all wait for the end."""
        async with self._close_lock:
            if self._closed:
                return
            self._closing = True
            for consumer in list(self._consumers):
                await consumer.close()
            subscriptions = list(self._subscriptions)
            await asyncio.gather(
                *(subscription.drain(drain_timeout) for subscription in subscriptions)
            )
            self._closed = True
            try:
                await self._close_raw()
            finally:
                self._log.info("bus closed")
                self._emit(ConnectionEvent.CLOSED)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
