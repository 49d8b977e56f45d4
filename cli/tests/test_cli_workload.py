"""The real ``mizzen workload run`` (and ``mizzen proxy-config``) against a real discovery
service on a real etcd, with a real Envoy and a small real app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from mizzen.agent.addresses import machine_lock_dir
from mizzen.launcher import EtcdProcess, PortAllocator, ServiceProcess
from mizzen.launcher.probe import http_get
from mizzen.registry import Endpoint, Health, decode_endpoint, endpoint_key
from mizzen.snapshots import InboundPort, Interception, ProxyClass, ProxyType
from mizzen.store import Store
from mizzen.testing import wait_for
from mizzen.testing.plugin import ServiceFactory
from mizzen.testing.processes import alive

MIZZEN = str(Path(sys.executable).parent / "mizzen")
HOST = "reviews.default.svc.cluster.local"

# The app: records what it sees of its environment, serves HTTP on MIZZEN_APP_PORT (if any)
# and exits with status N on GET /exit/N.
APP = """
import http.server, json, os, signal, sys
out = sys.argv[1]
seen = {k: v for k, v in os.environ.items()
        if k.startswith("MIZZEN_") or k.lower() in ("http_proxy", "no_proxy")}
seen["pid"] = os.getpid()
with open(out + ".tmp", "w") as f:
    json.dump(seen, f)
os.replace(out + ".tmp", out)
if "MIZZEN_APP_PORT" not in os.environ:
    signal.pause()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/exit/") else None
        body = os.environ["MIZZEN_WORKLOAD"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if code is not None:
            os._exit(code)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["MIZZEN_APP_PORT"])), Handler).serve_forever()
"""


@dataclass
class Workload:
    """One ``mizzen workload run`` process and what it leaves behind."""

    proc: asyncio.subprocess.Process
    env_file: Path
    log_file: Path
    app_port: int
    home: Path
    stdout_file: Path
    seen: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """The agent's log lines so far (JSON on stderr; other lines skipped)."""
        found = []
        for line in self.log_file.read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and "event" in record:
                    found.append(record)
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        """The agent's log lines with event ``name``."""
        return [record for record in self.records() if record["event"] == name]

    async def app_env(self) -> dict[str, Any]:
        """What the app recorded of its environment, once it has."""
        self.seen = await wait_for(
            lambda: json.loads(self.env_file.read_text()) if self.env_file.exists() else None,
            timeout=20, message="the app to start",
        )  # fmt: skip
        return self.seen

    def envoy_pid(self) -> int:
        """The pid Envoy had when it last became ready."""
        ready = self.events("proxy ready") + self.events("proxy restarted")
        assert ready, self.log_file.read_text()
        return int(ready[-1]["pid"])

    async def exit_status(self, timeout: float = 20) -> int:
        """Wait for the command to end; its exit status."""
        return await asyncio.wait_for(self.proc.wait(), timeout)


WorkloadRunner = Callable[..., Awaitable[Workload]]


@pytest_asyncio.fixture
async def run_workload(tmp_path: Path, ports: PortAllocator) -> AsyncIterator[WorkloadRunner]:
    """``await run_workload(name, *flags, env=...)`` starts ``mizzen workload run`` for the
    test app, with its Envoy pointed at a closed xds port and a short initial fetch timeout
    (Envoy is ready without a control plane). Killed at teardown if still running."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    home = tmp_path / "home"
    xds = f"127.0.0.1:{ports.take()}"
    started: list[Workload] = []

    async def start(name: str, *flags: str, env: dict[str, str] | None = None,
                    service: bool = True) -> Workload:  # fmt: skip
        app_port = ports.take()
        env_file = tmp_path / f"{name}-{len(started)}.env.json"
        log_file = tmp_path / f"{name}-{len(started)}.log"
        stdout_file = tmp_path / f"{name}-{len(started)}.out"
        served = ["--service", "reviews", "--port", f"9080:{app_port}"] if service else []
        argv = [MIZZEN, "workload", "run", "--name", name, *served, "--xds", xds,
                "--initial-fetch-timeout", "0.2", "--grace", "5", *flags,
                "--", sys.executable, str(app), str(env_file)]  # fmt: skip
        with log_file.open("wb") as log, stdout_file.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=out, stderr=log,
                env={**os.environ, "MIZZEN_HOME": str(home), "MIZZEN_LOG_FORMAT": "json",
                     **(env or {})},
            )  # fmt: skip
        workload = Workload(proc, env_file, log_file, app_port, home, stdout_file)
        started.append(workload)
        return workload

    try:
        yield start
    finally:
        for workload in started:
            if workload.proc.returncode is None:
                workload.proc.kill()
                await workload.proc.wait()


async def registered(store: Store, name: str, health: Health = Health.HEALTHY) -> Endpoint:
    """Wait until the registry holds ``name``'s reviews endpoint with ``health``."""

    async def read() -> Endpoint | None:
        kv = await store.get(endpoint_key(HOST, f"default.{name}"))
        endpoint = decode_endpoint(kv.value) if kv is not None else None
        return endpoint if endpoint is not None and endpoint.health is health else None

    return await wait_for(read, timeout=20, message=f"{name} registered {health}")


