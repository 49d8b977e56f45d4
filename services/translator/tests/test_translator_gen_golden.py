"""Golden-file tests of the generators: ``golden/<case>/input.yaml`` → ``golden.yaml``.

Each case is a scenario (proxy class, registry, Istio config; see
:mod:`mizzen.translator.domain.generators.scenario`). Its generated sets, rendered as YAML
through protobuf's JSON mapping, must equal ``golden.yaml`` byte for byte. After a deliberate
change, regenerate with ``MIZZEN_UPDATE_GOLDEN=1`` and review the diff like code.

Every case's output must also pass ``envoy --mode validate`` (real Envoy), and every cluster
a route or listener names must exist in the class's clusters unless the case lists it
under ``dangling`` (a destination with no service, as a user may write). Envoy validates in
the ``golden`` directory, so files a case names (gateway certificates) are given relative to
it.

Proxyless cases (the scenario's proxy is ``proxyless``) hold ``api_listener`` listeners, one
per name a gRPC client may dial. Envoy would take at most one API listener per bootstrap,
and the server build has no API listener extension at all ("missing the API listener
extension"). For those cases only, each API listener is validated as what Envoy can check:
a listener of the same name on ``127.0.0.1:0`` (never bound in validate mode) whose filter
chain holds the API listener's HttpConnectionManager, so its filters and its RDS route
configuration (inlined by the validator) are built as Envoy would build them.
"""

from __future__ import annotations

import asyncio
import difflib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from mizzen.envoy import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    EnvoyResource,
    decode,
    make_resource,
    validate_resources,
)
from mizzen.snapshots import ProxyType
from mizzen.translator.domain.generators import (
    GeneratedClass,
    Scenario,
    generate,
    generated_to_data,
    load_scenario,
)

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.yaml").is_file())
UPDATE = os.environ.get("MIZZEN_UPDATE_GOLDEN") == "1"
# Envoy validate runs take 0.1-0.3 s each and use one core for a moment; a few at a time
# keep the whole member fast on two cores.
_VALIDATE_CONCURRENCY = 4


def _load(case: str) -> tuple[Scenario, GeneratedClass]:
    path = GOLDEN / case / "input.yaml"
    scenario = load_scenario(path.read_text(), source=str(path))
    return scenario, generate(scenario.config, scenario.registry, scenario.proxy)


def _render(generated: GeneratedClass) -> str:
    return yaml.safe_dump(
        generated_to_data(generated), sort_keys=False, default_flow_style=False, width=100
    )


def test_cases_are_present() -> None:
    # Guards against a moved directory silently running no golden case at all.
    assert len(CASES) >= 25, CASES
    strays = [p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in CASES]
    assert not strays, f"golden directories without input.yaml: {strays}"


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    _, generated = _load(case)
    text = _render(generated)
    path = GOLDEN / case / "golden.yaml"
    if UPDATE:
        path.write_text(text)
        return
    assert path.is_file(), f"{path} is missing: run with MIZZEN_UPDATE_GOLDEN=1 and review it"
    expected = path.read_text()
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{case}/golden.yaml",
                tofile="generated",
                n=2,
            )
        )
        pytest.fail(f"generated config differs from {case}/golden.yaml:\n{diff[:6000]}")


def _hcm_clusters(manager: Any, routes: dict[str, Any]) -> set[str]:
    if manager.HasField("route_config"):
        return _route_clusters(manager.route_config)
    config = routes.get(manager.rds.route_config_name)
    return _route_clusters(config) if config is not None else set()


def _route_clusters(config: Any) -> set[str]:
    names: set[str] = set()
    for host in config.virtual_hosts:
        for route in host.routes:
            if not route.HasField("route"):
                continue
            action = route.route
            if action.cluster:
                names.add(action.cluster)
            names.update(c.name for c in action.weighted_clusters.clusters)
            names.update(m.cluster for m in action.request_mirror_policies)
    return names


