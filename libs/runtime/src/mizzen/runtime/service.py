"""Service lifecycle: start the shared parts, serve, shut down gracefully.

A service's ``__main__`` is one line::

    sys.exit(service_main(XdsSettings, setup))

where ``async def setup(runtime)`` builds the service's dependencies
explicitly, registers its gRPC services (``runtime.grpc.add_service``),
background loops (``runtime.spawn``) and cleanups (``runtime.on_shutdown``).
:meth:`ServiceRuntime.run` then starts the metrics endpoint and the gRPC
server, waits for SIGTERM/SIGINT (or :meth:`ServiceRuntime.request_shutdown`)
and shuts down:

1. health and ``/readyz`` turn NOT_SERVING; the gRPC server stops accepting;
2. in-flight RPCs get the rest of the grace period to finish, then are cancelled;
3. background tasks are cancelled;
4. shutdown callbacks run in reverse order of registration, within the
   rest of the grace period;
5. spans are flushed and the metrics endpoint closes.

A second signal forces the exit at once. The exit code is 0 when the
shutdown was requested and clean, 1 when something failed (setup, start, a
background task, a callback, or a callback overran the grace period), 3
when forced. Long-lived streams (xDS, health watches) should end themselves
when :meth:`ServiceRuntime.wait_shutdown_requested` returns; otherwise they
are cancelled when the grace period is over, which is not a failure.

Several runtimes can share one event loop (``mizzen up --all-in-one``):
build each with :meth:`ServiceRuntime.create`, ``start`` them, install
signal handling once (``install_signal_handlers``) that calls each one's
``handle_signal``, and ``shutdown`` them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import structlog
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CollectorRegistry

from mizzen.runtime.errors import LifecycleError, MizzenRuntimeError, SettingsError
from mizzen.runtime.grpc_server import GrpcServer
from mizzen.runtime.health import HealthServicer
from mizzen.runtime.logging import configure_logging
from mizzen.runtime.metrics import MetricsServer, create_registry
from mizzen.runtime.settings import ServiceSettings, load_settings
from mizzen.runtime.tracing import Tracing

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "ServiceRuntime",
    "install_signal_handlers",
    "run_service",
    "service_main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FORCED = 3

_SettingsT = TypeVar("_SettingsT", bound=ServiceSettings)
ShutdownCallback = Callable[[], Awaitable[object]]
Setup = Callable[["ServiceRuntime[_SettingsT]"], Awaitable[None]]

_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_log = structlog.get_logger("mizzen.runtime")
# Floor for the last steps once the grace period is spent: cancelled tasks
# and the span flush still get a moment, rather than none at all.
_MIN_STEP_SECONDS = 0.2


def _exit_process(code: int) -> None:
    """Leave now, without unwinding: the event loop may be stuck."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


@contextlib.contextmanager
def install_signal_handlers(
    on_signal: Callable[[int], None],
    signals: Sequence[signal.Signals] = _DEFAULT_SIGNALS,
) -> Iterator[None]:
    """Call ``on_signal(signum)`` on the running loop for each of ``signals``.

    Handlers are removed on exit. Must be used from the main thread with a
    running event loop (a restriction of ``loop.add_signal_handler``).
    """
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, int(signum))
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


