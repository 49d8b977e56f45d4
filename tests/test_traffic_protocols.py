"""Upstream protocols with real traffic: TCP routes (HTTP CONNECT through the local proxy
listener), HTTP/2 and gRPC upstreams chosen by port protocol, and a proxyless gRPC client.

One control plane for the module; ``tcp-echo`` (TCP port 9000) on ``tcp-v1`` and ``tcp-v2``,
``grpc-echo`` (GRPC port 9090) and ``h2-echo`` (HTTP2 port 9091), both served by the gRPC
echo app, and a client.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from grpc import aio

from mizzen.testing import wait_for
from mizzen.testing.apps.grpc_echo import ECHO_METHOD, decode_reply
from mizzen.testing.mesh import (
    APP_PORT,
    GRPC_ECHO,
    Mesh,
    Workload,
    binomial_bounds,
    gather_limited,
    via_tunnel,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("mesh_guard")]

TCP_AUTHORITY = "tcp-echo:9000"
H2_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# What goes through a tunnel: an HTTP request the echo app behind the TCP port answers.
TUNNELLED = b"GET /tunnelled HTTP/1.1\r\nHost: tcp-echo\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Protocols:
    """The module's workloads."""

    tcp_v1: Workload
    tcp_v2: Workload
    grpc: Workload
    h2: Workload
    client: Workload


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh_workloads(mesh: Mesh) -> Protocols:
    """TCP, gRPC and HTTP/2 servers and a client, started together."""
    grpc_app = (*GRPC_ECHO, "--port", APP_PORT)
    started = await asyncio.gather(
        mesh.workload("tcp-v1", service="tcp-echo", port=9000, protocol="TCP",
                      labels={"app": "tcp-echo", "version": "v1"}),
        mesh.workload("tcp-v2", service="tcp-echo", port=9000, protocol="TCP",
                      labels={"app": "tcp-echo", "version": "v2"}),
        mesh.workload("grpc-v1", service="grpc-echo", port=9090, protocol="GRPC",
                      command=grpc_app),
        mesh.workload("h2-v1", service="h2-echo", port=9091, protocol="HTTP2",
                      command=grpc_app),
        mesh.workload("client", service=None, labels={"app": "client"}),
    )  # fmt: skip
    return Protocols(*started)


async def tunnelled_name(client: Workload) -> str:
    """Open a CONNECT tunnel to ``tcp-echo:9000`` through ``client``'s Envoy and return the
    name of the echo app that answered the HTTP request sent through it."""
    status, response = await via_tunnel(client, TCP_AUTHORITY, TUNNELLED)
    assert status == 200, status
    assert response is not None
    assert response.status == 200, response
    name: str = response.json()["name"]
    return name


async def test_tcp_route_weights_through_connect(mesh: Mesh, mesh_workloads: Protocols) -> None:
    client = mesh_workloads.client
    assert await tunnelled_name(client) in {"tcp-v1", "tcp-v2"}  # reachable without config
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo}
spec:
  host: tcp-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - route:
    - {destination: {host: tcp-echo, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, subset: v2}, weight: 20}
""")  # fmt: skip

    async def weighted() -> bool:
        host = (await client.virtual_hosts()).get("tcp-echo.default.svc.cluster.local:9000", {})
        connect = next(r for r in host.get("routes", []) if r.get("name") == "connect")
        clusters = connect["route"].get("weighted_clusters", {}).get("clusters", [])
        active = await client.clusters()
        return len(clusters) == 2 and all(c["name"] in active for c in clusters)

    await wait_for(weighted, timeout=15, message="the weighted CONNECT route")
    names = await gather_limited(200, lambda _: tunnelled_name(client))
    low, high = binomial_bounds(200, 0.2)
    assert set(names) == {"tcp-v1", "tcp-v2"}
    assert low <= names.count("tcp-v2") <= high, names.count("tcp-v2")


async def grpc_call(client: Workload, authority: str, message: str) -> dict[str, Any]:
    """One call of the echo method through ``client``'s Envoy, addressed to ``authority``."""
    options = [("grpc.default_authority", authority)]
    async with aio.insecure_channel(f"{client.address}:15001", options=options) as channel:
        reply: bytes = await channel.unary_unary(ECHO_METHOD)(message.encode(), timeout=10)
    return decode_reply(reply)


async def test_grpc_through_envoy(mesh: Mesh, mesh_workloads: Protocols) -> None:
    answer = await grpc_call(mesh_workloads.client, "grpc-echo:9090", "hello")
    assert answer["name"] == "grpc-v1"
    assert answer["message"] == "hello"
    assert "x-request-id" in answer["metadata"]  # added by the client's Envoy


async def test_http2_upstream_by_port_protocol(mesh: Mesh, mesh_workloads: Protocols) -> None:
    # gRPC needs HTTP/2 end to end (the server speaks nothing else): this answer means both
    # Envoys spoke HTTP/2 upstream, to the server's Envoy and to the app.
    answer = await grpc_call(mesh_workloads.client, "h2-echo:9091", "over h2")
    assert answer["name"] == "h2-v1"
    clusters = await mesh_workloads.client.clusters()
    outbound = clusters["outbound|9091||h2-echo.default.svc.cluster.local"]
    inbound = (await mesh_workloads.h2.clusters())["inbound|9091||"]
    for cluster in (outbound, inbound):
        options = cluster["typed_extension_protocol_options"][H2_OPTIONS]
        assert "http2_protocol_options" in options["explicit_http_config"], cluster["name"]


BOOTSTRAP_CLIENT = """
import asyncio, json, sys
from grpc import aio
from mizzen.testing import wait_for
from mizzen.testing.apps.grpc_echo import ECHO_METHOD

async def main():
    async with aio.insecure_channel(sys.argv[1]) as channel:
        reply = await channel.unary_unary(ECHO_METHOD)(b"proxyless", timeout=5)
    print(reply.decode())

asyncio.run(main())
"""


async def test_proxyless_grpc_client(mesh: Mesh, mesh_workloads: Protocols, tmp_path: Path) -> None:
    bootstrap = {
        "xds_servers": [{"server_uri": mesh.xds.grpc_target,
                         "channel_creds": [{"type": "insecure"}],
                         "server_features": ["xds_v3"]}],
        "node": {"id": "sidecar~127.0.0.1~proxyless.default~default.svc.cluster.local",
                 "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default"}},
    }  # fmt: skip
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(bootstrap))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BOOTSTRAP_CLIENT, "xds:///grpc-echo.default.svc.cluster.local:9090",
        env={"GRPC_XDS_BOOTSTRAP": str(path), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)["name"] == "grpc-v1"
