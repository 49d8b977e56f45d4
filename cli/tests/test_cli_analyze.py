"""The real `mizzen analyze` command on files (--offline: no server needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MIZZEN = str(Path(sys.executable).parent / "mizzen")

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: bookinfo}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""
REVIEWS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: SUBSET}
"""
RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""
# kubectl get -o yaml output: a List, with the fields the API server fills in.
KUBECTL_LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata:
    name: ratings
    namespace: bookinfo
    generation: 2
    resourceVersion: "8812"
    uid: 0d9e8f7a-1111-2222-3333-444455556666
    creationTimestamp: "2025-03-04T11:33:02Z"
    managedFields:
    - manager: kubectl-client-side-apply
      operation: Update
      fieldsType: FieldsV1
      fieldsV1: {"f:spec": {".": {}, "f:hosts": {}}}
  spec:
    hosts: [ratings]
    gateways: [no-such-gateway]
    http:
    - route:
      - destination: {host: ratings}
"""
SKIP_NOTE = "Info [MZ0002] Analyzer gateway.WorkloadAnalyzer was skipped"
SUBSET_ERROR = (
    "Error [IST0101] (VirtualService bookinfo/reviews) Referenced host+subset in "
    'destinationrule not found: "reviews+v3"'
)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MIZZEN, "analyze", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


@pytest.fixture
def bookinfo(tmp_path: Path) -> Path:
    """A directory of valid, consistent bookinfo config."""
    config = tmp_path / "bookinfo"
    config.mkdir()
    (config / "gateway.yaml").write_text(GATEWAY)
    (config / "reviews.yaml").write_text(REVIEWS.replace("SUBSET", "v1") + "---\n" + RULE)
    return config


def test_help_explains_the_exit_codes_and_gives_examples() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "Examples:" in result.stdout
    assert "79" in result.stdout
    assert "--offline" in result.stdout


def test_clean_config_reports_no_issues(bookinfo: Path) -> None:
    result = run("--offline", "-f", str(bookinfo), "-n", "bookinfo")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == "\u2714 No validation issues found when analyzing namespace: bookinfo.\n"
    )
    assert SKIP_NOTE in result.stderr  # no workloads offline: said once, on stderr


def test_errors_are_printed_sorted_and_exit_79(bookinfo: Path, tmp_path: Path) -> None:
    change = tmp_path / "reviews-v3.yaml"
    change.write_text(REVIEWS.replace("SUBSET", "v3").replace("http:", "gateways: [nope]\n  http:"))
    result = run("--offline", "-f", str(bookinfo), "-f", str(change), "-n", "bookinfo")
    assert result.returncode == 79, result.stderr
    assert result.stdout.splitlines() == [
        'Error [IST0101] (VirtualService bookinfo/reviews) Referenced gateway not found: "nope"',
        SUBSET_ERROR,
    ]
    assert "Error: Analyzers found issues when analyzing namespace: bookinfo." in result.stderr


def test_later_files_override_earlier_ones(bookinfo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(REVIEWS.replace("SUBSET", "v3"))
    assert run("--offline", "-f", str(broken), "-f", str(bookinfo), "-A").returncode == 0
    result = run("--offline", "-f", str(bookinfo), "-f", str(broken), "-A")
    assert result.returncode == 79
    assert result.stdout.splitlines() == [SUBSET_ERROR]


def test_warnings_alone_pass_unless_the_threshold_is_lowered(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE + "---\n" + RULE.replace("name: reviews,", "name: reviews-2,"))
    result = run("--offline", "-f", str(rules), "-n", "bookinfo")
    assert result.returncode == 0, result.stderr
    assert [line.split(" ")[1] for line in result.stdout.splitlines()] == ["[MZ0001]"] * 2
    strict = run("--offline", "-f", str(rules), "-n", "bookinfo", "--failure-threshold", "Warning")
    assert strict.returncode == 79


def test_namespace_selects_what_is_reported(tmp_path: Path) -> None:
    unplaced = tmp_path / "unplaced.yaml"
    unplaced.write_text(REVIEWS.replace("SUBSET", "v3").replace(", namespace: bookinfo", ""))
    # A document without a namespace is placed in -n's namespace.
    shop = run("--offline", "-f", str(unplaced), "-n", "shop")
    assert shop.returncode == 79
    assert "(VirtualService shop/reviews)" in shop.stdout
    # Problems elsewhere are not reported for -n, and are for -A.
    placed = tmp_path / "placed.yaml"
    placed.write_text(REVIEWS.replace("SUBSET", "v3"))
    default = run("--offline", "-f", str(placed))
    assert default.returncode == 0, default.stderr
    assert "No validation issues found when analyzing namespace: default." in default.stdout
    everywhere = run("--offline", "-f", str(placed), "-A")
    assert everywhere.returncode == 79
    assert everywhere.stdout.splitlines() == [SUBSET_ERROR]
    assert "when analyzing all namespaces." in everywhere.stderr


def test_kubectl_output_on_stdin_with_json_output() -> None:
    result = run("--offline", "-f", "-", "-A", "-o", "json", stdin=KUBECTL_LIST)
    assert result.returncode == 79, result.stderr
    messages = json.loads(result.stdout)
    issues = [m for m in messages if m["code"] != "MZ0002"]
    assert issues == [
        {
            "code": "IST0101",
            "level": "Error",
            "name": "ReferencedResourceNotFound",
            "message": 'Referenced gateway not found: "no-such-gateway"',
            "path": "spec.gateways[0]",
            "analyzer": "virtualservice.GatewayAnalyzer",
            "resource": {"kind": "VirtualService", "namespace": "bookinfo", "name": "ratings"},
        }
    ]
    assert {m["analyzer"] for m in messages if m["code"] == "MZ0002"} == {
        "gateway.WorkloadAnalyzer",
        "selector.WorkloadSelectorAnalyzer",
    }


def test_invalid_files_fail_with_their_field_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(REVIEWS.replace("hosts: [reviews]", "hosts: [reviews]\n  hostz: [x]"))
    result = run("--offline", "-f", str(bad))
    assert result.returncode == 1
    assert "spec.hostz" in result.stderr
    assert "nothing was analyzed" in result.stderr


def test_offline_needs_files_and_lists_analyzers() -> None:
    usage = run("--offline")
    assert usage.returncode == 2
    assert "-f FILE" in usage.stderr
    listing = run("-L")
    assert listing.returncode == 0
    assert "virtualservice.DestinationRuleAnalyzer [IST0101]" in listing.stdout
    assert "destinationrule.MultipleRulesForHostAnalyzer [MZ0001]" in listing.stdout


def test_unreachable_server_suggests_offline(bookinfo: Path) -> None:
    result = subprocess.run([MIZZEN, "--server", "127.0.0.1:1", "analyze", "-f", str(bookinfo)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach the config API" in result.stderr
    assert "--offline" in result.stderr
