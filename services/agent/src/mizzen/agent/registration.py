"""Keeping the workload registered with discovery (``mizzen.registry.v1.RegistrationService``).

The registration is one bidirectional stream (see ``registration.proto``): the agent sends
its Workload, waits for ``Registered`` (which gives the heartbeat interval and the TTL), then
heartbeats; any change of the app's health goes out at once in a heartbeat. When the stream
breaks (UNAVAILABLE: a replica shutting down or gone; DEADLINE_EXCEEDED; a replica that
answers no heartbeat for one TTL) the agent registers again with the next replica, at once,
and backs off only after every replica failed in a row. On a clean exit it sends
``Deregister`` and waits for the stream to end.

Fatal: discovery refusing the workload (INVALID_ARGUMENT, FAILED_PRECONDITION,
UNIMPLEMENTED), and no replica registering it before the first-registration deadline. After
a first success, outages are waited out however long they last.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import grpc
import structlog
from grpc import aio

from mizzen.agent.domain.backoff import Backoff
from mizzen.agent.domain.workload import WorkloadSpec
from mizzen.agent.errors import RegistrationError
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.protos.registry.v1 import registration_pb2_grpc
from mizzen.runtime import create_channel

__all__ = ["Registrar", "workload_message"]

log = structlog.get_logger(__name__)

ChannelFactory = Callable[[str], aio.Channel]

_FATAL = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)


def workload_message(spec: WorkloadSpec, address: str, health: int) -> pb.Workload:
    """The Workload message for ``spec`` at ``address``: every service with its ports, each
    service port received on the same port of the workload's address (its Envoy's inbound
    listener), with ``health`` (a ``pb.Health`` value)."""
    return pb.Workload(
        name=spec.name,
        namespace=spec.namespace,
        address=address,
        labels=dict(spec.labels),
        service_account=spec.service_account,
        services=[
            pb.ServedService(
                service=service.name,
                ports=[
                    pb.ServedPort(
                        number=port.port, endpoint_port=port.port, protocol=port.protocol.value
                    )
                    for port in service.ports
                ],
            )
            for service in spec.services
        ],
        health=health,  # type: ignore[arg-type]  # an int of the Health enum
    )


class _StreamEnded(Exception):
    """The registration stream ended (or must be given up) for ``reason``."""

    def __init__(self, reason: str, code: grpc.StatusCode | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


def _ended(exc: aio.AioRpcError) -> _StreamEnded:
    return _StreamEnded(f"{exc.code().name}: {exc.details() or ''}".rstrip(": "), exc.code())


class Registrar:
    """Keeps one workload registered with one of ``targets`` (discovery replicas, HOST:PORT).

    Use from one event loop: :meth:`start` runs the registration in a task; ``registered``
    is set while a registration stands; :meth:`set_health` changes the health discovery
    records; :meth:`stop` deregisters and ends the task. The task raises
    :class:`RegistrationError` when registration is impossible (see the module docstring);
    ``first_deadline`` bounds the first registration, ``answer_timeout`` each wait for
    discovery's ``Registered`` or ``Deregistered``.
    """

    def __init__(
        self,
        targets: Sequence[str],
        spec: WorkloadSpec,
        address: str,
        *,
        health: int = pb.HEALTH_HEALTHY,
        first_deadline: float = 30.0,
        answer_timeout: float = 5.0,
        backoff: Backoff | None = None,
        channel_factory: ChannelFactory = create_channel,
    ) -> None:
        if not targets:
            raise ValueError("Registrar needs at least one discovery target")
        self._targets = tuple(targets)
        self._spec = spec
        self._address = address
        self._health = health
        self._first_deadline = first_deadline
        self._answer_timeout = answer_timeout
        self._backoff = backoff or Backoff(base=0.1, maximum=5.0)
        self._channel_factory = channel_factory
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._deregister = True
        self._last_answer = 0.0
        self._task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()
        """Set while the workload is registered; cleared while the agent re-registers."""
        self.registrations = 0
        """How many times a replica accepted the registration (1 + re-registrations)."""
        self.replica = ""
        """The replica that holds the registration (as it names itself)."""

    @property
    def health(self) -> int:
        """The health last given (a ``pb.Health`` value)."""
        return self._health

    def set_health(self, health: int) -> None:
        """Change the recorded health; sent to discovery at once if it changed."""
        if health != self._health:
            self._health = health
            log.info("workload health changed", health=pb.Health.Name(health))  # type: ignore[arg-type]  # an int of the enum
            self._wake.set()

    def start(self) -> asyncio.Task[None]:
        """Start registering (once); the returned task ends after :meth:`stop` or raises
        :class:`RegistrationError`."""
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

    async def _run(self) -> None:
        started = time.monotonic()
        index = 0
        failures = 0
        last_error = ""
        while not self._stop.is_set():
            target = self._targets[index % len(self._targets)]
            index += 1
            timeout = self._answer_timeout
            if not self.registrations:
                remaining = self._first_deadline - (time.monotonic() - started)
                if remaining <= 0:
                    raise RegistrationError(self._unreachable(last_error))
                timeout = min(timeout, remaining)
            registered_before = self.registrations
            try:
                await self._session(target, timeout)
                return
            except _StreamEnded as exc:
                last_error = f"{target}: {exc.reason}"
                if exc.code in _FATAL:
                    raise RegistrationError(
                        f"discovery at {target} refused the workload: {exc.reason}"
                    ) from exc
            finally:
                self.registered.clear()
            if self._stop.is_set():
                return
            if self.registrations > registered_before:
                log.warning("registration lost", replica=target, reason=last_error)
                failures = 0
                self._backoff.reset()
                continue  # straight to the next replica
            log.info("registration attempt failed", replica=target, reason=last_error)
            failures += 1
            if failures % len(self._targets) == 0:
                delay = self._backoff.next_delay()
                if not self.registrations:
                    remaining = self._first_deadline - (time.monotonic() - started)
                    delay = max(0.0, min(delay, remaining))
                with contextlib.suppress(TimeoutError):
                    # Backoff after a whole round of failed replicas; a stop() ends it early.
                    await asyncio.wait_for(self._stop.wait(), delay)

    def _unreachable(self, last_error: str) -> str:
        return (
            f"no discovery replica registered the workload within {self._first_deadline:g}s "
            f"(tried {', '.join(self._targets)}; last error {last_error or 'none'}); is "
            "discovery running? Point at it with --discovery HOST:PORT"
        )

    async def _session(self, target: str, first_timeout: float) -> None:
        """One registration stream with ``target``; returns after a deregistration (or a
        stop), raises :class:`_StreamEnded` when the stream breaks."""
        async with self._channel_factory(target) as channel:
            call = registration_pb2_grpc.RegistrationServiceStub(channel).Register()
            try:
                interval, ttl = await self._register(call, target, first_timeout)
                if interval is None:
                    return  # stopped before discovery answered: the call is cancelled
                await self._keep(call, interval, ttl)
            except aio.AioRpcError as exc:
                raise _ended(exc) from exc
            except asyncio.InvalidStateError as exc:  # written to a call that just ended
                code = await call.code()
                raise _StreamEnded(f"{code.name}: {await call.details()}", code) from exc
            finally:
                call.cancel()

    async def _register(
        self, call: aio.StreamStreamCall, target: str, timeout: float
    ) -> tuple[float | None, float]:
        workload = workload_message(self._spec, self._address, self._health)
        await call.write(pb.RegisterRequest(workload=workload))
        read = asyncio.ensure_future(call.read())
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({read, stop}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            stop.cancel()
        if read not in done:
            read.cancel()  # cancels the call too: discovery drops whatever it stored
            if self._stop.is_set():
                return None, 0.0
            raise _StreamEnded(f"no answer within {timeout:.1f}s")
        first = read.result()
        if first is aio.EOF or first.WhichOneof("kind") != "registered":
            raise _StreamEnded("the stream ended before Registered")
        registered = first.registered
        ttl = registered.ttl.ToTimedelta().total_seconds() or 10.0
        interval = registered.heartbeat_interval.ToTimedelta().total_seconds() or ttl / 3
        self.registrations += 1
        self.replica = registered.replica or target
        self._last_answer = time.monotonic()
        self.registered.set()
        log.info("workload registered", replica=self.replica, target=target,
                 registration_id=registered.registration_id, ttl=ttl,
                 hostnames=list(registered.hostnames))  # fmt: skip
        return interval, ttl

    async def _read(self, call: aio.StreamStreamCall) -> None:
        while True:
            message = await call.read()
            if message is aio.EOF:
                return
            self._last_answer = time.monotonic()
            if message.WhichOneof("kind") == "deregistered":
                log.info("workload deregistered", replica=self.replica)

    async def _keep(self, call: aio.StreamStreamCall, interval: float, ttl: float) -> None:
        reader = asyncio.create_task(self._read(call), name="registration-reader")
        sequence = 0
        try:
            while not self._stop.is_set():
                wake = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({reader, wake}, timeout=interval,
                                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                finally:
                    wake.cancel()
                if reader.done():
                    reader.result()  # raises the stream's error status
                    raise _StreamEnded("the stream ended (OK) without a Deregister")
                self._wake.clear()
                if self._stop.is_set():
                    break
                if time.monotonic() - self._last_answer > ttl:
                    raise _StreamEnded(f"no answer to heartbeats for {ttl:g}s")
                sequence += 1
                await call.write(pb.RegisterRequest(
                    heartbeat=pb.Heartbeat(health=self._health, sequence=sequence)  # type: ignore[arg-type]  # an int of the enum
                ))  # fmt: skip
            if self._deregister:
                await call.write(pb.RegisterRequest(deregister=pb.Deregister()))
            await call.done_writing()
            try:
                async with asyncio.timeout(self._answer_timeout):
                    await asyncio.shield(reader)
            except TimeoutError:
                log.warning("deregistration not confirmed", replica=self.replica)
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aio.AioRpcError):
                    await reader
