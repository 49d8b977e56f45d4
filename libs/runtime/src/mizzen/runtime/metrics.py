"""The HTTP endpoint for Prometheus ``/metrics``, ``/healthz`` and ``/readyz``.

Served with ``asyncio.start_server`` on the service's event loop: no threads,
no web framework. Metrics come from a :class:`CollectorRegistry` passed in
explicitly (build one with :func:`create_registry`); the process-global
default registry of ``prometheus_client`` is never read, so several services
can share one process without mixing their metrics.

Each connection serves one request and is closed (``Connection: close``):
scrapers and probes open a connection per request anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from mizzen.runtime.errors import BindError, LifecycleError

__all__ = ["MetricsServer", "create_registry"]

_log = structlog.get_logger("mizzen.runtime.metrics")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT = "text/plain; charset=utf-8"


def create_registry() -> CollectorRegistry:
    """Return a new registry with the process, platform and GC collectors on it.

    Each service runtime owns one; pass it to everything that registers
    metrics for that service.
    """
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def _always() -> bool:
    return True


class MetricsServer:
    """An asyncio HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``.

    ``/healthz`` answers 200 while ``is_healthy()`` is true (the process
    works), 503 otherwise; ``/readyz`` answers 200 while ``is_ready()`` is
    true (the service accepts work), 503 otherwise. Both callables are called
    on the event loop per request and must be fast and non-blocking. Use from
    one event loop only.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        is_healthy: Callable[[], bool] = _always,
        is_ready: Callable[[], bool] = _always,
        read_timeout_seconds: float = 10.0,
    ) -> None:
        self._registry = registry
        self._host = host
        self._requested_port = port
        self._is_healthy = is_healthy
        self._is_ready = is_ready
        self._read_timeout = read_timeout_seconds
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def host(self) -> str:
        """The host the server listens on, as configured."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one when configured with 0); only after start."""
        if self._port is None:
            raise LifecycleError("metrics server has not been started")
        return self._port

    async def start(self) -> None:
        """Bind and start serving; raises ``BindError`` naming the address on failure."""
        if self._server is not None:
            raise LifecycleError("metrics server already started")
        try:
            server = await asyncio.start_server(self._handle, self._host, self._requested_port)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else str(exc)
            raise BindError(
                component="metrics", host=self._host, port=self._requested_port, reason=reason
            ) from exc
        self._server = server
        self._port = int(server.sockets[0].getsockname()[1])
        _log.debug("metrics server started", host=self._host, port=self._port)

    async def close(self) -> None:
        """Stop listening and drop open connections. Safe to call more than once."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            try:
                async with asyncio.timeout(self._read_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return  # slow, truncated or oversized request: nothing worth answering
            status, headers, body = self._respond(head)
            head_only = head.startswith(b"HEAD ")
            lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
            lines += [f"{name}: {value}" for name, value in headers]
            lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode("latin-1"))
            if not head_only:
                writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass  # the client went away; nothing to tell it
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _respond(self, head: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return 400, [("Content-Type", _TEXT)], b"bad request\n"
        method, target, _version = parts
        if method not in ("GET", "HEAD"):
            return 405, [("Content-Type", _TEXT), ("Allow", "GET, HEAD")], b"method not allowed\n"
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        path = target.split("?", 1)[0]
        try:
            return self._route(path, headers)
        except Exception:
            # A failing collector or probe must not kill the endpoint; the
            # scrape fails visibly and the cause is logged once, here.
            _log.exception("metrics request failed", path=path)
            return 500, [("Content-Type", _TEXT)], b"internal error\n"

    def _route(
        self, path: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if path == "/metrics":
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            return 200, [("Content-Type", content_type)], encoder(self._registry)
        probes = {
            "/healthz": (self._is_healthy, b"ok\n", b"unhealthy\n"),
            "/readyz": (self._is_ready, b"ready\n", b"not ready\n"),
        }
        if path not in probes:
            return 404, [("Content-Type", _TEXT)], b"not found\n"
        probe, good, bad = probes[path]
        if probe():
            return 200, [("Content-Type", _TEXT)], good
        return 503, [("Content-Type", _TEXT)], bad
