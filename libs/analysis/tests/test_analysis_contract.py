"""analyze()'s contract: inputs, skipped analyzers, failures, ordering and the registry."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mizzen.analysis import (
    ANALYZER_SKIPPED,
    ANALYZERS,
    MESSAGE_TYPES,
    Analyzer,
    InputError,
    Level,
    Message,
    ResourceRef,
    analyze,
)
from mizzen.analysis import registry as registry_module
from mizzen.analysis.analyzer import Context, Snapshot
from mizzen.analysis.errors import AnalysisError
from mizzen.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND
from mizzen.api import Gateway, Resource, lookup_kind, parse_documents

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""
VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web{namespace}}}
spec:
  hosts: ["*"]
  gateways: [{gateway}]
  http:
  - route:
    - destination: {{host: web}}
"""


def _parse(*documents: str) -> list[Resource]:
    return parse_documents("---\n".join(documents), "test.yaml")


def _codes(messages: list[Message]) -> list[tuple[str, str]]:
    return [(m.code, str(m.resource)) for m in messages if m.type is not ANALYZER_SKIPPED]


def test_message_prints_like_istioctl() -> None:
    (message,) = _codes_of(_parse(VS.format(namespace="", gateway="nope")))
    assert str(message) == (
        'Error [IST0101] (VirtualService default/web) Referenced gateway not found: "nope"'
    )
    assert message.path == "spec.gateways[0]"
    assert message.level is Level.ERROR
    assert message.to_dict() == {
        "code": "IST0101",
        "level": "Error",
        "name": "ReferencedResourceNotFound",
        "message": 'Referenced gateway not found: "nope"',
        "path": "spec.gateways[0]",
        "analyzer": "virtualservice.GatewayAnalyzer",
        "resource": {"kind": "VirtualService", "namespace": "default", "name": "web"},
    }


def _codes_of(resources: list[Resource]) -> list[Message]:
    return [m for m in analyze(resources) if m.type is not ANALYZER_SKIPPED]


def test_resource_refs_print_without_an_empty_namespace() -> None:
    assert str(ResourceRef("Namespace", "", "default")) == "Namespace default"
    skipped = next(m for m in analyze([]) if m.type is ANALYZER_SKIPPED)
    assert str(skipped).startswith("Info [MZ0002] Analyzer ")


def test_without_workloads_the_workload_analyzers_are_skipped_and_say_so() -> None:
    resources = _parse(GATEWAY)
    skipped = [m for m in analyze(resources) if m.type is ANALYZER_SKIPPED]
    needing = sorted(a.name for a in ANALYZERS if a.needs_workloads)
    assert needing, "some analyzer needs workloads"
    assert sorted(m.analyzer for m in skipped) == needing
    assert all(m.level is Level.INFO and m.resource is None for m in skipped)
    # An empty list is an answer ("no workloads"): the analyzers run and find the problem.
    found = analyze(resources, workloads=[])
    assert not any(m.type is ANALYZER_SKIPPED for m in found)
    assert _codes(found) == [("IST0101", "Gateway default/gw")]
    assert _codes(analyze(resources, workloads=[("ns", {"istio": "ingressgateway"}, [80])])) == []


@pytest.mark.parametrize(
    "workloads",
    [[("ns", {"a": "b"})], [("ns", {"a": 1}, [80])], [(1, {}, [])], [("ns", {}, "80")], [None]],
)
def test_malformed_workloads_are_input_errors(workloads: list[object]) -> None:
    with pytest.raises(InputError):
        analyze([], workloads=workloads)  # type: ignore[arg-type]  # deliberately wrong


def test_later_resources_replace_earlier_ones_with_the_same_key() -> None:
    stored = VS.format(namespace="", gateway="missing")
    local = VS.format(namespace=", namespace: default", gateway="mesh")
    assert _codes(analyze(_parse(stored, local))) == []
    assert _codes(analyze(_parse(local, stored))) == [("IST0101", "VirtualService default/web")]


