"""Bookinfo's apps as processes behind a routing proxy: the page, the versions, the user,
header propagation, timeouts and error boxes, the API, login and logout."""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import pytest_asyncio

from mizzen.launcher import PortAllocator
from mizzen.samples.bookinfo import WORKLOADS
from mizzen.samples.bookinfo.page import DETAILS_UNAVAILABLE, REVIEWS_UNAVAILABLE
from mizzen.samples.bookinfo.reviews import RATINGS_UNAVAILABLE
from mizzen.testing import wait_for

# The apps' timeouts are Bookinfo's except productpage's per-try reviews timeout, shortened
# so that the retry behaviour is seen in well under a second.
REVIEWS_TIMEOUT = 0.4


@dataclass
class Seen:
    """One request the proxy forwarded (or faulted)."""

    host: str
    path: str
    headers: dict[str, str]


@dataclass
class Fault:
    """What the proxy does to a host's requests instead of (or before) forwarding them."""

    delay: float = 0.0
    status: int | None = None


@dataclass
class RoutingProxy:
    """A threaded HTTP forward proxy: ``routes`` maps ``host:port`` to a local port."""

    routes: dict[str, int] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, service: str) -> list[Seen]:
        """What was sent to ``service`` (any port), in order."""
        with self.lock:
            return [s for s in self.seen if s.host.partition(":")[0] == service]

    def reset(self, **routes: int) -> None:
        """Forget what was seen and every fault; route ``name`` → port for the given ones."""
        with self.lock:
            self.seen.clear()
            self.faults.clear()
            self.routes.update({f"{name}:9080": port for name, port in routes.items()})


