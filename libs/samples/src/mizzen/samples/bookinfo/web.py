"""What every Bookinfo app shares: an HTTP server tuned for Envoy, replies, and outbound calls.

Standard library only. Each app is a :class:`AppHandler` subclass served by :func:`serve`:

- the server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (its Envoy pools
  connections to it) and Nagle's algorithm off (else each request through Envoy waits ~40 ms
  for a delayed ACK);
- it listens on ``127.0.0.1:$MIZZEN_APP_PORT`` (set by ``mizzen workload run``), where the
  workload's Envoy forwards the service port, and stops cleanly on SIGTERM;
- :func:`call` reaches other services by plain name (``http://reviews:9080/...``) through
  ``$http_proxy``, the workload's Envoy, which routes by Host; without a proxy it connects
  directly. Every call has a timeout and raises :class:`UpstreamError` when it fails;
- :meth:`AppHandler.forwarded_headers` are the request's trace headers (W3C, B3, Envoy's
  ``x-request-id``...) and ``end-user``, which an app passes on with every outbound call so
  that Envoy can join the spans of one request and route on the user.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

__all__ = [
    "PROPAGATED_HEADERS",
    "AppHandler",
    "Reply",
    "UpstreamError",
    "call",
    "serve",
]

PROPAGATED_HEADERS: tuple[str, ...] = (
    "x-request-id",  # Envoy's request id: ties access logs and spans together
    "traceparent",  # W3C trace context
    "tracestate",
    "baggage",
    "x-b3-traceid",  # Zipkin B3, multi-header
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",  # Zipkin B3, single header
    "x-ot-span-context",  # Lightstep
    "x-cloud-trace-context",  # Google Cloud Trace
    "grpc-trace-bin",  # OpenCensus over gRPC
    "sw8",  # SkyWalking
    "x-datadog-trace-id",  # Datadog
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "end-user",  # who is signed in: VirtualServices route on it
    "user-agent",
)
"""The request headers an app copies onto its outbound calls (lowercase)."""

DEFAULT_HOST = "127.0.0.1"


class UpstreamError(Exception):
    """An outbound call failed: no connection, a timeout, or a malformed answer.

    ``url`` is what was called, ``reason`` says what went wrong.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"GET {url}: {reason}")


@dataclass(frozen=True, slots=True)
class Reply:
    """An upstream's answer: its status and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)


def _proxy_for(host: str) -> tuple[str, int] | None:
    """The HTTP proxy (host, port) for requests to ``host``, from ``http_proxy`` and
    ``no_proxy`` (as urllib reads them), or ``None`` to connect directly."""
    proxy = urllib.request.getproxies_environment().get("http")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parsed.hostname:
        return None
    return parsed.hostname, parsed.port or 80


def call(url: str, *, headers: Mapping[str, str], timeout: float) -> Reply:
    """GET ``url`` (``http://name:port/path``) and return the reply, whatever its status.

    Goes through ``$http_proxy`` unless ``$no_proxy`` exempts the host. ``timeout`` bounds
    the connection and each wait for data. Raises :class:`UpstreamError` on a connection
    failure, a timeout or a broken response. Safe to call from many threads at once.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UpstreamError(url, "only http://host[:port]/path URLs are supported")
    port = parts.port or 80
    proxy = _proxy_for(parts.hostname)
    target = url if proxy else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connect_host, connect_port = proxy or (parts.hostname, port)
    connection = http.client.HTTPConnection(connect_host, connect_port, timeout=timeout)
    try:
        connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", parts.netloc)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Reply(response.status, response.read())
    except TimeoutError as exc:
        raise UpstreamError(url, f"no answer within {timeout:g}s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise UpstreamError(url, f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


class AppHandler(BaseHTTPRequestHandler):
    """The base of each app's request handler: replies, forwarded headers, access log.

    A subclass sets :attr:`app_name` and implements ``do_GET`` (and others it serves). The
    server runs each connection in its own thread; handlers must keep shared state
    thread-safe.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "bookinfo"
    app_name: ClassVar[str] = "app"

    def forwarded_headers(self) -> dict[str, str]:
        """The headers of this request to pass on to upstream calls (see
        :data:`PROPAGATED_HEADERS`), lowercase names."""
        found: dict[str, str] = {}
        for name in PROPAGATED_HEADERS:
            value = self.headers.get(name)
            if value is not None:
                found[name] = value
        return found

    def send_body(self, status: int, body: bytes, content_type: str,
                  headers: Iterable[tuple[str, str]] = ()) -> None:  # fmt: skip
        """Answer with ``body``; its length is always sent, so the connection stays usable."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any,
                  headers: Iterable[tuple[str, str]] = ()) -> None:  # fmt: skip
        """Answer with ``document`` as JSON."""
        self.send_body(status, json.dumps(document).encode(), "application/json", headers)

    def send_html(self, status: int, text: str,
                  headers: Iterable[tuple[str, str]] = ()) -> None:  # fmt: skip
        """Answer with an HTML page."""
        self.send_body(status, text.encode(), "text/html; charset=utf-8", headers)

    def send_redirect(self, location: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer 302 to ``location``."""
        self.send_body(302, b"", "text/plain", [("Location", location), *headers])

    def not_found(self) -> None:
        """Answer 404 with a JSON error."""
        self.send_json(404, {"error": f"no such page: {self.path}"})

    def request_path(self) -> str:
        """The path of this request, without its query (also for absolute-form targets)."""
        return urllib.parse.urlsplit(self.path).path or "/"

    def query(self) -> dict[str, str]:
        """The query parameters of this request (the first value of each)."""
        parsed = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return {name: values[0] for name, values in parsed.items() if values}

    def log_message(self, format: str, *args: Any) -> None:
        """One access-log line per request on stderr (the agent keeps it in its log)."""
        sys.stderr.write(f"{self.app_name} {self.address_string()} {format % args}\n")


class AppServer(ThreadingHTTPServer):
    """The threading server every app runs; its threads never keep the process alive."""

    daemon_threads = True
    allow_reuse_address = True


def parse_listen_args(description: str, argv: list[str] | None = None,
                      parser: argparse.ArgumentParser | None = None
                      ) -> argparse.Namespace:  # fmt: skip
    """Parse ``--host`` and ``--port`` (default ``$MIZZEN_APP_PORT``, else 9080), plus
    whatever ``parser`` already declares."""
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on [{DEFAULT_HOST}]")  # fmt: skip
    parser.add_argument("--port", type=int, default=int(os.environ.get("MIZZEN_APP_PORT", "9080")),
                        help="port to listen on [$MIZZEN_APP_PORT or 9080]")  # fmt: skip
    return parser.parse_args(argv)


def serve(handler: type[AppHandler], host: str, port: int) -> None:
    """Serve ``handler`` on ``host:port`` until SIGTERM or SIGINT, then return (the process
    exits 0). Raises ``OSError`` when the port cannot be bound."""
    server = AppServer((host, port), handler)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return: it must run in another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write(f"{handler.app_name} listening on {host}:{port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    sys.stderr.write(f"{handler.app_name} stopped\n")