def test_resources_without_namespace_go_to_the_default_namespace() -> None:
    resources = _parse(VS.format(namespace="", gateway="gw"), GATEWAY)
    assert _codes(analyze(resources)) == []
    pinned = GATEWAY.replace("{name: gw}", "{name: gw, namespace: default}")
    moved = analyze(_parse(VS.format(namespace="", gateway="gw"), pinned), default_namespace="shop")
    assert [str(m.resource) for m in moved if m.code == "IST0101"] == ["VirtualService shop/web"]
    other = _parse(VS.format(namespace=", namespace: shop", gateway="gw"), GATEWAY)
    assert _codes(analyze(other)) == [("IST0101", "VirtualService shop/web")]


def test_root_namespace_policies_apply_everywhere() -> None:
    pa = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mesh, namespace: mesh-root}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  trafficPolicy: {tls: {mode: DISABLE}}
"""
    resources = parse_documents(pa, "pa.yaml")
    assert _codes(analyze(resources)) == []
    assert _codes(analyze(resources, root_namespace="mesh-root")) == [
        ("IST0113", "DestinationRule shop/web")
    ]


def test_messages_are_sorted_by_level_then_code_and_deduplicated() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec:
  hosts: [a]
  gateways: [nope, nope]
  http:
  - route: [{destination: {host: a}}]
  - route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /x}}]
    route: [{destination: {host: a, subset: s}}]
"""
    messages = analyze(parse_documents(text, "a.yaml"))
    levels = [m.level.severity for m in messages]
    assert levels == sorted(levels)
    keys = [m.sort_key() for m in messages]
    assert keys == sorted(keys)
    assert len(set(messages)) == len(messages)
    assert [m.code for m in messages if m.level is Level.ERROR] == ["IST0101", "IST0101", "IST0101"]


def test_a_failing_analyzer_is_an_internal_error_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(ctx: Context) -> Iterator[Message]:
        ctx.of(Gateway)  # not among its declared inputs
        yield from ()

    bad = Analyzer("test.BrokenAnalyzer", "reads what it did not declare", ("IST0101",),
                   ("VirtualService",), needs_workloads=False, run=broken)  # fmt: skip
    monkeypatch.setattr(registry_module, "ANALYZERS", (bad, *ANALYZERS))
    messages = analyze(_parse(VS.format(namespace="", gateway="nope")))
    internal = [m for m in messages if m.code == "IST0001"]
    assert len(internal) == 1
    assert "test.BrokenAnalyzer" in internal[0].text
    assert "does not declare" in internal[0].text
    assert ("IST0101", "VirtualService default/web") in _codes(messages)


def test_context_refuses_undeclared_reads() -> None:
    snapshot = Snapshot([], None, "istio-system")
    analyzer = Analyzer("test.A", "", (), ("VirtualService",), needs_workloads=False,
                        run=lambda ctx: iter(()))  # fmt: skip
    ctx = Context(snapshot, analyzer)
    with pytest.raises(AnalysisError):
        ctx.of(Gateway)
    with pytest.raises(AnalysisError):
        ctx.gateway("default", "gw")
    with pytest.raises(AnalysisError):
        _ = ctx.workloads
    message = ctx.report(REFERENCED_RESOURCE_NOT_FOUND, _parse(GATEWAY)[0], "spec", "x", "y")
    assert message.analyzer == "test.A"


def test_registry_is_consistent() -> None:
    names = [a.name for a in ANALYZERS]
    assert len(names) == len(set(names))
    codes = {t.code for t in MESSAGE_TYPES}
    assert len(codes) == len(MESSAGE_TYPES)
    used: set[str] = set()
    for analyzer in ANALYZERS:
        assert analyzer.codes, analyzer.name
        assert set(analyzer.codes) <= codes, analyzer.name
        assert analyzer.inputs, analyzer.name
        for kind in analyzer.inputs:
            info = lookup_kind(kind)
            assert info is not None, (analyzer.name, kind)
            assert info.kind == kind, (analyzer.name, kind)
        assert analyzer.description, analyzer.name
        used.update(analyzer.codes)
    assert codes - used == {"IST0001", "MZ0002"}  # reported by analyze() itself
    for message_type in MESSAGE_TYPES:
        assert re.fullmatch(r"IST\d{4}|MZ\d{4}", message_type.code), message_type


def test_level_parse() -> None:
    assert Level.parse("warning") is Level.WARNING
    with pytest.raises(ValueError, match="unknown level"):
        Level.parse("fatal")