def _handler(proxy: RoutingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _reply(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the app gave up waiting (a timeout under test): nobody to answer

        def do_GET(self) -> None:
            target = urllib.parse.urlsplit(self.path)
            host = target.netloc
            headers = {name.lower(): value for name, value in self.headers.items()}
            with proxy.lock:
                proxy.seen.append(Seen(host, target.path, headers))
                port = proxy.routes.get(host)
                fault = proxy.faults.get(host.partition(":")[0], Fault())
            if fault.delay:
                time.sleep(fault.delay)  # the injected delay itself, as Envoy's fault filter
            if fault.status is not None:
                self._reply(fault.status, b"fault filter abort")
                return
            if port is None:
                self._reply(503, b"no route")
                return
            upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request("GET", path, headers=dict(self.headers.items()))
                response = upstream.getresponse()
                self._reply(response.status, response.read())
            except OSError:
                self._reply(503, b"upstream connect error")
            finally:
                upstream.close()

    return Handler


@pytest.fixture(scope="module")
def proxy() -> Iterator[RoutingProxy]:
    """The module's routing proxy, serving on a free port in a thread."""
    state = RoutingProxy()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.routes["proxy"] = server.server_address[1]
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Apps:
    """The running apps: their local ports by workload name, and the proxy they use."""

    ports: dict[str, int]
    proxy: RoutingProxy

    def route_reviews(self, version: str) -> None:
        """Reset the proxy, sending reviews to ``reviews-<version>``."""
        self.proxy.reset(
            details=self.ports["details-v1"],
            ratings=self.ports["ratings-v1"],
            reviews=self.ports[f"reviews-{version}"],
        )


def get(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request straight to ``127.0.0.1:port``: status, headers (lowercase), body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())  # fmt: skip
    finally:
        connection.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def apps(proxy: RoutingProxy) -> AsyncIterator[Apps]:
    """Every Bookinfo app as a process on a free port, using ``proxy`` as ``http_proxy``."""
    allocator = PortAllocator()
    ports = {workload.name: allocator.take() for workload in WORKLOADS}
    processes: list[subprocess.Popen[bytes]] = []
    base = {key: value for key, value in os.environ.items()
            if key.lower() not in ("http_proxy", "no_proxy")}  # fmt: skip
    try:
        for workload in WORKLOADS:
            env = {**base, "http_proxy": f"http://127.0.0.1:{proxy.routes['proxy']}",
                   "MIZZEN_APP_PORT": str(ports[workload.name]),
                   "MIZZEN_WORKLOAD": workload.name,
                   "REVIEWS_TIMEOUT": str(REVIEWS_TIMEOUT)}  # fmt: skip
            # Popen returns at once (no waiting): fine inside the event loop.
            process = subprocess.Popen(  # noqa: ASYNC220
                workload.app_command(sys.executable), env=env, stderr=subprocess.DEVNULL
            )
            processes.append(process)

        async def healthy(port: int) -> bool:
            status, _, _ = await asyncio.to_thread(get, port, "/health")
            return status == 200

        for name, port in ports.items():
            await wait_for(functools.partial(healthy, port), timeout=20,
                           message=f"{name} healthy")  # fmt: skip
        yield Apps(ports, proxy)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


pytestmark = pytest.mark.asyncio(loop_scope="module")

TRACE = {
    "x-request-id": "7d3c5b1e-0000-4000-8000-000000000001",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "tracestate": "mizzen=1",
    "x-b3-traceid": "0af7651916cd43dd8448eb211c80319c",
    "x-b3-spanid": "b7ad6b7169203331",
    "x-b3-sampled": "1",
    "b3": "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
}


def reviews_version(page: str) -> str:
    found = re.search(r'data-reviews-version="([^"]*)"', page)
    assert found, page
    return found.group(1)


def star_colors(page: str) -> list[str]:
    return re.findall(r'data-color="(\w+)"', page)


async def product_page(apps: Apps, query: str = "", headers: dict[str, str] | None = None
                       ) -> tuple[int, dict[str, str], str, float]:  # fmt: skip
    started = time.monotonic()
    status, response_headers, body = await asyncio.to_thread(
        get, apps.ports["productpage-v1"], f"/productpage{query}", headers
    )
    return status, response_headers, body.decode(), time.monotonic() - started


@pytest.mark.parametrize(
    ("version", "colors"), [("v1", []), ("v2", ["black", "black"]), ("v3", ["red", "red"])]
)
async def test_each_reviews_version_shows_its_stars(apps: Apps, version: str,
                                                    colors: list[str]) -> None:  # fmt: skip
    apps.route_reviews(version)
    status, _, page, _ = await product_page(apps)
    assert status == 200
    assert reviews_version(page) == version
    assert f'data-served-by="reviews-{version}"' in page
    assert star_colors(page) == colors
    assert 'data-stars="5"' in page if colors else "data-stars" not in page
    assert "William Shakespeare" not in page  # the author is in details' JSON, not shown
    assert "<dt>ISBN-10</dt><dd>1234567890</dd>" in page
    # v1 never asks ratings; v2 and v3 do, once per page.
    assert len(apps.proxy.requests_to("ratings")) == (1 if colors else 0)


async def test_user_and_trace_headers_reach_every_service(apps: Apps) -> None:
    apps.route_reviews("v2")
    status, headers, page, _ = await product_page(apps, "?u=jason", TRACE)
    assert status == 200
    assert "Signed in as <b>jason</b>" in page
    assert headers["set-cookie"].startswith("user=jason;")
    for service in ("details", "reviews", "ratings"):
        (seen,) = apps.proxy.requests_to(service)
        assert seen.headers.get("end-user") == "jason", service
        for name, value in TRACE.items():
            assert seen.headers.get(name) == value, (service, name)


async def test_the_user_cookie_signs_in_and_a_forged_end_user_is_ignored(apps: Apps) -> None:
    apps.route_reviews("v1")
    await product_page(apps, headers={"Cookie": "theme=dark; user=jason"})
    (seen,) = apps.proxy.requests_to("reviews")
    assert seen.headers["end-user"] == "jason"

    apps.route_reviews("v1")
    _, headers, page, _ = await product_page(apps, headers={"end-user": "jason"})
    (seen,) = apps.proxy.requests_to("reviews")
    assert "end-user" not in seen.headers
    assert "set-cookie" not in headers
    assert 'action="/login"' in page


async def test_login_and_logout_set_and_clear_the_cookie(apps: Apps) -> None:
    port = apps.ports["productpage-v1"]
    status, headers, _ = await asyncio.to_thread(
        get, port, "/login", {"Content-Type": "application/x-www-form-urlencoded"},
        "POST", b"username=jason&passwd=x",
    )  # fmt: skip
    assert status == 302
    assert headers["location"] == "/productpage"
    assert headers["set-cookie"].startswith("user=jason;")
    status, headers, _ = await asyncio.to_thread(get, port, "/logout")
    assert status == 302
    assert "Max-Age=0" in headers["set-cookie"]
    status, headers, _ = await asyncio.to_thread(
        get, port, "/login", {"Content-Type": "application/x-www-form-urlencoded"},
        "POST", b"username=%0d%0aSet-Cookie:%20x",
    )  # fmt: skip
    assert status == 302
    assert "set-cookie" not in headers


async def test_ratings_failure_shows_ratings_unavailable(apps: Apps) -> None:
    apps.route_reviews("v2")
    apps.proxy.faults["ratings"] = Fault(status=500)
    status, _, page, _ = await product_page(apps, "?u=jason")
    assert status == 200
    assert reviews_version(page) == "v2"
    assert page.count(RATINGS_UNAVAILABLE) == 2
    assert star_colors(page) == []


async def test_reviews_v3_gives_up_on_slow_ratings_after_2_5_seconds(apps: Apps) -> None:
    apps.route_reviews("v3")
    apps.proxy.faults["ratings"] = Fault(delay=3.0)
    reviews_port = apps.ports["reviews-v3"]
    started = time.monotonic()
    status, _, body = await asyncio.to_thread(get, reviews_port, "/reviews/0")
    elapsed = time.monotonic() - started
    assert status == 200
    document = json.loads(body)
    assert document["version"] == "v3"
    assert {r["rating"]["error"] for r in document["reviews"]} == {RATINGS_UNAVAILABLE}
    assert 2.5 <= elapsed < 2.9


async def test_slow_reviews_show_the_error_box_after_two_tries(apps: Apps) -> None:
    apps.route_reviews("v1")
    apps.proxy.faults["reviews"] = Fault(delay=REVIEWS_TIMEOUT * 3)
    status, _, page, elapsed = await product_page(apps)
    assert status == 200
    assert REVIEWS_UNAVAILABLE in page
    assert 'data-service="reviews"' in page
    assert reviews_version(page) == ""
    assert len(apps.proxy.requests_to("reviews")) == 2
    assert 2 * REVIEWS_TIMEOUT <= elapsed < 2 * REVIEWS_TIMEOUT + 0.5
    assert "<dt>Pages</dt><dd>200</dd>" in page  # details still shown


async def test_failing_details_show_their_error_box(apps: Apps) -> None:
    apps.route_reviews("v1")
    apps.proxy.faults["details"] = Fault(status=503)
    status, _, page, _ = await product_page(apps)
    assert status == 200
    assert DETAILS_UNAVAILABLE in page
    assert reviews_version(page) == "v1"
    assert len(apps.proxy.requests_to("details")) == 1  # details gets a single try


async def test_the_api_and_static_files(apps: Apps) -> None:
    apps.route_reviews("v2")
    port = apps.ports["productpage-v1"]
    status, _, body = await asyncio.to_thread(get, port, "/api/v1/products")
    assert status == 200
    assert json.loads(body)[0]["title"] == "The Comedy of Errors"
    status, _, body = await asyncio.to_thread(get, port, "/api/v1/products/0")
    assert (status, json.loads(body)["author"]) == (200, "William Shakespeare")
    status, _, body = await asyncio.to_thread(get, port, "/api/v1/products/0/reviews")
    assert (status, json.loads(body)["version"]) == (200, "v2")
    status, _, body = await asyncio.to_thread(get, port, "/api/v1/products/0/ratings")
    assert (status, json.loads(body)["ratings"]) == (200, {"Reviewer1": 5, "Reviewer2": 4})
    apps.proxy.faults["ratings"] = Fault(status=500)
    status, _, body = await asyncio.to_thread(get, port, "/api/v1/products/0/ratings")
    assert status == 500
    assert "unavailable" in json.loads(body)["error"]
    status, headers, body = await asyncio.to_thread(get, port, "/static/bookinfo.css")
    assert (status, headers["content-type"]) == (200, "text/css")
    assert b".stars-red" in body
    for missing in ("/static/../page.py", "/static/nope.css", "/api/v1/products/x", "/nope"):
        status, _, _ = await asyncio.to_thread(get, port, missing)
        assert status == 404, missing
    status, _, body = await asyncio.to_thread(get, port, "/")
    assert status == 200
    assert b'href="/productpage?u=jason"' in body


async def test_backends_reject_non_numeric_ids(apps: Apps) -> None:
    for name, path in (("details-v1", "/details/abc"), ("ratings-v1", "/ratings/abc"),
                       ("reviews-v1", "/reviews/abc")):  # fmt: skip
        status, _, body = await asyncio.to_thread(get, apps.ports[name], path)
        assert status == 400, name
        assert "numeric" in json.loads(body)["error"]
