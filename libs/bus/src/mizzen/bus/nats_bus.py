"""The NATS bus: the :class:`Bus` contract over nats-py.

The connection reconnects forever (``max_reconnect_attempts=-1``): nats-py resubscribes core
subscriptions itself, buffers publishes while reconnecting, and durable consumers recreate
what they need on the ``RECONNECTED`` event (see :mod:`mizzen.bus.nats_stream`). Every
nats-py call runs inside :func:`mizzen.bus.nats_errors.mapped`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import nats.aio.client
import nats.js
from nats.aio.msg import Msg

from mizzen.bus.bus import Bus, ConnectionEvent, ConnectionListener, RawSink
from mizzen.bus.errors import BusError, BusUnavailable
from mizzen.bus.nats_errors import mapped
from mizzen.bus.nats_stream import NatsDurableStream
from mizzen.bus.stream import DurableStream, StreamConfig
from mizzen.bus.subscription import EMPTY_HEADERS, Detach, RawMessage

__all__ = ["NatsBus"]


class NatsBus(Bus):
    """A :class:`Bus` connected to nats-server. Open it with :meth:`connect` (or
    :func:`mizzen.bus.open_bus`). Connection changes are logged (``bus disconnected``,
    ``bus reconnected``) and told to connection listeners."""

    def __init__(self, servers: Sequence[str], *, name: str, api_timeout: float) -> None:
        super().__init__(name)
        self.servers = list(servers)
        self.api_timeout = api_timeout
        self._nc = nats.aio.client.Client()
        self._js: nats.js.JetStreamContext | None = None
        self._errors_in_a_row = 0

    @classmethod
    async def connect(
        cls,
        servers: Sequence[str],
        *,
        name: str = "mizzen",
        connect_timeout: float | None = 10.0,
        reconnect_wait: float = 0.5,
        ping_interval: float = 10.0,
        api_timeout: float = 5.0,
        listeners: Sequence[ConnectionListener] = (),
    ) -> NatsBus:
        """Connect to the first reachable server of ``servers`` and return the bus.

        ``connect_timeout`` bounds the first connection (``None``: wait forever; the servers
        are retried every ``reconnect_wait`` seconds meanwhile) and raises
        :class:`BusUnavailable` when it passes. Later disconnections are retried forever.
        ``ping_interval`` seconds between keepalive pings (a silent server is dropped after
        three unanswered); ``api_timeout`` bounds JetStream API calls. ``listeners`` are
        added before connecting, so they see ``CONNECTED``.
        """
        bus = cls(servers, name=name, api_timeout=api_timeout)
        for listener in listeners:
            bus.add_connection_listener(listener)
        options: dict[str, Any] = {
            # nats-py annotates the durations as int but uses them as float seconds.
            "servers": bus.servers,
            "name": name,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": reconnect_wait,
            "connect_timeout": min(2.0, connect_timeout or 2.0),
            "ping_interval": ping_interval,
            "max_outstanding_pings": 3,
            "drain_timeout": 5,
            "error_cb": bus._on_error,
            "disconnected_cb": bus._on_disconnected,
            "reconnected_cb": bus._on_reconnected,
            "closed_cb": bus._on_closed,
        }
        try:
            async with asyncio.timeout(connect_timeout):
                await bus._nc.connect(**options)
        except TimeoutError as exc:
            with contextlib.suppress(Exception):
                await bus._nc.close()
            raise BusUnavailable(
                f"cannot connect to {','.join(bus.servers)} within {connect_timeout}s"
            ) from exc
        bus._js = bus._nc.jetstream(timeout=api_timeout)
        bus._log.info("bus connected", server=bus._server())
        bus._emit(ConnectionEvent.CONNECTED)
        return bus

    # ----------------------------------------------------------------- connection events

    def _server(self) -> str | None:
        url = self._nc.connected_url
        return url.netloc if url else None

    async def _on_error(self, exc: Exception) -> None:
        # While the server is away every retry fails: warn on the first failure and then
        # every 100th, so a long outage does not flood the log.
        self._errors_in_a_row += 1
        level = "warning" if self._errors_in_a_row % 100 == 1 else "debug"
        getattr(self._log, level)(
            "bus connection error",
            error=str(exc) or type(exc).__name__,
            errors_in_a_row=self._errors_in_a_row,
        )

    async def _on_disconnected(self) -> None:
        if not self._closing:
            self._log.warning("bus disconnected")
            self._emit(ConnectionEvent.DISCONNECTED)

    async def _on_reconnected(self) -> None:
        self._errors_in_a_row = 0
        self._log.info("bus reconnected", server=self._server())
        self._emit(ConnectionEvent.RECONNECTED)

    async def _on_closed(self) -> None:
        if not self._closing:
            # Only a refused connection (bad credentials) ends reconnecting for good.
            self._log.error("bus connection closed by the client library")
            self._emit(ConnectionEvent.CLOSED)

    # ----------------------------------------------------------------- primitives

    @property
    def is_connected(self) -> bool:
        """Whether the connection is up right now (false while reconnecting)."""
        return bool(self._nc.is_connected)

    @property
    def max_payload(self) -> int:
        """The maximum payload the connected server announced."""
        return int(self._nc.max_payload)

    @property
    def jetstream(self) -> nats.js.JetStreamContext:
        """The JetStream context (for :mod:`mizzen.bus.nats_stream`)."""
        if self._js is None:
            raise BusUnavailable(f"bus {self.name} is not connected")
        return self._js

    async def _publish_raw(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, reply: str | None
    ) -> None:
        with mapped("publish", subject=subject):
            await self._nc.publish(
                subject, data, reply=reply or "", headers=dict(headers) if headers else None
            )

    async def _subscribe_raw(self, filter_subject: str, queue: str | None, sink: RawSink) -> Detach:
        async def on_message(msg: Msg) -> None:
            sink(RawMessage(msg.subject, msg.data, msg.headers or EMPTY_HEADERS, msg.reply or None))

        with mapped("subscribe", subject=filter_subject):
            nats_sub = await self._nc.subscribe(filter_subject, queue=queue or "", cb=on_message)
        await self._confirm_interest(filter_subject)

        async def detach(drain: bool) -> None:
            if self._nc.is_closed:
                return
            with mapped("unsubscribe", subject=filter_subject):
                if drain and self._nc.is_connected:
                    await nats_sub.drain()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated
                else:
                    await nats_sub.unsubscribe()

        return detach

    async def _confirm_interest(self, filter_subject: str) -> None:
        """Round-trip to the server so that the subscription is active when we return."""
        if not self._nc.is_connected:
            return  # nats-py replays the subscription when it reconnects
        try:
            await self._flush_raw(self.api_timeout)
        except BusError as exc:
            self._log.warning("bus subscribe unconfirmed", filter=filter_subject, error=str(exc))

    async def _request_raw(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None, timeout: float
    ) -> RawMessage:
        with mapped("request", subject=subject, timeout=timeout):
            reply = await self._nc.request(
                subject, data, timeout=timeout, headers=dict(headers) if headers else None
            )
        return RawMessage(reply.subject, reply.data, reply.headers or EMPTY_HEADERS, None)

    async def _flush_raw(self, timeout: float) -> None:
        flush_timeout: Any = timeout  # annotated int, used as float seconds
        with mapped("flush", timeout=timeout):
            # nats-py's flush() writes its PING straight to the socket, ahead of commands
            # still in its own outgoing buffer, so the PONG alone does not prove that an
            # earlier SUB or PUB reached the server (a subscription "confirmed" that way
            # missed messages about one time in 25). Hand the buffer to the socket first.
            async with asyncio.timeout(timeout):
                await self._nc._flush_pending(force_flush=True)
            await self._nc.flush(timeout=flush_timeout)

    async def _close_raw(self) -> None:
        if self._nc.is_closed:
            return
        try:
            with mapped("close"):
                if self._nc.is_connected:
                    await self._nc.drain()  # flushes outgoing messages, then closes
                else:
                    await self._nc.close()
        except BusError as exc:
            self._log.warning("bus close failed", error=str(exc))
            await self._nc.close()
        self._log.debug("bus disconnected")

    async def durable_stream(self, config: StreamConfig) -> DurableStream:
        """See :meth:`Bus.durable_stream`."""
        self._check_accepting()
        return await NatsDurableStream.open(self, config)

    async def delete_stream(self, name: str) -> None:
        """See :meth:`Bus.delete_stream`."""
        self._check_open()
        with mapped("delete stream", stream=name):
            await self.jetstream.delete_stream(name)