async def mizzen(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``mizzen`` command off the event loop (with ``MIZZEN_HOME=home``)."""
    env = {**os.environ, **({"MIZZEN_HOME": str(home)} if home else {})}
    return await asyncio.to_thread(
        subprocess.run, [MIZZEN, *args], capture_output=True, text=True, timeout=60,
        check=False, env=env,
    )  # fmt: skip


async def test_workload_lives_registered_and_exits_with_its_app(
    discovery: ServiceProcess, store: Store, run_workload: WorkloadRunner
) -> None:
    workload = await run_workload(
        "reviews-v2", "--labels", "app=reviews,version=v2", "--service-account",
        "bookinfo-reviews", "--discovery", discovery.grpc_target,
    )  # fmt: skip
    env = await workload.app_env()
    address = env["MIZZEN_ADDRESS"]
    assert address.startswith("127.")
    assert address != "127.0.0.1"
    assert env["http_proxy"] == env["HTTP_PROXY"] == f"http://{address}:15001"
    assert env["no_proxy"] == env["NO_PROXY"] == f"{address},localhost,127.0.0.1"
    assert env["MIZZEN_WORKLOAD"] == "reviews-v2"
    assert env["MIZZEN_NAMESPACE"] == "default"
    assert env["MIZZEN_PORTS"] == f"9080:{workload.app_port}"
    assert env["MIZZEN_APP_PORT"] == str(workload.app_port)

    endpoint = await registered(store, "reviews-v2")  # HEALTHY once the app serves
    assert endpoint.address == address
    assert dict(endpoint.ports) == {9080: 9080}
    assert dict(endpoint.labels) == {"app": "reviews", "version": "v2"}
    assert endpoint.service_account == "bookinfo-reviews"

    # proxy-config finds the workload through discovery and reads its Envoy's own bootstrap.
    shown = await mizzen("proxy-config", "bootstrap", "reviews-v2", "--discovery",
                         discovery.grpc_target, "-o", "json")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    node = json.loads(shown.stdout)["node"]
    assert node["id"] == f"sidecar~{address}~reviews-v2.default~default.svc.cluster.local"
    assert ProxyClass.from_node_metadata(ProxyType.SIDECAR, node["metadata"]) == ProxyClass(
        proxy_type=ProxyType.SIDECAR,
        namespace="default",
        labels={"app": "reviews", "version": "v2"},
        service_account="bookinfo-reviews",
        interception=Interception.NONE,
        local_address=address,
        inbound=(InboundPort(9080, workload.app_port),),
    )
    clusters = await mizzen("proxy-config", "clusters", f"{address}:15000")
    assert clusters.returncode == 0, clusters.stderr
    assert clusters.stdout.splitlines()[0].split() == [
        "SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE",
    ]  # fmt: skip
    assert any(line.startswith("xds-grpc") for line in clusters.stdout.splitlines())
    missing = await mizzen("proxy-config", "routes", "nobody.default", "--discovery",
                           discovery.grpc_target)  # fmt: skip
    assert missing.returncode == 1
    assert "no workload 'nobody' in namespace 'default'" in missing.stderr

    envoy_pid = workload.envoy_pid()
    assert alive(envoy_pid)
    status, _ = await http_get("127.0.0.1", workload.app_port, "/exit/7")
    assert status == 200
    assert await workload.exit_status() == 7
    assert await store.get(endpoint_key(HOST, "default.reviews-v2")) is None
    assert not alive(envoy_pid)
    assert not alive(env["pid"])
    assert not (machine_lock_dir() / f"{address}.lock").exists()


async def test_sigterm_deregisters_and_leaves_no_process(
    discovery: ServiceProcess, store: Store, run_workload: WorkloadRunner
) -> None:
    workload = await run_workload("reviews-v1", "--discovery", discovery.grpc_target)
    env = await workload.app_env()
    await registered(store, "reviews-v1")

    # A crashed Envoy is restarted (and the workload is UNHEALTHY while it is down).
    first_envoy = workload.envoy_pid()
    os.kill(first_envoy, signal.SIGKILL)
    await wait_for(lambda: workload.events("proxy restarted"), timeout=20,
                   message="Envoy to be restarted")  # fmt: skip
    envoy_pid = workload.envoy_pid()
    assert envoy_pid != first_envoy
    assert alive(envoy_pid)
    await registered(store, "reviews-v1")

    workload.proc.send_signal(signal.SIGTERM)
    assert await workload.exit_status() == 128 + signal.SIGTERM  # the app died of it
    assert await store.get(endpoint_key(HOST, "default.reviews-v1")) is None
    assert not alive(envoy_pid)
    assert not alive(env["pid"])
    names = [record["event"] for record in workload.records()]
    # Traffic first: the workload leaves the registry before the app is told to stop.
    assert names.index("workload deregistered") < names.index("app exited")


async def test_concurrent_workloads_get_their_own_addresses(
    discovery: ServiceProcess, store: Store, run_workload: WorkloadRunner
) -> None:
    first = await run_workload("reviews-a", "--discovery", discovery.grpc_target)
    second = await run_workload("reviews-b", "--discovery", discovery.grpc_target)
    client = await run_workload("client", service=False)
    envs = [await w.app_env() for w in (first, second, client)]
    addresses = [env["MIZZEN_ADDRESS"] for env in envs]
    assert len(set(addresses)) == 3
    assert "MIZZEN_APP_PORT" not in envs[2]
    endpoints = [await registered(store, name) for name in ("reviews-a", "reviews-b")]
    assert [e.address for e in endpoints] == addresses[:2]
    for workload in (first, second, client):
        workload.proc.send_signal(signal.SIGINT)
    for workload in (first, second, client):
        assert await workload.exit_status() == 128 + signal.SIGINT


async def test_bad_port_is_a_usage_error() -> None:
    result = await mizzen("workload", "run", "--name", "x", "--service", "reviews",
                          "--port", "9080", "--", "true")  # fmt: skip
    assert result.returncode == 2
    assert "--port '9080': expected PORT:APP_PORT[:PROTOCOL]" in result.stderr


async def test_no_discovery_fails_after_the_deadline(
    run_workload: WorkloadRunner, ports: PortAllocator
) -> None:
    workload = await run_workload(
        "lonely", "--discovery", f"127.0.0.1:{ports.take()}", "--registration-timeout", "1"
    )
    assert await workload.exit_status() == 1
    errors = workload.log_file.read_text()
    assert "Error: no discovery replica registered the workload within 1s" in errors
    assert not workload.env_file.exists()  # the app never started
    assert not alive(workload.envoy_pid())


async def test_missing_envoy_and_missing_app_are_clear_errors(
    run_workload: WorkloadRunner, tmp_path: Path
) -> None:
    no_envoy = await run_workload(
        "no-envoy", service=False, env={"MIZZEN_AGENT_ENVOY_BINARY": str(tmp_path / "nope")}
    )
    assert await no_envoy.exit_status() == 1
    assert f"cannot run Envoy: {tmp_path / 'nope'} is not an executable file" in (
        no_envoy.log_file.read_text()
    )

    result = await mizzen("workload", "run", "--name", "no-app", "--xds", "127.0.0.1:1",
                          "--initial-fetch-timeout", "0.1", "--", str(tmp_path / "no-such-app"),
                          home=tmp_path / "home")  # fmt: skip
    assert result.returncode == 127
    assert "not found" in result.stderr


# A client app: GET the reviews service through its Envoy (urllib honours http_proxy), retrying
# until the mesh has converged or a deadline passes; exits 0 with the answer in a file.
CLIENT = """
import json, sys, time, urllib.request
deadline = time.monotonic() + 20
while True:
    try:
        with urllib.request.urlopen("http://reviews:9080/hello", timeout=2) as response:
            answer = {"status": response.status, "body": response.read().decode(),
                      "served_by": response.headers.get("x-served-by", "")}
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"no answer: {exc!r}")
        time.sleep(0.1)  # the app's retry pace while the mesh converges
