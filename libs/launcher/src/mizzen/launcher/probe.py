"""Readiness probes that speak just enough HTTP to ask a component whether it is ready."""

from __future__ import annotations

import asyncio
import contextlib


async def http_get(host: str, port: int, path: str, *, timeout: float = 1.0) -> tuple[int, bytes]:
    """GET ``path`` from ``host:port`` over HTTP/1.1 and return ``(status, body)``.

    Raises ``OSError`` or ``TimeoutError`` when nothing answers; a malformed reply raises
    ``ValueError``. Kept dependency-free on purpose: it runs before anything else is up.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode("ascii"))
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            # The peer closing first is the normal end of a Connection: close exchange.
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status_line = lines[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP reply from {host}:{port}{path}: {raw[:80]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in lines[1:])}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = _dechunk(body)
    return int(status_line[1]), body


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


async def tcp_banner(host: str, port: int, *, timeout: float = 1.0) -> bytes:
    """Connect to ``host:port`` and return the first line the server sends unprompted."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            return await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError):  # we hang up first; a reset here is expected
                await writer.wait_closed()