def referenced_clusters(generated: GeneratedClass) -> set[str]:
    """Every cluster named by the class's route configurations and listeners."""
    routes = {r.name: decode(r) for r in generated.of_type(ROUTE_TYPE)}
    names: set[str] = set()
    for config in routes.values():
        names |= _route_clusters(config)
    hcm = http_connection_manager_pb2.HttpConnectionManager
    for resource in generated.of_type(LISTENER_TYPE):
        listener: Any = decode(resource)
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                packed = network_filter.typed_config
                if packed.Is(hcm.DESCRIPTOR):
                    manager = hcm()
                    packed.Unpack(manager)
                    names |= _hcm_clusters(manager, routes)
                elif packed.Is(tcp_proxy_pb2.TcpProxy.DESCRIPTOR):
                    proxy = tcp_proxy_pb2.TcpProxy()
                    packed.Unpack(proxy)
                    names.add(proxy.cluster)
                    names.update(c.name for c in proxy.weighted_clusters.clusters)
    names.discard("")
    return names


@pytest.mark.parametrize("case", CASES)
def test_every_referenced_cluster_exists(case: str) -> None:
    scenario, generated = _load(case)
    defined = {r.name for r in generated.of_type(CLUSTER_TYPE)}
    allowed = set(scenario.data.get("dangling") or ())
    missing = referenced_clusters(generated) - defined - allowed
    assert not missing, f"{case}: routes or listeners name clusters that do not exist: {missing}"


def test_route_configurations_are_referenced() -> None:
    # Every RDS name a listener asks for is generated, for every case.
    for case in CASES:
        _, generated = _load(case)
        routes = {r.name for r in generated.of_type(ROUTE_TYPE)}
        hcm = http_connection_manager_pb2.HttpConnectionManager
        for resource in generated.of_type(LISTENER_TYPE):
            listener: Any = decode(resource)
            for chain in listener.filter_chains:
                for network_filter in chain.filters:
                    if network_filter.typed_config.Is(hcm.DESCRIPTOR):
                        manager = hcm()
                        network_filter.typed_config.Unpack(manager)
                        if manager.HasField("rds"):
                            assert manager.rds.route_config_name in routes, (case, listener.name)
        assert all(isinstance(decode(r), route_pb2.RouteConfiguration)
                   for r in generated.of_type(ROUTE_TYPE))  # fmt: skip


def _socket_listener(resource: EnvoyResource) -> EnvoyResource:
    """An ``api_listener`` as a listener Envoy's server build can validate (see module)."""
    api: Any = decode(resource)
    assert api.HasField("api_listener"), f"{resource.name}: a proxyless listener is an API one"
    listener = listener_pb2.Listener(name=api.name)
    listener.address.socket_address.address = "127.0.0.1"
    listener.address.socket_address.port_value = 0
    listener.filter_chains.add().filters.add(
        name="envoy.filters.network.http_connection_manager",
        typed_config=api.api_listener.api_listener,
    )
    return make_resource(listener)


async def test_every_golden_case_passes_envoy_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    # Envoy loads the files a config names (TLS certificates) relative to its working
    # directory, which it inherits from this process.
    monkeypatch.chdir(GOLDEN)
    semaphore = asyncio.Semaphore(_VALIDATE_CONCURRENCY)

    async def check(case: str, resources: list[EnvoyResource]) -> tuple[str, bool, str]:
        if not resources:
            return case, True, ""
        async with semaphore:
            ok, error = await validate_resources(resources)
        return case, ok, error

    runs = []
    for case in CASES:
        scenario, generated = _load(case)
        resources = list(generated.resources())
        if scenario.proxy.proxy_type is ProxyType.PROXYLESS:
            assert generated.of_type(LISTENER_TYPE), f"{case}: no api_listener to validate"
            resources = [_socket_listener(r) if r.type_url == LISTENER_TYPE else r
                         for r in resources]  # fmt: skip
        runs.append(check(case, resources))
    results = await asyncio.gather(*runs)
    rejected = {case: error for case, ok, error in results if not ok}
    assert not rejected, f"Envoy rejected generated config: {rejected}"
