"""The agent's side of the registration contract.

:class:`RegistrationSession` is one registration stream (register, heartbeat, deregister);
:class:`RegistrationClient` keeps a workload registered across discovery replicas::

    async with RegistrationClient(["127.0.0.1:15013", "10.0.0.2:15013"], workload) as client:
        await client.wait_registered()
        ...  # serve; on exit the workload is deregistered
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import structlog
from grpc import aio

from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.protos.registry.v1 import registration_pb2_grpc as pb_grpc
from mizzen.runtime import create_channel

log = structlog.get_logger(__name__)

ChannelFactory = Callable[[str], aio.Channel]


class RegistrationEnded(Exception):
    """Discovery ended the registration stream without an error status (it half-closed)."""


class RegistrationSession:
    """One registration stream. Use from one task at a time.

    Open it with :meth:`open`; keep it with :meth:`keep_alive` (heartbeats); end it with
    :meth:`deregister` (endpoints removed at once) or :meth:`abort` (the stream is cancelled:
    discovery removes the registration as soon as it notices). Failures raise
    ``grpc.aio.AioRpcError`` with the status discovery ended the stream with (see the proto),
    ``TimeoutError`` when discovery stops answering, :class:`RegistrationEnded` otherwise.
    """

    def __init__(self, call: Any, registered: pb.Registered) -> None:
        self._call = call
        self.registered = registered
        """Discovery's answer: registration id, TTL, heartbeat interval, host names."""
        self._sequence = 0

    @classmethod
    async def open(
        cls, channel: aio.Channel, workload: pb.Workload, *, timeout: float = 10.0
    ) -> RegistrationSession:
        """Register ``workload``; returns once discovery stored it (within ``timeout`` s)."""
        call = pb_grpc.RegistrationServiceStub(channel).Register()
        try:
            async with asyncio.timeout(timeout):
                await _write(call, pb.RegisterRequest(workload=workload))
                response = await _read(call)
        except BaseException:
            call.cancel()
            raise
        if response.WhichOneof("kind") != "registered":
            call.cancel()
            raise RegistrationEnded(f"unexpected first answer {response.WhichOneof('kind')}")
        return cls(call, response.registered)

    @property
    def ttl(self) -> float:
        """The registration's TTL in seconds."""
        return self.registered.ttl.ToTimedelta().total_seconds()

    @property
    def heartbeat_interval(self) -> float:
        """How often to heartbeat, in seconds."""
        return self.registered.heartbeat_interval.ToTimedelta().total_seconds()

    async def heartbeat(self, health: pb.Health.ValueType = pb.HEALTH_UNSPECIFIED) -> None:
        """Send one heartbeat (optionally changing health) and wait for its acknowledgement."""
        self._sequence += 1
        sequence = self._sequence
        async with asyncio.timeout(self.ttl):
            await _write(
                self._call,
                pb.RegisterRequest(heartbeat=pb.Heartbeat(health=health, sequence=sequence)),
            )
            while True:
                response = await _read(self._call)
                acked = response.WhichOneof("kind") == "heartbeat_ack"
                if acked and response.heartbeat_ack.sequence == sequence:
                    return

    async def keep_alive(self) -> None:
        """Heartbeat every ``heartbeat_interval`` until it fails (raises) or is cancelled."""
        while True:
            await asyncio.sleep(self.heartbeat_interval)  # the heartbeat cadence
            await self.heartbeat()

    async def deregister(self, *, timeout: float = 5.0) -> None:
        """Remove the registration now and close the stream."""
        try:
            async with asyncio.timeout(timeout):
                await _write(self._call, pb.RegisterRequest(deregister=pb.Deregister()))
                while (await _read(self._call)).WhichOneof("kind") != "deregistered":
                    pass
                await self._call.done_writing()
        finally:
            self._call.cancel()

    def abort(self) -> None:
        """Cancel the stream without deregistering (as a crashing agent would)."""
        self._call.cancel()


async def _write(call: Any, request: pb.RegisterRequest) -> None:
    try:
        await call.write(request)
    except asyncio.InvalidStateError:
        # The stream already ended: reading raises the status discovery ended it with.
        await _read(call)
        raise RegistrationEnded("discovery ended the registration stream") from None


async def _read(call: Any) -> pb.RegisterResponse:
    response = await call.read()
    if response is aio.EOF:
        raise RegistrationEnded("discovery ended the registration stream")
    assert isinstance(response, pb.RegisterResponse)
    return response


class RegistrationClient:
    """Keeps one workload registered, moving to the next target whenever a stream fails.

    Enter it (``async with``) to start; leaving deregisters (best effort) and stops. While
    running, :attr:`registered` is the current registration (``None`` between two) and
    :attr:`generation` counts successful registrations. Retries back off from
    ``retry_initial`` to ``retry_max`` seconds.
    """

    def __init__(
        self,
        targets: Sequence[str],
        workload: pb.Workload,
        *,
        retry_initial: float = 0.05,
        retry_max: float = 2.0,
        channel_factory: ChannelFactory = create_channel,
    ) -> None:
        if not targets:
            raise ValueError("RegistrationClient needs at least one discovery target")
        self._targets = list(targets)
        self._workload = workload
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._channel_factory = channel_factory
        self._session: RegistrationSession | None = None
        self._target: str | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.generation = 0
        """How many times the workload was registered (1 after the first success)."""

    @property
    def registered(self) -> pb.Registered | None:
        """The current registration, ``None`` while there is none."""
        return self._session.registered if self._session is not None else None

    @property
    def target(self) -> str | None:
        """The discovery replica holding the current registration."""
        return self._target if self._session is not None else None

    async def wait_registered(self, *, after_generation: int = 0) -> pb.Registered:
        """Return the registration once one newer than ``after_generation`` is held."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._session is not None and self.generation > after_generation
            )
            assert self._session is not None
            return self._session.registered

    async def __aenter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="registration")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = self._retry_initial
        index = 0
        while True:
            target = self._targets[index % len(self._targets)]
            try:
                async with self._channel_factory(target) as channel:
                    session = await RegistrationSession.open(channel, self._workload)
                    await self._set(session, target)
                    delay = self._retry_initial
                    try:
                        await session.keep_alive()
                    except asyncio.CancelledError:
                        with contextlib.suppress(Exception):
                            await session.deregister()
                        raise
            except aio.AioRpcError as exc:
                log.warning("registration interrupted", target=target, code=exc.code().name,
                            error=exc.details(), retry_in=delay)  # fmt: skip
            except (TimeoutError, RegistrationEnded) as exc:
                log.warning("registration interrupted", target=target, error=repr(exc),
                            retry_in=delay)  # fmt: skip
            await self._set(None, None)
            index += 1
            await asyncio.sleep(delay)  # backoff before trying the next replica
            delay = min(delay * 2, self._retry_max)

    async def _set(self, session: RegistrationSession | None, target: str | None) -> None:
        async with self._changed:
            self._session = session
            self._target = target
            if session is not None:
                self.generation += 1
                log.info(
                    "workload registered with discovery",
                    target=target,
                    registration=session.registered.registration_id,
                )
            self._changed.notify_all()
