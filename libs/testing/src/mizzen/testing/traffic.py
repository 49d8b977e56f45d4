"""Sending test traffic by hand: HTTP/1.1 requests (one connection each), through an Envoy's
HTTP proxy listener in absolute form, and through HTTP CONNECT tunnels.

    response = await via_proxy(client, "http://echo:9080/hello")   # client: has .address
    assert response.status == 200 and response.served_by == "echo-v1"
    status, answer = await via_tunnel(client, "tcp-echo:9000", raw_http_request)
    responses = await gather_limited(400, lambda i: via_proxy(client, url), concurrency=8)
    served_by(responses)   # Counter of workload names (the echo app's X-Served-By)

Dependency-free on purpose (asyncio streams only): what it measures is Envoy, not a client
library. A response is read up to its Content-Length, since Envoy keeps a connection it
closes after a local reply open for a second, waiting for the client to close first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = [
    "PROXY_PORT",
    "HttpResponse",
    "binomial_bounds",
    "gather_limited",
    "http_request",
    "served_by",
    "via_proxy",
    "via_tunnel",
]

T = TypeVar("T")
PROXY_PORT = 15001
"""A workload's Envoy HTTP proxy listener port (on the workload's own address)."""


class HasAddress(Protocol):
    """Anything with a workload's loopback address (a :class:`~mizzen.testing.mesh.Workload`)."""

    @property
    def address(self) -> str:
        """The workload's own loopback address."""
        ...


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One HTTP response: status, headers (names lowercased, in order), body, seconds taken."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed: float

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or ``None``."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def served_by(self) -> str:
        """The echo app's ``X-Served-By`` (its workload name), ``""`` without one."""
        return self.header("x-served-by") or ""


def _parse_response(raw: bytes, started: float) -> HttpResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {raw[:120]!r}")
    headers = tuple(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    )
    names = dict(headers)
    if names.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in names:
        body = body[: int(names["content-length"])]
    return HttpResponse(int(parts[1]), headers, body, time.monotonic() - started)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


async def http_request(
    host: str,
    port: int,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 10.0,
) -> HttpResponse:
    """Send one HTTP/1.1 request to ``host:port`` on a new connection and read the response
    to the end (``Connection: close``). ``target`` is the request target as sent (an absolute
    URL for a proxy); a ``Host`` header is added from it (or ``host:port``) unless given.
    Raises ``OSError``/``TimeoutError`` when nothing answers, ``ValueError`` on garbage."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if not any(name.lower() == "host" for name, _ in pairs):
        authority = urllib.parse.urlsplit(target).netloc or f"{host}:{port}"
        pairs.insert(0, ("Host", authority))
    pairs += [("Connection", "close"), ("Content-Length", str(len(body)))]
    request = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs)
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request.encode("latin-1") + b"\r\n" + body)
            await writer.drain()
            raw = await _read_response(reader, head_only=method == "HEAD")
        finally:
            writer.close()
            with contextlib.suppress(OSError):  # we may hang up first; a reset is expected
                await writer.wait_closed()
    return _parse_response(raw, started)


async def _read_response(reader: asyncio.StreamReader, *, head_only: bool) -> bytes:
    """The raw response: up to its Content-Length when it has one (Envoy holds a connection
    it closes after a local reply open for a second, waiting for us to close first), else up
    to the end of the stream."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    status = int(head.split(b" ", 2)[1])
    if head_only or status in (204, 304) or 100 <= status < 200:
        return head
    if length is not None:
        return head + await reader.readexactly(length)
    return head + await reader.read()


async def via_proxy(
    client: HasAddress,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 10.0,
) -> HttpResponse:
    """Send ``method url`` through ``client``'s Envoy, as its app would (absolute form)."""
    return await http_request(client.address, PROXY_PORT, method, url, headers=headers,
                              body=body, timeout=timeout)  # fmt: skip


async def via_tunnel(
    client: HasAddress,
    authority: str,
    request: bytes,
    *,
    timeout: float = 10.0,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, HttpResponse | None]:
    """Open an HTTP CONNECT tunnel to ``authority`` through ``client``'s Envoy, send the
    HTTP/1.1 ``request`` through it and read one response. Returns the CONNECT status and
    that response (``None`` unless the tunnel was opened: status 200). With ``tls``, the
    request goes over TLS inside the tunnel (SNI: the authority's host), as an HTTPS client
    behind a proxy sends it."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(client.address, PROXY_PORT)
        try:
            writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                return status, None
            if tls is not None:
                await writer.start_tls(tls, server_hostname=authority.rpartition(":")[0])
            writer.write(request)
            await writer.drain()
            raw = await _read_response(reader, head_only=request.startswith(b"HEAD "))
        finally:
            if tls is not None:
                # No TLS close handshake: Envoy keeps the tunnel's downstream open for a
                # second after the upstream closed, and a graceful shutdown would wait it out.
                writer.transport.abort()
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    return status, _parse_response(raw, started)


async def gather_limited(count: int, make: Callable[[int], Awaitable[T]], *,
                         concurrency: int = 8) -> list[T]:  # fmt: skip
    """``[await make(i) for i in range(count)]``, at most ``concurrency`` at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> T:
        async with limit:
            return await make(index)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def served_by(responses: Iterable[HttpResponse]) -> Counter[str]:
    """How many of ``responses`` each workload served (``""``: no echo app answered)."""
    return Counter(response.served_by for response in responses)


def binomial_bounds(n: int, p: float, z: float = 3.29) -> tuple[float, float]:
    """Where a count of ``n`` trials of probability ``p`` falls with two-sided confidence
    99.9% (``z`` = 3.29; normal approximation, good for ``n*p`` and ``n*(1-p)`` above ~10)."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return mean - z * sd, mean + z * sd
