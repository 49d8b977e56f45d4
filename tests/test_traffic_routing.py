"""VirtualService HTTP routing with real traffic: weights, subsets, matches, rewrites,
redirects, header operations, CORS, mirroring, unknown hosts, and how fast a change shows.

One control plane and five workloads for the module: ``echo-v1`` and ``echo-v2`` (service
``echo``, labels ``version=v1|v2``), ``shadow`` (service ``shadow``, a mirror target), and two
clients with different labels. Requests go through a client's Envoy (its HTTP proxy listener)
or, for the header match, from the client's app through its Envoy.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.parse
from collections.abc import Awaitable
from dataclasses import dataclass

import pytest
import pytest_asyncio

from mizzen.launcher import PortAllocator
from mizzen.testing import wait_for
from mizzen.testing.mesh import (
    ECHO,
    HttpResponse,
    Mesh,
    Workload,
    binomial_bounds,
    gather_limited,
    http_request,
    served_by,
    via_proxy,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("mesh_guard")]

ECHO_URL = "http://echo:9080"
SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def virtual_service(host: str, http: str, **values: str) -> str:
    """A VirtualService for ``host`` with the ``http`` routes (YAML, indented 2), where each
    ``$key`` is replaced by ``values[key]``."""
    for key, value in values.items():
        http = http.replace(f"${key}", value)
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host}}}
spec:
  hosts: [{host}]
  http:
{http}
"""


@dataclass(frozen=True)
class Routing:
    """The module's workloads."""

    v1: Workload
    v2: Workload
    shadow: Workload
    client: Workload
    other: Workload


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh_workloads(mesh: Mesh) -> Routing:
    """The echo versions, the mirror target and two clients, started together."""
    v1, v2, shadow, client, other = await asyncio.gather(
        mesh.workload("echo-v1", labels={"app": "echo", "version": "v1"}),
        mesh.workload("echo-v2", labels={"app": "echo", "version": "v2"}),
        mesh.workload("shadow", service="shadow", labels={"app": "shadow"}),
        mesh.workload("client", service=None, labels={"app": "client"}),
        mesh.workload("client-b", service=None, labels={"app": "other"}),
    )
    return Routing(v1, v2, shadow, client, other)


async def send(client: Workload, path: str, count: int) -> list[HttpResponse]:
    """``count`` GETs of ``ECHO_URL + path`` through ``client``'s Envoy, 8 at a time."""
    return await gather_limited(count, lambda _: via_proxy(client, ECHO_URL + path))


async def who(client: Workload, path: str, *, method: str = "GET", body: bytes = b"") -> str:
    """Which workload answered one request for ``path`` (asserting a 200)."""
    response = await via_proxy(client, ECHO_URL + path, method=method, body=body)
    assert response.status == 200, (path, response.status, response.body[:200])
    return response.served_by


async def test_weighted_split_is_90_10(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", """
  - name: weighted
    route:
    - {destination: {host: echo, subset: v1}, weight: 90}
    - {destination: {host: echo, subset: v2}, weight: 10}
"""))  # fmt: skip
    await mesh_workloads.client.wait_route("weighted")
    responses = await send(mesh_workloads.client, "/weighted", 400)
    assert {r.status for r in responses} == {200}
    counts = served_by(responses)
    assert set(counts) == {"echo-v1", "echo-v2"}, counts
    low, high = binomial_bounds(400, 0.1)
    assert low <= counts["echo-v2"] <= high, counts


async def test_subset_selects_by_labels(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", """
  - name: to-v2
    route:
    - destination: {host: echo, subset: v2}
"""))  # fmt: skip
    await mesh_workloads.client.wait_route("to-v2")
    assert served_by(await send(mesh_workloads.client, "/subset", 60)) == {"echo-v2": 60}


async def test_subsets_split_across_destination_rules_are_merged(
    mesh: Mesh, mesh_workloads: Routing
) -> None:
    """Two DestinationRules for one host, one subset each: Istio merges them, so a route
    to either subset reaches it (without the merge one subset's cluster would not exist, and
    its requests would fail with 503)."""
    split = "---".join(f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo-{version}}}
spec:
  host: echo
  subsets:
  - {{name: {version}, labels: {{version: {version}}}}}
""" for version in ("v1", "v2"))  # fmt: skip
    await mesh.apply(split + "---" + virtual_service("echo", """
  - name: both-subsets
    match: [{uri: {prefix: /v2}}]
    route:
    - destination: {host: echo, subset: v2}
  - route:
    - destination: {host: echo, subset: v1}
"""))  # fmt: skip
    await mesh_workloads.client.wait_route("both-subsets")
    assert served_by(await send(mesh_workloads.client, "/v2/merged", 30)) == {"echo-v2": 30}
    assert served_by(await send(mesh_workloads.client, "/v1/merged", 30)) == {"echo-v1": 30}


