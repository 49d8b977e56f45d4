"""One registration stream: :class:`RegistrationSession`.

A session is one ``Register`` call (see ``registration.proto``): opening it sends the
workload and waits for ``Registered``; heartbeats keep it, and may change the endpoints'
health; it ends with a Deregister (the endpoints go at once), a half-close (they go as the
stream ends), or an abort (the call is cancelled, as when a process dies: discovery removes
the registration as soon as it notices).

One task per session reads everything discovery sends (acknowledgements, ``Deregistered``,
the final status), so that a heartbeat need not wait for its acknowledgement and a broken
stream is noticed at once, whatever the session's user is doing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import structlog
from grpc import aio

from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.protos.registry.v1 import registration_pb2_grpc
from mizzen.registration.errors import NoAnswer, StreamEnded

__all__ = ["DEFAULT_TTL", "RegistrationSession"]

log = structlog.get_logger(__name__)

DEFAULT_TTL = 10.0
"""The TTL (seconds) assumed when discovery's ``Registered`` carries none."""


class RegistrationSession:
    """One open registration stream, registered. Create it with :meth:`open`.

    Use it from one event loop, and one writer at a time: :meth:`heartbeat`,
    :meth:`send_heartbeat`, :meth:`keep_alive`, :meth:`deregister` and :meth:`close` must not
    run concurrently. Reading is the session's own (a task started by :meth:`open`): the
    attributes below are kept current by it. Failures raise :class:`StreamEnded` carrying the
    status discovery ended the stream with, or :class:`NoAnswer` when discovery stops
    answering. Whatever the outcome, a session ends with its call cancelled (after
    :meth:`deregister`, :meth:`close` or :meth:`abort`; leaving it open holds the registration).
    """

    def __init__(self, call: Any, registered: pb.Registered, *, target: str = "") -> None:
        """Wrap ``call``, a Register call on which discovery answered ``registered`` (sent
        from ``target``); :meth:`open` does this. Needs a running event loop."""
        self._call = call
        self.registered = registered
        """Discovery's answer: registration id, TTL, heartbeat interval, host names, replica."""
        self.target = target
        """The ``HOST:PORT`` the stream was opened to."""
        self.ttl = registered.ttl.ToTimedelta().total_seconds() or DEFAULT_TTL
        """The registration's TTL, in seconds: without a message for this long, it is removed."""
        self.heartbeat_interval = (
            registered.heartbeat_interval.ToTimedelta().total_seconds() or self.ttl / 3
        )
        """How often to heartbeat, in seconds."""
        self.replica = registered.replica or target
        """The discovery replica holding the registration, as it names itself."""
        self.last_answer = time.monotonic()
        """When discovery last sent anything (``time.monotonic()``)."""
        self.deregistered = False
        """Whether discovery confirmed a Deregister."""
        self._sequence = 0
        self._acked = 0
        self._end: StreamEnded | None = None
        self._ended = asyncio.Event()
        self._answered = asyncio.Event()  # replaced on every answer: wakes whoever waits on it
        self._reader = asyncio.get_running_loop().create_task(
            self._read_all(), name="registration-reader"
        )

    @classmethod
    async def open(
        cls, channel: aio.Channel, workload: pb.Workload, *, target: str = "", timeout: float = 10.0
    ) -> RegistrationSession:
        """Register ``workload`` over ``channel`` (to ``target``, named in logs and errors);
        returns once discovery stored it. Raises :class:`NoAnswer` when discovery does not
        answer within ``timeout`` seconds, :class:`StreamEnded` when it ends the stream instead
        (``code`` INVALID_ARGUMENT for an invalid workload, UNAVAILABLE for a replica that is
        gone or leaving...). Cancelling it cancels the call: nothing stays registered."""
        call = registration_pb2_grpc.RegistrationServiceStub(channel).Register()
        try:
            async with asyncio.timeout(timeout):
                await _write(call, pb.RegisterRequest(workload=workload))
                first = await call.read()
        except TimeoutError as exc:
            call.cancel()  # discovery drops whatever it stored
            raise NoAnswer(f"no answer within {timeout:.1f}s") from exc
        except aio.AioRpcError as exc:
            raise _status_ended(exc) from exc
        except BaseException:
            call.cancel()
            raise
        if first is aio.EOF or first.WhichOneof("kind") != "registered":
            call.cancel()
            raise StreamEnded("the stream ended before Registered")
        return cls(call, first.registered, target=target)

    @property
    def registration_id(self) -> str:
        """The registration's name in discovery's logs (its etcd lease id, in hex)."""
        return self.registered.registration_id

    @property
    def ended(self) -> bool:
        """Whether the stream has ended (see :meth:`wait_ended` for how)."""
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        """Wait until the stream ends: return if discovery ended it with OK, raise
        :class:`StreamEnded` with its status otherwise (CANCELLED once aborted here)."""
        await self._ended.wait()
        if self._end is not None:
            raise self._end

    async def send_heartbeat(self, health: pb.Health.ValueType = pb.HEALTH_UNSPECIFIED) -> int:
        """Send one heartbeat (``health``: UNSPECIFIED keeps the current one) without waiting
        for its acknowledgement; returns its sequence number. Raises :class:`StreamEnded` if
        the stream has ended."""
        self._sequence += 1
        heartbeat = pb.Heartbeat(health=health, sequence=self._sequence)
        await _write(self._call, pb.RegisterRequest(heartbeat=heartbeat))
        return self._sequence

    async def heartbeat(self, health: pb.Health.ValueType = pb.HEALTH_UNSPECIFIED) -> None:
        """Send one heartbeat and wait for its acknowledgement (once acknowledged, a health
        change is stored). Raises :class:`NoAnswer` after one TTL without it,
        :class:`StreamEnded` if the stream ends first."""
        sequence = await self.send_heartbeat(health)
        try:
            async with asyncio.timeout(self.ttl):
                while self._acked < sequence:
                    if self._ended.is_set():
                        await self.wait_ended()
                        raise StreamEnded(
                            "the stream ended (OK) before the heartbeat was acknowledged",
                            grpc.StatusCode.OK,
                        )
                    await self._answered.wait()
        except TimeoutError as exc:
            raise NoAnswer(f"no answer to heartbeats for {self.ttl:g}s") from exc

    async def keep_alive(
        self,
        *,
        health: Callable[[], pb.Health.ValueType] | None = None,
        wake: asyncio.Event | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Heartbeat every :attr:`heartbeat_interval`, and at once whenever ``wake`` is set
        (this clears it), each carrying ``health()`` (default: unchanged). Returns once
        ``stop`` is set, leaving the stream open (:meth:`deregister` or :meth:`close` it
        next); otherwise runs until the stream fails. Raises :class:`StreamEnded` when the
        stream ends (an OK end without a Deregister included: the registration is gone),
        :class:`NoAnswer` after one TTL without any answer from discovery."""
        events = [e for e in (wake, stop) if e is not None]
        while True:
            await _first_of([self._ended, *events], timeout=self.heartbeat_interval)
            if self._ended.is_set():
                await self.wait_ended()  # raises the status discovery ended the stream with
                raise StreamEnded("the stream ended (OK) without a Deregister", grpc.StatusCode.OK)
            if wake is not None:
                wake.clear()
            if stop is not None and stop.is_set():
                return
            if time.monotonic() - self.last_answer > self.ttl:
                raise NoAnswer(f"no answer to heartbeats for {self.ttl:g}s")
            await self.send_heartbeat(health() if health is not None else pb.HEALTH_UNSPECIFIED)

    async def deregister(self, *, timeout: float = 5.0) -> None:
        """Remove the registration now: send Deregister, half-close and wait up to ``timeout``
        seconds for discovery to end the stream (it removes the endpoints before). Raises
        :class:`NoAnswer` if it does not, :class:`StreamEnded` if the stream had already
        ended or ends with an error. The call is cancelled in every case."""
        await self._finish(pb.RegisterRequest(deregister=pb.Deregister()), timeout)

    async def close(self, *, timeout: float = 5.0) -> None:
        """Half-close without deregistering (discovery removes the registration as the stream
        ends) and wait up to ``timeout`` seconds for the end; raises as :meth:`deregister`."""
        await self._finish(None, timeout)

    def abort(self) -> None:
        """Cancel the stream without deregistering (as a crashing agent would): discovery
        removes the registration as soon as it notices. Idempotent."""
        self._call.cancel()
        if not self._reader.done():
            self._reader.cancel()
        if not self._ended.is_set():
            self._end = StreamEnded("the stream was cancelled here", grpc.StatusCode.CANCELLED)
            self._ended.set()
            self._answer()

    async def _finish(self, request: pb.RegisterRequest | None, timeout: float) -> None:
        try:
            if request is not None:
                await _write(self._call, request)
            try:
                await self._call.done_writing()
            except aio.AioRpcError as exc:
                raise _status_ended(exc) from exc
            try:
                async with asyncio.timeout(timeout):
                    await self.wait_ended()
            except TimeoutError as exc:
                raise NoAnswer(f"discovery did not end the stream within {timeout:g}s") from exc
        finally:
            self.abort()

    def _answer(self) -> None:
        answered, self._answered = self._answered, asyncio.Event()
        answered.set()

    async def _read_all(self) -> None:
        try:
            while True:
                try:
                    message = await self._call.read()
                except aio.AioRpcError as exc:
                    self._end = _status_ended(exc)
                    return
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    # grpc raises CancelledError from a call cancelled under it (its channel
                    # closed, for one): that ends the stream, not this task's caller.
                    self._end = StreamEnded("the stream was cancelled", grpc.StatusCode.CANCELLED)
                    return
                if message is aio.EOF:
                    return
                self.last_answer = time.monotonic()
                kind = message.WhichOneof("kind")
                if kind == "heartbeat_ack":
                    self._acked = max(self._acked, message.heartbeat_ack.sequence)
                elif kind == "deregistered":
                    self.deregistered = True
                    log.info("workload deregistered", replica=self.replica)
                self._answer()
        finally:
            self._ended.set()
            self._answer()


async def _write(call: Any, request: pb.RegisterRequest) -> None:
    """Write ``request``; a stream that has ended raises :class:`StreamEnded` with its status."""
    try:
        await call.write(request)
    except aio.AioRpcError as exc:
        raise _status_ended(exc) from exc
    except asyncio.InvalidStateError as exc:  # written to a call that just ended
        code = await call.code()
        raise StreamEnded(_reason(code, await call.details()), code) from exc


def _status_ended(exc: aio.AioRpcError) -> StreamEnded:
    """The one place gRPC's errors become :class:`StreamEnded`."""
    return StreamEnded(_reason(exc.code(), exc.details()), exc.code())


def _reason(code: grpc.StatusCode, details: str | None) -> str:
    return f"{code.name}: {details or ''}".rstrip(": ")


async def _first_of(events: Iterable[asyncio.Event], *, timeout: float) -> None:
    """Return once any of ``events`` is set, or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