class ServiceRuntime(Generic[_SettingsT]):
    """The lifecycle of one service: the parts every service shares, started and stopped.

    Components are passed in (see :meth:`create` for the usual wiring); the
    runtime owns them from then on and stops them in :meth:`shutdown`. Use
    from one event loop. Registration methods (``grpc.add_service``,
    ``on_shutdown``, ``spawn``) are for the setup phase and for the service's
    own tasks; they are not thread-safe.
    """

    def __init__(
        self,
        *,
        settings: _SettingsT,
        registry: CollectorRegistry,
        tracing: Tracing,
        grpc_server: GrpcServer,
        metrics_server: MetricsServer,
        force_exit: Callable[[int], None] = _exit_process,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._tracing = tracing
        self._grpc = grpc_server
        self._metrics = metrics_server
        self._force_exit = force_exit
        self._callbacks: list[tuple[str, ShutdownCallback]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shutdown_requested = asyncio.Event()
        self._shutdown_task: asyncio.Task[int] | None = None
        self._exit_code = EXIT_OK
        self._signals_seen = 0
        self._started = False
        # A lazy logger: it follows configure_logging calls made after this.
        self._log = structlog.get_logger("mizzen.runtime", service=settings.service_name)

    @classmethod
    def create(
        cls,
        settings: _SettingsT,
        *,
        span_processors: Sequence[SpanProcessor] = (),
        force_exit: Callable[[int], None] = _exit_process,
    ) -> ServiceRuntime[_SettingsT]:
        """Wire the usual components from ``settings``.

        A fresh metrics registry, a tracer provider (OTLP export when
        ``settings.otlp_endpoint`` is set, plus ``span_processors``), a gRPC
        server and a metrics endpoint whose ``/readyz`` follows the server's
        overall health status. Nothing is started.
        """
        registry = create_registry()
        tracing = Tracing.create(
            settings.service_name,
            otlp_endpoint=settings.otlp_endpoint,
            span_processors=span_processors,
        )
        health = HealthServicer()
        grpc_server = GrpcServer(
            host=settings.grpc_host,
            port=settings.grpc_port,
            registry=registry,
            tracer=tracing.tracer("mizzen.runtime.grpc"),
            health=health,
            logger=structlog.get_logger("mizzen.runtime.grpc", service=settings.service_name),
        )
        metrics_server = MetricsServer(
            registry,
            host=settings.metrics_host,
            port=settings.metrics_port,
            is_ready=health.is_serving,
        )
        return cls(
            settings=settings,
            registry=registry,
            tracing=tracing,
            grpc_server=grpc_server,
            metrics_server=metrics_server,
            force_exit=force_exit,
        )

    @property
    def settings(self) -> _SettingsT:
        """The service's settings (immutable)."""
        return self._settings

    @property
    def registry(self) -> CollectorRegistry:
        """The service's Prometheus registry: register its own metrics here."""
        return self._registry

    @property
    def tracing(self) -> Tracing:
        """The service's tracing: ``runtime.tracing.tracer(__name__)``."""
        return self._tracing

    @property
    def grpc(self) -> GrpcServer:
        """The gRPC server: register services before start; health setters."""
        return self._grpc

    @property
    def metrics(self) -> MetricsServer:
        """The ``/metrics``, ``/healthz``, ``/readyz`` endpoint."""
        return self._metrics

    @property
    def shutdown_requested(self) -> bool:
        """Whether shutdown was requested (by a signal, a failure or a caller)."""
        return self._shutdown_requested.is_set()

    async def wait_shutdown_requested(self) -> None:
        """Return once shutdown has been requested."""
        await self._shutdown_requested.wait()

    def on_shutdown(self, callback: ShutdownCallback, *, name: str | None = None) -> None:
        """Run ``await callback()`` at shutdown; callbacks run in reverse order of registration.

        Register resources right after creating them (close the etcd client
        after the servicers that use it are gone). Each must finish within
        what is left of the grace period or it is cancelled.
        """
        label = name if name is not None else str(getattr(callback, "__qualname__", callback))
        self._callbacks.append((label, callback))

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coroutine`` in the background for the service's lifetime.

        It is cancelled at shutdown, after in-flight RPCs drained. If it
        raises, the failure is logged and the service shuts down with exit
        code 1 (crash-only: the supervisor restarts it).
        """
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._log.error("background task failed", task=task.get_name(), exc_info=error)
            self.request_shutdown(
                f"background task {task.get_name()} failed", exit_code=EXIT_FAILURE
            )
        elif not self.shutdown_requested:
            self._log.info("background task finished", task=task.get_name())

    def request_shutdown(self, reason: str, *, exit_code: int = EXIT_OK) -> None:
        """Ask :meth:`run` to shut down; idempotent, and callable from any task.

        The worst ``exit_code`` of all requests is kept.
        """
        self._exit_code = max(self._exit_code, exit_code)
        if not self._shutdown_requested.is_set():
            self._log.info("shutdown requested", reason=reason)
            self._shutdown_requested.set()

    def handle_signal(self, signum: int) -> None:
        """React to SIGTERM/SIGINT: the first requests shutdown, the second forces exit."""
        self._signals_seen += 1
        name = signal.Signals(signum).name
        if self._signals_seen == 1:
            self.request_shutdown(f"signal {name}")
            return
        self._log.warning("shutdown forced", signal=name)
        self._force_exit(EXIT_FORCED)

    async def start(self) -> None:
        """Start the metrics endpoint, then the gRPC server (health SERVING).

        Raises ``BindError`` when a port is taken; whatever started is left
        for :meth:`shutdown` to stop.
        """
        if self._started:
            raise LifecycleError("service runtime already started")
        self._started = True
        await self._metrics.start()
        await self._grpc.start()
        self._log.info(
            "service ready",
            grpc_address=self._grpc.address,
            grpc_port=self._grpc.port,
            metrics_port=self._metrics.port,
            services=self._grpc.service_names,
        )

    async def shutdown(self) -> int:
        """Shut down gracefully within the grace period; return the exit code.

        Concurrent and repeated calls share one shutdown and its result.
        """
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self._shutdown(), name=f"{self._settings.service_name}-shutdown"
            )
        return await asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> int:
        loop = asyncio.get_running_loop()
        grace = self._settings.shutdown_grace_seconds
        deadline = loop.time() + grace
        self._shutdown_requested.set()
        self._log.info("shutdown started", grace_seconds=grace)

        def remaining() -> float:
            return max(0.0, deadline - loop.time())

        await self._grpc.stop(remaining())
        if self._tasks:
            for task in self._tasks:
                task.cancel()
            await asyncio.wait(list(self._tasks), timeout=max(remaining(), _MIN_STEP_SECONDS))
        for name, callback in reversed(self._callbacks):
            await self._run_callback(name, callback, remaining())
        try:
            await self._tracing.shutdown(max(remaining(), _MIN_STEP_SECONDS))
        except Exception:
            # Losing the last spans must not keep the service from stopping.
            self._log.exception("trace flush failed")
        await self._metrics.close()
        self._log.info("service stopped", exit_code=self._exit_code)
        return self._exit_code

    async def _run_callback(self, name: str, callback: ShutdownCallback, budget: float) -> None:
        if budget <= 0:
            self._log.error("shutdown callback skipped", callback=name, reason="grace period over")
            self._exit_code = max(self._exit_code, EXIT_FAILURE)
            return
        try:
            async with asyncio.timeout(budget):
                await callback()
        except TimeoutError:
            self._log.error("shutdown callback timed out", callback=name, budget_seconds=budget)
            self._exit_code = max(self._exit_code, EXIT_FAILURE)
        except Exception:
            self._log.exception("shutdown callback failed", callback=name)
            self._exit_code = max(self._exit_code, EXIT_FAILURE)

    async def __aenter__(self) -> ServiceRuntime[_SettingsT]:
        """Start (see :meth:`start`); on failure, shut down what started and re-raise."""
        try:
            await self.start()
        except BaseException:
            await self.shutdown()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Shut down; an exception leaving the block makes the exit code 1."""
        if exc is not None:
            self._exit_code = max(self._exit_code, EXIT_FAILURE)
        await self.shutdown()

    async def run(
        self,
        setup: Setup[_SettingsT] | None = None,
        *,
        signals: Sequence[signal.Signals] | None = _DEFAULT_SIGNALS,
    ) -> int:
        """Set up, start, serve until shutdown is requested, shut down; return the exit code.

        ``signals`` are handled with :meth:`handle_signal` while this runs;
        pass ``None`` when the caller handles signals (in-process use). A
        shutdown requested during ``setup`` cancels it. Failures in setup or
        start are logged (``BindError`` names the port) and give exit code 1.
        """
        handlers = (
            install_signal_handlers(self.handle_signal, signals)
            if signals
            else contextlib.nullcontext()
        )
        with handlers:
            try:
                if setup is not None:
                    await self._until_shutdown_requested(setup(self))
                if not self.shutdown_requested:
                    await self.start()
            except Exception as exc:
                self._log.error("service start failed", error=str(exc), exc_info=exc)
                self._exit_code = max(self._exit_code, EXIT_FAILURE)
                self._shutdown_requested.set()
            await self._shutdown_requested.wait()
            return await self.shutdown()

    async def _until_shutdown_requested(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(self._shutdown_requested.wait())
        try:
            await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not task.cancelled():
            task.result()


def run_service(
    settings: _SettingsT,
    setup: Setup[_SettingsT],
    *,
    span_processors: Sequence[SpanProcessor] = (),
) -> int:
    """Configure logging, then run one service in a new event loop; return its exit code.

    For a service's ``__main__``; in-process callers use :class:`ServiceRuntime`.
    """
    configure_logging(settings.log_level, settings.log_format)

    async def main() -> int:
        try:
            runtime = ServiceRuntime.create(settings, span_processors=span_processors)
        except MizzenRuntimeError as exc:
            _log.error("service start failed", service=settings.service_name, error=str(exc))
            return EXIT_FAILURE
        return await runtime.run(setup)

    return asyncio.run(main())


def service_main(
    settings_type: type[_SettingsT],
    setup: Setup[_SettingsT],
    *,
    argv: Sequence[str] | None = None,
) -> int:
    """Load settings from the environment and ``argv``, then :func:`run_service`.

    A settings error is printed to stderr and gives exit code 2 (nothing is
    started, and logging is not configured yet).
    """
    try:
        settings = load_settings(settings_type, argv=argv)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_service(settings, setup)
