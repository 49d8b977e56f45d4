"""Reading the product page from outside: who answered, with which stars, which error boxes.

For scripts, benchmarks and tests that drive Bookinfo through its gateway::

    page = await fetch_page("127.0.0.1", 8080, user="jason")
    page.status, page.reviews_version, page.star_colors, page.errors, page.elapsed

It relies on the page's markers (see :mod:`mizzen.samples.bookinfo.page`), not on its
layout. Standard library only.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from dataclasses import dataclass

from mizzen.samples.bookinfo.reviews import RATINGS_UNAVAILABLE

__all__ = ["PageView", "fetch_page", "read_page"]

_VERSION = re.compile(rb'data-reviews-version="([^"]*)"')
_COLOR = re.compile(rb'data-color="(\w+)"')
_ERROR = re.compile(rb'class="error" data-service="(\w+)"')


@dataclass(frozen=True, slots=True)
class PageView:
    """What one answer of ``/productpage`` showed.

    ``reviews_version`` is the reviews version that answered (``""`` when reviews failed),
    ``star_colors`` the color of each rating shown (none for v1), ``errors`` the services
    whose error box is shown (``details``, ``reviews``), ``ratings_unavailable`` whether a
    review says ratings could not be had; ``elapsed`` is in seconds.
    """

    status: int
    reviews_version: str
    star_colors: tuple[str, ...]
    errors: tuple[str, ...]
    ratings_unavailable: bool
    elapsed: float

    @property
    def whole(self) -> bool:
        """A 200 with details and reviews, and ratings wherever the version shows them."""
        return self.status == 200 and not self.errors and not self.ratings_unavailable


def read_page(status: int, body: bytes, elapsed: float = 0.0) -> PageView:
    """Read the markers of a ``/productpage`` answer."""
    version = _VERSION.search(body)
    return PageView(
        status=status,
        reviews_version=version.group(1).decode() if version else "",
        star_colors=tuple(c.decode() for c in _COLOR.findall(body)),
        errors=tuple(e.decode() for e in _ERROR.findall(body)),
        ratings_unavailable=RATINGS_UNAVAILABLE.encode() in body,
        elapsed=elapsed,
    )


async def fetch_page(host: str, port: int, *, user: str | None = None,
                     timeout: float = 30.0) -> PageView:  # fmt: skip
    """GET ``http://host:port/productpage`` (as ``user`` when given: ``?u=<user>``) on a new
    connection. Raises ``OSError``/``TimeoutError`` when nothing answers in ``timeout``
    seconds, ``ValueError`` for a reply that is not HTTP."""
    path = "/productpage" + (f"?u={urllib.parse.quote(user)}" if user else "")
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Connection: close\r\n\r\n".encode())  # fmt: skip
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP reply: {raw[:80]!r}")
    return read_page(int(parts[1]), body, time.monotonic() - started)
