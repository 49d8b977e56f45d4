"""Received messages and subscriptions, shared by both bus implementations.

A backend only moves bytes: it hands each :class:`RawMessage` to
:meth:`Subscription._deliver`. Decoding, counting, buffering, iteration, handler tasks and
draining happen here, once, so that NATS and the in-memory twin behave the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Generic, Self, TypeVar

from mizzen.bus.errors import BusError, DecodeError, SubjectError
from mizzen.bus.subject import Subject

__all__ = ["DEFAULT_MAX_PENDING", "Handler", "Message", "RawMessage", "Subscription"]

T = TypeVar("T")

DEFAULT_MAX_PENDING = 65_536
"""Messages a subscription buffers before it drops new ones (NATS' "slow consumer")."""

EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as a backend delivers it: undecoded bytes. Backends must not reuse
    ``headers`` after handing the message over."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    reply: str | None


@dataclass(frozen=True, slots=True)
class Message(Generic[T]):
    """A decoded message.

    ``subject`` is the concrete subject it was published to; ``tokens`` are the values of the
    subscription pattern's placeholders in that subject (``{"xds_class": "c1"}``);
    ``reply`` is the reply subject of a request, else ``None``. Immutable.
    """

    subject: str
    data: T
    headers: Mapping[str, str]
    reply: str | None
    tokens: Mapping[str, str]


Handler = Callable[[Message[T]], Awaitable[None]]
"""A subscription callback. Exceptions it raises are logged and counted, never propagated."""

DecodeFailureHook = Callable[[RawMessage, DecodeError], Awaitable[None]]
Detach = Callable[[bool], Awaitable[None]]
"""Backend hook that removes a subscription's interest; the flag asks for a drain (let what
the server already sent arrive) rather than an immediate cut."""

_END: Any = object()


class Subscription(Generic[T]):
    """Interest in a subject filter, delivering decoded :class:`Message` objects.

    Two modes, chosen at :meth:`Bus.subscribe <mizzen.bus.Bus.subscribe>`:

    - **iterator** (no handler): ``async for message in subscription`` yields messages in
      arrival order; iteration ends after :meth:`unsubscribe`, or after the buffered messages
      once the subscription was drained (bus closed).
    - **handler**: the bus calls the handler for each message, at most ``concurrency`` at a
      time (``1`` keeps arrival order); iterating such a subscription is a ``TypeError``.

    Bad payloads never reach the reader: they are logged (``bus payload undecodable``) and
    counted in :attr:`decode_errors`. When more than ``max_pending`` messages wait unread, new
    ones are dropped and counted in :attr:`dropped`, as NATS does for slow consumers.
    Counters are plain ints read by tests and metrics; only the bus's event loop writes them.
    Use from one event loop.
    """

    def __init__(
        self,
        subject: Subject[T],
        *,
        queue: str | None,
        max_pending: int,
        log: Any,
        on_decode_error: DecodeFailureHook | None = None,
    ) -> None:
        self.subject = subject
        self.filter = subject.filter_subject()
        self.queue = queue
        self.received = 0
        """Messages decoded and accepted into the buffer."""
        self.decode_errors = 0
        """Messages dropped because their payload did not decode."""
        self.handler_errors = 0
        """Handler calls that raised."""
        self.dropped = 0
        """Messages dropped because ``max_pending`` were already waiting."""
        self._max_pending = max_pending
        self._log = log.bind(filter=self.filter, queue=queue)
        self._on_decode_error = on_decode_error
        self._buffer: asyncio.Queue[Message[T]] = asyncio.Queue()
        self._intake_open = True
        self._finished = False
        self._detach: Detach | None = None
        self._handler: Handler[T] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_finished: Callable[[Subscription[Any]], None] | None = None

    # ----------------------------------------------------------------- backend side

    def _attach(self, detach: Detach, on_finished: Callable[[Subscription[Any]], None]) -> None:
        self._detach = detach
        self._on_finished = on_finished

    def _start_handler(self, handler: Handler[T], concurrency: int) -> None:
        self._handler = handler
        self._pump = asyncio.create_task(
            self._run_handler(handler, concurrency), name=f"bus-handler:{self.filter}"
        )

    def _deliver(self, raw: RawMessage) -> None:
        """Decode and buffer one message. Never raises: bad input is logged and counted."""
        if not self._intake_open:
            return
        try:
            data = self.subject.codec.decode(raw.data)
            tokens = self.subject.parse(raw.subject)
        except (DecodeError, SubjectError) as exc:
            self.decode_errors += 1
            self._log.warning(
                "bus payload undecodable",
                subject=raw.subject,
                payload_type=self.subject.codec.type_name,
                error=str(exc),
                decode_errors=self.decode_errors,
            )
            if self._on_decode_error is not None and isinstance(exc, DecodeError):
                self._spawn(self._on_decode_error(raw, exc))
            return
        if self._buffer.qsize() >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                self._log.warning("bus slow consumer", subject=raw.subject, dropped=self.dropped)
            return
        self.received += 1
        self._buffer.put_nowait(Message(raw.subject, data, raw.headers, raw.reply, tokens))

    # ----------------------------------------------------------------- reader side

    @property
    def pending(self) -> int:
        """Messages buffered and not yet read or handled."""
        return max(0, self._buffer.qsize() - (1 if self._finished else 0))

    @property
    def closed(self) -> bool:
        """Whether the subscription was unsubscribed or drained: it takes no new messages
        (an iterator may still yield buffered ones after a drain)."""
        return self._finished

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message[T]:
        if self._handler is not None:
            raise TypeError("this subscription has a handler; it cannot also be iterated")
        item = await self._buffer.get()
        if item is _END:
            self._buffer.put_nowait(_END)  # every later call ends too
            raise StopAsyncIteration
        return item

    async def unsubscribe(self) -> None:
        """Stop at once: remove the interest, discard buffered messages, cancel running
        handlers, end iteration. Idempotent; never raises for a lost connection."""
        await self._stop_intake(drain=False)
        already_finished = self._finished
        while not self._buffer.empty():
            self._buffer.get_nowait()
        if already_finished:
            self._buffer.put_nowait(_END)  # drained before: keep the end marker
        self._finish()
        # A handler may unsubscribe its own subscription: never cancel or await ourselves.
        current = asyncio.current_task()
        tasks = [t for t in (*self._tasks, self._pump) if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, timeout: float = 5.0) -> None:
        """Stop taking new messages, then let the handler finish the ones already received
        (up to ``timeout`` seconds, then they are cancelled). An iterator keeps yielding the
        buffered messages and then ends. Idempotent."""
        try:
            async with asyncio.timeout(timeout):
                await self._stop_intake(drain=True)
                self._finish()
                if self._pump is not None:
                    await asyncio.shield(self._pump)
        except TimeoutError:
            self._log.warning("bus drain timed out", pending=self.pending, timeout=timeout)
            await self.unsubscribe()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.unsubscribe()

    # ----------------------------------------------------------------- internals

    async def _stop_intake(self, *, drain: bool) -> None:
        detach, self._detach = self._detach, None
        if detach is not None:
            try:
                await detach(drain)
            except BusError as exc:
                # The connection is gone: the server has forgotten the interest anyway.
                self._log.debug("bus unsubscribe failed", error=str(exc))
        self._intake_open = False

    def _finish(self) -> None:
        self._intake_open = False
        if not self._finished:
            self._finished = True
            self._buffer.put_nowait(_END)
            if self._on_finished is not None:
                self._on_finished(self)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(self, handler: Handler[T], concurrency: int) -> None:
        slots = asyncio.Semaphore(concurrency)
        while True:
            message = await self._buffer.get()
            if message is _END:
                break
            if concurrency == 1:
                await self._call(handler, message)
                continue
            await slots.acquire()
            task = asyncio.create_task(self._call(handler, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda _: slots.release())
        # Children cancelled by unsubscribe() come back as results; our own cancellation
        # still propagates.
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _call(self, handler: Handler[T], message: Message[T]) -> None:
        try:
            await handler(message)
        except Exception:
            self.handler_errors += 1
            self._log.exception(
                "bus handler failed", subject=message.subject, handler_errors=self.handler_errors
            )
