"""The in-memory bus: the :class:`Bus` contract inside one process, for tests and all-in-one.

A :class:`MemoryBroker` plays the server: it routes messages to subscriptions with NATS
semantics (``*`` and ``>`` wildcards, one member per queue group chosen at random, no
responders detected at once) and keeps durable streams. Each :class:`MemoryBus` is one
connection to a broker. ``open_bus("memory://")`` gives a private broker;
``open_bus("memory://<name>")`` shares the broker of that name with every other bus opened
with the same URL in this process while any of them is alive.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from uuid import uuid4

from mizzen.bus.bus import Bus, RawSink
from mizzen.bus.errors import NoResponders, NoStream, RequestTimeout, StreamError
from mizzen.bus.memory_stream import MemoryDurableStream, StreamState
from mizzen.bus.stream import DurableStream, StreamConfig
from mizzen.bus.subject import subject_matches, subjects_overlap
from mizzen.bus.subscription import Detach, RawMessage

__all__ = ["MemoryBroker", "MemoryBus", "named_broker"]

DEFAULT_MAX_PAYLOAD = 1024 * 1024  # nats-server's default max_payload

# Brokers by name, so that every ``memory://<name>`` bus in a process meets the same one
# (how ``mizzen up --all-in-one`` wires services together). Weak: a broker lives as long as
# a bus uses it.
_named_brokers: weakref.WeakValueDictionary[str, MemoryBroker] = weakref.WeakValueDictionary()


def named_broker(name: str) -> MemoryBroker:
    """The process's broker called ``name``, created on first use."""
    broker = _named_brokers.get(name)
    if broker is None:
        broker = MemoryBroker(name)
        _named_brokers[name] = broker
    return broker


@dataclass(frozen=True, slots=True)
class _Interest:
    filter: str
    queue: str | None
    sink: RawSink


class MemoryBroker:
    """The in-process server: subscriptions and streams. Used from one event loop; every
    operation completes synchronously, so a publish has reached every matching subscription's
    buffer when ``publish`` returns."""

    def __init__(self, name: str = "", *, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.name = name or f"memory-{uuid4().hex[:8]}"
        self.max_payload = max_payload
        self.streams: dict[str, StreamState] = {}
        self._interests: dict[int, _Interest] = {}
        self._ids = itertools.count(1)
        self._random = random.Random()

    def subscribe(self, filter_subject: str, queue: str | None, sink: RawSink) -> int:
        """Register interest; return its id for :meth:`unsubscribe`."""
        interest_id = next(self._ids)
        self._interests[interest_id] = _Interest(filter_subject, queue, sink)
        return interest_id

    def unsubscribe(self, interest_id: int) -> None:
        """Remove an interest (no-op if already gone)."""
        self._interests.pop(interest_id, None)

    def route(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, reply: str | None
    ) -> int:
        """Deliver to matching subscriptions: every plain one, one member per queue group.
        Returns how many subscriptions received the message."""
        message = RawMessage(subject, bytes(data), MappingProxyType(dict(headers or {})), reply)
        groups: dict[str, list[_Interest]] = {}
        delivered = 0
        for interest in list(self._interests.values()):
            if not subject_matches(interest.filter, subject):
                continue
            if interest.queue is None:
                interest.sink(message)
                delivered += 1
            else:
                groups.setdefault(interest.queue, []).append(interest)
        for members in groups.values():
            self._random.choice(members).sink(message)
            delivered += 1
        return delivered

    def stream_for(self, subject: str) -> StreamState | None:
        """The stream that captures ``subject``, if any (stream subjects never overlap)."""
        for state in self.streams.values():
            if state.captures(subject):
                return state
        return None

    def create_stream(self, config: StreamConfig) -> StreamState:
        """Create the stream, or update an existing one's configuration (keeping messages)."""
        for other in self.streams.values():
            if other.config.name == config.name:
                continue
            for mine in config.subjects:
                for theirs in other.config.subjects:
                    if subjects_overlap(mine, theirs):
                        raise StreamError(
                            f"stream {config.name}: subject {mine} overlaps stream "
                            f"{other.config.name}'s {theirs}",
                            stream=config.name,
                            code=10065,
                        )
        state = self.streams.get(config.name)
        if state is None:
            state = self.streams[config.name] = StreamState(config)
        else:
            state.config = config
            state.notify()
        return state


class MemoryBus(Bus):
    """One connection to a :class:`MemoryBroker`. Always connected until closed."""

    def __init__(self, broker: MemoryBroker, *, name: str = "mizzen") -> None:
        super().__init__(name)
        self.broker = broker
        self._log.debug("bus connected", url=f"memory://{broker.name}")

    @property
    def is_connected(self) -> bool:
        """True until :meth:`close`."""
        return not self.closed

    @property
    def max_payload(self) -> int:
        """The broker's maximum payload (1 MiB, like nats-server's default)."""
        return self.broker.max_payload

    async def _publish_raw(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, reply: str | None
    ) -> None:
        stream = self.broker.stream_for(subject)
        if stream is not None:
            # Like NATS: a plain publish to a stream's subject is stored by the stream too.
            stream.store(subject, data, headers, asyncio.get_running_loop().time())
        self.broker.route(subject, data, headers, reply)

    async def _subscribe_raw(self, filter_subject: str, queue: str | None, sink: RawSink) -> Detach:
        interest_id = self.broker.subscribe(filter_subject, queue, sink)

        async def detach(drain: bool) -> None:
            self.broker.unsubscribe(interest_id)

        return detach

    async def _request_raw(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, timeout: float
    ) -> RawMessage:
        inbox = f"_INBOX.{uuid4().hex}"
        reply: asyncio.Future[RawMessage] = asyncio.get_running_loop().create_future()

        def on_reply(message: RawMessage) -> None:
            if not reply.done():
                reply.set_result(message)

        interest_id = self.broker.subscribe(inbox, None, on_reply)
        try:
            if self.broker.route(subject, data, headers, inbox) == 0:
                raise NoResponders(f"request {subject}: no responders", subject=subject,
                                   timeout=timeout)  # fmt: skip
            try:
                async with asyncio.timeout(timeout):
                    return await reply
            except TimeoutError as exc:
                raise RequestTimeout(
                    f"request {subject}: no reply within {timeout}s", subject=subject,
                    timeout=timeout,
                ) from exc  # fmt: skip
        finally:
            self.broker.unsubscribe(interest_id)

    async def _flush_raw(self, timeout: float) -> None:
        # Delivery is synchronous: everything published already reached its subscribers.
        return

    async def _close_raw(self) -> None:
        self._log.debug("bus disconnected", url=f"memory://{self.broker.name}")

    async def durable_stream(self, config: StreamConfig) -> DurableStream:
        """See :meth:`Bus.durable_stream`."""
        self._check_accepting()
        self.broker.create_stream(config)
        return MemoryDurableStream(self, config)

    async def delete_stream(self, name: str) -> None:
        """See :meth:`Bus.delete_stream`."""
        self._check_open()
        state = self.broker.streams.pop(name, None)
        if state is None:
            raise NoStream(f"stream {name} does not exist", stream=name)
        state.notify()