with open(sys.argv[1], "w") as f:
    json.dump(answer, f)
"""
SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    def do_GET(self):
        via_envoy = "x-forwarded-proto" in self.headers and "x-request-id" in self.headers
        body = f"{os.environ['MIZZEN_WORKLOAD']} {self.path} via_envoy={via_envoy}".encode()
        self.send_response(200)
        self.send_header("x-served-by", os.environ["MIZZEN_ADDRESS"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["MIZZEN_APP_PORT"])), Handler).serve_forever()
"""


async def test_traffic_flows_between_workloads_through_their_envoys(
    etcd: EtcdProcess, service_factory: ServiceFactory, ports: PortAllocator, tmp_path: Path
) -> None:
    store_url = f"etcd://{etcd.endpoint}"
    discovery = await service_factory("discovery", env={"MIZZEN_DISCOVERY_STORE_URL": store_url})
    await service_factory("translator", env={"MIZZEN_TRANSLATOR_STORE_URL": store_url})
    xds = await service_factory("xds", env={"MIZZEN_XDS_STORE_URL": store_url})
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "client.py").write_text(CLIENT)
    home = tmp_path / "home"
    env = {**os.environ, "MIZZEN_HOME": str(home), "MIZZEN_LOG_FORMAT": "json"}
    mesh = ["--xds", xds.grpc_target, "--discovery", discovery.grpc_target]
    with (tmp_path / "server.log").open("wb") as log:
        server = await asyncio.create_subprocess_exec(
            MIZZEN, "workload", "run", "--name", "reviews-v1", "--service", "reviews",
            "--port", f"9080:{ports.take()}", "--labels", "app=reviews,version=v1", *mesh,
            "--", sys.executable, str(tmp_path / "server.py"), env=env, stderr=log,
        )  # fmt: skip
    answer_file = tmp_path / "answer.json"
    try:
        with (tmp_path / "client.log").open("wb") as log:
            client = await asyncio.create_subprocess_exec(
                MIZZEN, "workload", "run", "--name", "productpage", "--delta", *mesh,
                "--", sys.executable, str(tmp_path / "client.py"), str(answer_file),
                env=env, stderr=log,
            )  # fmt: skip
        assert await asyncio.wait_for(client.wait(), 40) == 0, (tmp_path / "client.log").read_text()
        answer = json.loads(answer_file.read_text())
        assert answer["status"] == 200
        assert answer["body"] == "reviews-v1 /hello via_envoy=True"
        server_address = answer["served_by"]

        # proxy-config reads what xds gave the server's Envoy.
        clusters = await mizzen("proxy-config", "clusters", "reviews-v1",
                                "--discovery", discovery.grpc_target)  # fmt: skip
        assert clusters.returncode == 0, clusters.stderr
        rows = [line.split() for line in clusters.stdout.splitlines()[1:]]
        assert ["reviews.default.svc.cluster.local", "9080", "-", "outbound", "EDS"] in rows
        assert ["9080", "-", "inbound", "STATIC"] in [row[:4] for row in rows if len(row) == 4]
        listeners = await mizzen("proxy-config", "listeners", f"{server_address}:15000")
        assert listeners.returncode == 0, listeners.stderr
        assert any(line.split()[:2] == [server_address, "9080"]
                   for line in listeners.stdout.splitlines())  # fmt: skip
        endpoints = await mizzen("proxy-config", "endpoints", f"{server_address}:15000", "-o",
                                 "yaml")  # fmt: skip
        assert endpoints.returncode == 0, endpoints.stderr
        assert f"address: {server_address}" in endpoints.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 20) == 128 + signal.SIGTERM


@pytest_asyncio.fixture
async def store(etcd_store: Store) -> Store:
    """A client of the test's etcd."""
    return etcd_store
