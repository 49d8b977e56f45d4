"""An HTTP/1.1 upstream for end-to-end tests: it says who it is and does what it is told.

``python -m mizzen.testing.apps.echo --port 19080 [--host 0.0.0.0] [--name reviews-v2]``

- ``GET /<anything>``: 200 with JSON ``{name, path, method, host, headers}``
- ``/status/<code>``: answers with that status
- ``/delay/<ms>``: waits, then 200
- ``/flaky/<key>/<n>``: the first ``n`` requests for ``key`` get 503, later ones 200
- ``/count``: how many requests this process served, ``/count`` itself not counted (JSON
  ``{"requests": n}``), so that polling it changes nothing
- ``/call?url=<url>``: fetches ``url`` (through ``http_proxy`` when set) and returns its
  status and body, so tests can send traffic *from* a workload.

The name defaults to ``$MIZZEN_WORKLOAD``; the port to ``$MIZZEN_APP_PORT``. With
``--cert FILE --key FILE`` it serves HTTPS; adding ``--client-ca FILE`` requires a client
certificate signed by that CA. Over HTTPS the JSON also carries ``sni`` (the server name
the client asked for) and ``client_cert`` (the client certificate's common name).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class EchoHandler(BaseHTTPRequestHandler):
    """Handles every method the same way; state is per process (class attributes)."""

    protocol_version = "HTTP/1.1"
    # Without this each request through Envoy waits ~40 ms for a delayed ACK (FACTS.md).
    disable_nagle_algorithm = True
    name: ClassVar[str] = "echo"
    lock: ClassVar[threading.Lock] = threading.Lock()
    served: ClassVar[int] = 0
    flaky: ClassVar[dict[str, int]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read responses, not access logs."""

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", self.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = urllib.parse.urlsplit(self.path).path
        parts = [p for p in path.split("/") if p]
        if parts != ["count"]:  # asking the count does not change it
            with EchoHandler.lock:
                EchoHandler.served += 1
        info: dict[str, Any] = {
            "name": self.name,
            "path": self.path,
            "method": self.command,
            "host": self.headers.get("Host", ""),
            "headers": dict(self.headers.items()),
        }
        if isinstance(self.connection, ssl.SSLSocket):
            peer: Any = self.connection.getpeercert() or {}
            subject = dict(pair[0] for pair in peer.get("subject", ()))
            info["client_cert"] = subject.get("commonName")
            info["sni"] = getattr(self.connection, "sni", None)
        if parts[:1] == ["status"] and len(parts) == 2 and parts[1].isdigit():
            self._send(int(parts[1]), info)
        elif parts[:1] == ["delay"] and len(parts) == 2 and parts[1].isdigit():
            time.sleep(int(parts[1]) / 1000)
            self._send(200, info)
        elif parts[:1] == ["flaky"] and len(parts) == 3 and parts[2].isdigit():
            with EchoHandler.lock:
                seen = EchoHandler.flaky.get(parts[1], 0)
                EchoHandler.flaky[parts[1]] = seen + 1
            self._send(503 if seen < int(parts[2]) else 200, {**info, "attempt": seen + 1})
        elif parts == ["count"]:
            self._send(200, {"name": self.name, "requests": EchoHandler.served})
        elif parts == ["call"]:
            self._call(info)
        else:
            self._send(200, info)

    def _call(self, info: dict[str, Any]) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        url = query.get("url", [""])[0]
        forwarded = {
            k: v for k, v in self.headers.items() if k.lower().startswith(("x-", "end-user"))
        }
        request = urllib.request.Request(url, headers=forwarded)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, body = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode("utf-8", "replace")
        except OSError as exc:
            status, body = 599, str(exc)
        self._send(200, {**info, "upstream_status": status, "upstream_body": body})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def _remember_sni(connection: Any, server_name: str | None, _: ssl.SSLContext) -> None:
    connection.sni = server_name  # read back by the handler (an SSLSocket takes attributes)


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MIZZEN_APP_PORT", "0")))
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--name", default=os.environ.get("MIZZEN_WORKLOAD", "echo"))
    parser.add_argument("--cert", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    parser.add_argument("--client-ca", help="require client certificates signed by this CA")
    args = parser.parse_args(argv)
    EchoHandler.name = args.name
    server = ThreadingHTTPServer((args.host, args.port), EchoHandler)
    server.daemon_threads = True
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)
        context.sni_callback = _remember_sni
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