async def test_header_match_sends_jason_to_v2(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", """
  - name: jason
    match:
    - headers: {end-user: {exact: jason}}
    route:
    - destination: {host: echo, subset: v2}
  - name: others
    route:
    - destination: {host: echo, subset: v1}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("others")

    async def from_app(user: str | None) -> str:
        """The client's app calls echo (its urllib goes through its Envoy)."""
        query = urllib.parse.urlencode({"url": f"{ECHO_URL}/reviews"})
        headers = {"end-user": user} if user else {}
        response = await http_request("127.0.0.1", client.app_port, "GET", f"/call?{query}",
                                      headers=headers)  # fmt: skip
        answer = response.json()
        assert answer["upstream_status"] == 200, answer
        name: str = json.loads(answer["upstream_body"])["name"]
        return name

    for _ in range(10):
        assert await from_app("jason") == "echo-v2"
        assert await from_app(None) == "echo-v1"
        assert await from_app("jasonx") == "echo-v1"


async def test_uri_exact_prefix_and_regex(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", """
  - name: uri
    match:
    - {name: exact, uri: {exact: /exact}}
    - {name: prefix, uri: {prefix: /prefix/}}
    - {name: regex, uri: {regex: "/re/[0-9]+"}}
    route:
    - destination: {host: echo, subset: v2}
  - name: rest
    route:
    - destination: {host: echo, subset: v1}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("rest")
    expected = {
        "/exact": "echo-v2", "/exact/more": "echo-v1", "/exactly": "echo-v1",
        "/prefix/a/b": "echo-v2", "/prefix": "echo-v1", "/prefixed": "echo-v1",
        "/re/123": "echo-v2", "/re/12a": "echo-v1", "/re/": "echo-v1",
    }  # fmt: skip
    assert {path: await who(client, path) for path in expected} == expected


async def test_method_and_query_param_match(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", """
  - name: special
    match:
    - {name: post, method: {exact: POST}}
    - {name: query, queryParams: {version: {exact: "2"}}}
    route:
    - destination: {host: echo, subset: v2}
  - name: rest
    route:
    - destination: {host: echo, subset: v1}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("rest")
    assert await who(client, "/q") == "echo-v1"
    assert await who(client, "/q", method="POST", body=b"x") == "echo-v2"
    assert await who(client, "/q", method="PUT", body=b"x") == "echo-v1"
    assert await who(client, "/q?version=2") == "echo-v2"
    assert await who(client, "/q?a=1&version=2") == "echo-v2"
    assert await who(client, "/q?version=3") == "echo-v1"


async def test_source_labels_select_the_client(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", """
  - name: from-client
    match:
    - sourceLabels: {app: client}
    route:
    - destination: {host: echo, subset: v2}
  - name: rest
    route:
    - destination: {host: echo, subset: v1}
"""))  # fmt: skip
    await mesh_workloads.client.wait_route("from-client")
    await mesh_workloads.other.wait_route("rest")
    for _ in range(10):
        assert await who(mesh_workloads.client, "/src") == "echo-v2"
        assert await who(mesh_workloads.other, "/src") == "echo-v1"


async def test_rewrite_uri_and_authority(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(virtual_service("echo", """
  - name: rewrite
    match:
    - uri: {prefix: /old/}
    rewrite: {uri: /new/, authority: rewritten.example}
    route:
    - destination: {host: echo}
  - route:
    - destination: {host: echo}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("rewrite")
    seen = (await via_proxy(client, f"{ECHO_URL}/old/page?x=1")).json()
    assert seen["path"] == "/new/page?x=1"
    assert seen["host"] == "rewritten.example"
    untouched = (await via_proxy(client, f"{ECHO_URL}/other")).json()
    assert (untouched["path"], untouched["host"]) == ("/other", "echo:9080")


async def test_redirect_answers_with_location(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(virtual_service("echo", """
  - name: moved
    match:
    - uri: {exact: /moved}
    redirect: {uri: /elsewhere, authority: other.example, redirectCode: 302}
  - route:
    - destination: {host: echo}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("moved")
    response = await via_proxy(client, f"{ECHO_URL}/moved")
    assert response.status == 302
    assert response.header("location") == "http://other.example/elsewhere"
    assert response.served_by == ""  # Envoy answered; the app never saw it
    assert (await via_proxy(client, f"{ECHO_URL}/stays")).status == 200


async def test_request_and_response_headers(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(virtual_service("echo", """
  - name: headers
    headers:
      request:
        set: {x-set: one, end-user: replaced}
        add: {x-added: two}
        remove: [x-remove-me]
      response:
        set: {x-response-set: three}
        add: {x-response-added: four}
        remove: [x-served-by]
    route:
    - destination: {host: echo}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("headers")
    response = await via_proxy(client, f"{ECHO_URL}/h", headers={
        "x-remove-me": "please", "end-user": "original", "x-kept": "yes",
    })  # fmt: skip
    assert response.status == 200
    received = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert received["x-set"] == "one"
    assert received["end-user"] == "replaced"
    assert received["x-added"] == "two"
    assert received["x-kept"] == "yes"
    assert "x-remove-me" not in received
    assert response.header("x-response-set") == "three"
    assert response.header("x-response-added") == "four"
    assert response.header("x-served-by") is None
    assert response.json()["name"] in {"echo-v1", "echo-v2"}


async def test_cors_preflight_is_answered_by_envoy(mesh: Mesh, mesh_workloads: Routing) -> None:
    await mesh.apply(virtual_service("echo", """
  - name: cors
    corsPolicy:
      allowOrigins: [{exact: "https://app.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      maxAge: 24h
    route:
    - destination: {host: echo}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("cors")
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    answer = await via_proxy(client, f"{ECHO_URL}/api", method="OPTIONS", headers=preflight)
    assert answer.status == 200
    assert answer.header("access-control-allow-origin") == "https://app.example"
    assert answer.header("access-control-allow-methods") == "GET,POST"
    assert answer.header("access-control-allow-headers") == "x-custom"
    assert answer.header("access-control-max-age") == "86400"
    assert answer.served_by == ""  # answered by Envoy, not forwarded
    simple = await via_proxy(client, f"{ECHO_URL}/api", headers={"Origin": "https://app.example"})
    assert simple.header("access-control-allow-origin") == "https://app.example"
    assert simple.served_by in {"echo-v1", "echo-v2"}
    stranger = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    refused = await via_proxy(client, f"{ECHO_URL}/api", method="OPTIONS", headers=stranger)
    assert refused.header("access-control-allow-origin") is None


async def shadow_count(shadow: Workload) -> int:
    """Requests the shadow app served so far (asking is not one of them)."""
    response = await http_request("127.0.0.1", shadow.app_port, "GET", "/count")
    count: int = response.json()["requests"]
    return count


async def test_mirror_sends_copies(mesh: Mesh, mesh_workloads: Routing) -> None:
    client, shadow = mesh_workloads.client, mesh_workloads.shadow
    mirror = """
  - name: $name
    route:
    - destination: {host: echo, subset: v1}
    mirror: {host: shadow}
$percentage
"""
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", mirror, name="mirror-all",
                                                       percentage=""))  # fmt: skip
    await client.wait_route("mirror-all")
    before = await shadow_count(shadow)
    assert served_by(await send(client, "/mirrored", 20)) == {"echo-v1": 20}
    after = await wait_for(
        lambda: _at_least(shadow_count(shadow), before + 20), message="20 mirrored requests"
    )
    assert after == before + 20  # exactly the copies

    half = "    mirrorPercentage: {value: 50}"
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", mirror, name="mirror-half",
                                                       percentage=half))  # fmt: skip
    await client.wait_route("mirror-half")
    before = await shadow_count(shadow)
    assert served_by(await send(client, "/half", 400)) == {"echo-v1": 400}
    low, high = binomial_bounds(400, 0.5)
    # Mirrors are sent as the requests go; the last ones may still be on their way.
    mirrored = await wait_for(lambda: _at_least(shadow_count(shadow), before + low),
                              message="half the requests mirrored")  # fmt: skip
    assert mirrored - before <= high


async def _at_least(count: Awaitable[int], minimum: float) -> int | None:
    value = await count
    return value if value >= minimum else None


async def test_unknown_hosts_pass_through(mesh: Mesh, mesh_workloads: Routing) -> None:
    port = PortAllocator().take()
    outsider = await asyncio.create_subprocess_exec(
        *ECHO, "--host", "127.0.0.1", "--port", str(port), "--name", "outsider",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_for(lambda: http_request("127.0.0.1", port, "GET", "/"),
                       message="the outsider to listen")  # fmt: skip
        for url in (f"http://127.0.0.1:{port}/out", f"http://localhost:{port}/out"):
            response = await via_proxy(mesh_workloads.client, url)
            assert response.status == 200, url
            assert response.served_by == "outsider"
            assert "x-envoy-upstream-service-time" in dict(response.headers)  # via Envoy
    finally:
        outsider.kill()
        await outsider.wait()


async def test_config_change_shows_in_traffic_within_a_second(
    mesh: Mesh, mesh_workloads: Routing
) -> None:
    client = mesh_workloads.client
    route_to = """
  - name: $name
    route:
    - destination: {host: echo, subset: $subset}
"""
    await mesh.apply(SUBSETS + "---" + virtual_service("echo", route_to, name="all-v1",
                                                       subset="v1"))  # fmt: skip
    await client.wait_route("all-v1")
    assert served_by(await send(client, "/before", 20)) == {"echo-v1": 20}

    await mesh.apply(SUBSETS + "---" + virtual_service("echo", route_to, name="all-v2",
                                                       subset="v2"))  # fmt: skip
    applied = time.monotonic()
    while await who(client, "/switch") != "echo-v2":
        assert time.monotonic() - applied < 5, "the change never showed"
    elapsed = time.monotonic() - applied
    print(f"config change visible in traffic {elapsed * 1000:.0f} ms after apply returned",
          file=sys.stderr)  # fmt: skip
    assert elapsed < 1.0
    assert served_by(await send(client, "/after", 20)) == {"echo-v2": 20}


def rotating_subsets(old: str, new: str) -> str:
    """A DestinationRule with two subsets of ``echo-v2`` named ``old`` and ``new``."""
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo}}
spec:
  host: echo
  subsets:
  - {{name: {old}, labels: {{version: v2}}}}
  - {{name: {new}, labels: {{version: v2}}}}
"""


async def test_a_route_to_new_subsets_drops_no_request(mesh: Mesh, mesh_workloads: Routing) -> None:
    """Traffic keeps flowing while a DestinationRule and the VirtualService that uses its new
    subset are applied together, twenty times over: every request must succeed."""
    client = mesh_workloads.client
    route_to = """
  - name: $name
    route:
    - destination: {host: echo, subset: $name}
"""
    await mesh.apply(rotating_subsets("init", "s0") + "---"
                     + virtual_service("echo", route_to, name="s0"))  # fmt: skip
    await client.wait_route("s0")
    stop = asyncio.Event()
    statuses: list[int] = []

    async def pump() -> None:
        while not stop.is_set():
            statuses.append((await via_proxy(client, f"{ECHO_URL}/steady")).status)

    pumps = [asyncio.create_task(pump()) for _ in range(2)]
    try:
        for step in range(1, 21):
            old, new = f"s{step - 1}", f"s{step}"
            await mesh.apply(rotating_subsets(old, new) + "---"
                             + virtual_service("echo", route_to, name=new))  # fmt: skip
            await client.wait_route(new)
    finally:
        stop.set()
        await asyncio.gather(*pumps)
    failed = [status for status in statuses if status != 200]
    assert not failed, f"{len(failed)} of {len(statuses)} requests failed: {set(failed)}"
