"""Keeping one workload registered with discovery, across replicas: :class:`Registrar`.

The registrar holds one :class:`~mizzen.registration.RegistrationSession` at a time: it
registers, then heartbeats; any change of health goes out at once in a heartbeat. When the
stream breaks (UNAVAILABLE: a replica shutting down or gone; DEADLINE_EXCEEDED; a replica that
answers nothing for one TTL) it registers again with the next replica, at once, and backs off
only after every replica failed in a row. On a clean stop it sends ``Deregister`` and waits
for the stream to end.

Fatal: discovery refusing the workload (a status in :data:`FATAL_CODES`, such as
INVALID_ARGUMENT), and no replica registering it before the first-registration deadline.
After a first success, outages are waited out however long they last.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

import structlog
from grpc import aio

from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration.errors import (
    FATAL_CODES,
    DiscoveryUnreachable,
    NoAnswer,
    RegistrationError,
    RegistrationRefused,
    StreamEnded,
)
from mizzen.registration.session import RegistrationSession
from mizzen.runtime import backoff_delay, create_channel

__all__ = ["ChannelFactory", "Registrar", "retry_delay"]

log = structlog.get_logger(__name__)

ChannelFactory = Callable[[str], aio.Channel]
"""Opens a channel to a ``HOST:PORT``; the registrar closes it (``async with``)."""

RETRY_JITTER = 0.2
"""Each backoff delay is shortened by up to this fraction, at random, so that many agents
restarting together spread out."""


def retry_delay(
    rounds: int, *, initial: float, maximum: float, rand: Callable[[], float] = random.random
) -> float:
    """The backoff after ``rounds`` (0 for the first) consecutive rounds of failed replicas:
    ``initial`` doubled per round up to ``maximum``, times a factor in ``[1 - RETRY_JITTER,
    1]`` drawn with ``rand`` (a float in ``[0, 1)``)."""
    return backoff_delay(rounds, base=initial, maximum=maximum, jitter=RETRY_JITTER, rand=rand)


class Registrar:
    """Keeps ``workload`` registered with one of ``targets`` (discovery replicas, HOST:PORT).

    Use from one event loop: :meth:`start` runs the registration in a task (or enter the
    registrar with ``async with``, which stops it on leaving); :attr:`registered` is set while
    a registration stands; :meth:`set_health` changes the health discovery records (the
    workload's own ``health`` is the first, UNSPECIFIED meaning HEALTHY); :meth:`stop`
    deregisters and ends the task. The task raises :class:`RegistrationRefused` or
    :class:`DiscoveryUnreachable` when registration is impossible (see the module
    docstring); ``first_deadline`` bounds the first registration, ``answer_timeout`` each wait
    for discovery's ``Registered`` or the stream's end after a Deregister. Backoff delays go
    from ``retry_initial`` to ``retry_max`` seconds (see :func:`retry_delay`).
    """

    def __init__(
        self,
        targets: Sequence[str],
        workload: pb.Workload,
        *,
        first_deadline: float = 30.0,
        answer_timeout: float = 5.0,
        retry_initial: float = 0.1,
        # Well under discovery's lease TTL (10 s by default): a restarted discovery must see
        # the agent back before the old registration's lease expires and drops its endpoints.
        retry_max: float = 1.0,
        channel_factory: ChannelFactory = create_channel,
    ) -> None:
        if not targets:
            raise ValueError("Registrar needs at least one discovery target")
        self._targets = tuple(targets)
        self._workload = workload
        self._health: pb.Health.ValueType = workload.health or pb.HEALTH_HEALTHY
        self._first_deadline = first_deadline
        self._answer_timeout = answer_timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._channel_factory = channel_factory
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._deregister = True
        self._session: RegistrationSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()
        """Set while the workload is registered; cleared while it is registered again."""
        self.registrations = 0
        """How many times a replica accepted the registration (1 + re-registrations)."""
        self.replica = ""
        """The replica that holds (or last held) the registration, as it names itself."""

    @property
    def health(self) -> pb.Health.ValueType:
        """The health last given."""
        return self._health

    @property
    def registration(self) -> pb.Registered | None:
        """Discovery's answer for the registration standing now; ``None`` while there is none."""
        return self._session.registered if self._session is not None else None

    @property
    def target(self) -> str:
        """The ``HOST:PORT`` holding the registration standing now; ``""`` while there is none."""
        return self._session.target if self._session is not None else ""

    def set_health(self, health: pb.Health.ValueType) -> None:
        """Change the recorded health; sent to discovery at once if it changed."""
        if health != self._health:
            self._health = health
            log.info("workload health changed", health=pb.Health.Name(health))
            self._wake.set()

    def start(self) -> asyncio.Task[None]:
        """Start registering (once); the returned task ends after :meth:`stop` or raises
        :class:`RegistrationRefused` or :class:`DiscoveryUnreachable`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="registration")
        return self._task

    async def stop(self, *, deregister: bool = True, timeout: float = 5.0) -> None:
        """Deregister (unless ``deregister`` is false: then the stream is just closed, and
        discovery removes the registration as it ends) and wait up to ``timeout`` for the
        task to end; then cancel it. Idempotent; never raises the task's error."""
        self._deregister = deregister
        self._stop.set()
        self._wake.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            log.warning("deregistration timed out", timeout=timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RegistrationError):
                await task
        except RegistrationError:
            pass

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        started = time.monotonic()
        index = 0
        failures = 0
        rounds = 0
        last_error = ""
        while not self._stop.is_set():
            target = self._targets[index % len(self._targets)]
            index += 1
            timeout = self._answer_timeout
            if not self.registrations:
                remaining = self._first_deadline - (time.monotonic() - started)
                if remaining <= 0:
                    raise DiscoveryUnreachable(
                        self._unreachable(last_error), targets=self._targets, last_error=last_error
                    )
                timeout = min(timeout, remaining)
            registered_before = self.registrations
            try:
                await self._hold(target, timeout)
                return
            except StreamEnded as exc:
                last_error = f"{target}: {exc.reason}"
                if exc.code in FATAL_CODES:
                    raise RegistrationRefused(
                        f"discovery at {target} refused the workload: {exc.reason}",
                        target=target,
                        code=exc.code,
                    ) from exc
            finally:
                self.registered.clear()
            if self._stop.is_set():
                return
            if self.registrations > registered_before:
                log.warning("registration lost", replica=target, reason=last_error)
                failures = 0
                rounds = 0
                continue  # straight to the next replica
            log.info("registration attempt failed", replica=target, reason=last_error)
            failures += 1
            if failures % len(self._targets) == 0:
                delay = retry_delay(rounds, initial=self._retry_initial, maximum=self._retry_max)
                rounds += 1
                if not self.registrations:
                    remaining = self._first_deadline - (time.monotonic() - started)
                    delay = max(0.0, min(delay, remaining))
                with contextlib.suppress(TimeoutError):
                    # Backoff after a whole round of failed replicas; a stop() ends it early.
                    await asyncio.wait_for(self._stop.wait(), delay)

    def _unreachable(self, last_error: str) -> str:
        return (
            f"no discovery replica registered the workload within {self._first_deadline:g}s "
            f"(tried {', '.join(self._targets)}; last error {last_error or 'none'})"
        )

    async def _hold(self, target: str, open_timeout: float) -> None:
        """One registration stream with ``target``; returns after a stop (deregistered or
        closed as asked), raises :class:`StreamEnded` when the stream breaks."""
        async with self._channel_factory(target) as channel:
            session = await self._open(channel, target, open_timeout)
            if session is None:
                return  # stopped before discovery answered: the call is cancelled
            try:
                self._session = session
                self.registrations += 1
                self.replica = session.replica
                self.registered.set()
                log.info("workload registered", replica=session.replica, target=target,
                         registration_id=session.registration_id, ttl=session.ttl,
                         hostnames=list(session.registered.hostnames))  # fmt: skip
                await session.keep_alive(
                    health=lambda: self._health, wake=self._wake, stop=self._stop
                )
                try:
                    if self._deregister:
                        await session.deregister(timeout=self._answer_timeout)
                    else:
                        await session.close(timeout=self._answer_timeout)
                except NoAnswer:
                    log.warning("deregistration not confirmed", replica=session.replica)
            finally:
                self._session = None
                session.abort()

    async def _open(
        self, channel: aio.Channel, target: str, timeout: float
    ) -> RegistrationSession | None:
        """Open a session, the workload carrying the current health; ``None`` if stopped
        before discovery answered."""
        workload = pb.Workload()
        workload.CopyFrom(self._workload)
        workload.health = self._health
        opening = asyncio.ensure_future(
            RegistrationSession.open(channel, workload, target=target, timeout=timeout)
        )
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({opening, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if opening.done():
            return opening.result()
        opening.cancel()  # cancels the call too: discovery drops whatever it stored
        await asyncio.wait({opening})
        if not opening.cancelled() and opening.exception() is None:
            opening.result().abort()  # it answered just as the stop came
        return None
