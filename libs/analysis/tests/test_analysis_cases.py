"""Golden cases: `cases/NAME.yaml` (a header, then resources) -> `cases/NAME.golden`.

The header (the first YAML document) names the analyzer the case is about and, optionally,
the known workloads. Every analyzer runs on every case; the golden file holds everything
they report (bar the MZ0002 notes about skipped analyzers), one message per entry with its
field path and analyzer. Regenerate with `MIZZEN_UPDATE_GOLDEN=1 pytest libs/analysis` and
review the diff like code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mizzen.analysis import ANALYZER_SKIPPED, ANALYZERS, Message, Workload, analyze
from mizzen.api import parse_documents

CASES = Path(__file__).parent / "cases"
UPDATE = os.environ.get("MIZZEN_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Case:
    """One input file: its header and the messages analysis gives for it."""

    name: str
    analyzer: str | None
    messages: list[Message]

    @property
    def golden_path(self) -> Path:
        return CASES / f"{self.name}.golden"


def _workloads(header: dict[str, Any]) -> list[Workload] | None:
    if "workloads" not in header:
        return None
    return [Workload(w["namespace"], w["labels"], w["ports"]) for w in header["workloads"]]


def load_case(path: Path) -> Case:
    header_text, _, resources_text = path.read_text(encoding="utf-8").partition("\n---\n")
    header: dict[str, Any] = yaml.safe_load(header_text) or {}
    resources = parse_documents(resources_text, str(path))
    messages = [
        m
        for m in analyze(resources, workloads=_workloads(header))
        if m.type is not ANALYZER_SKIPPED
    ]
    return Case(path.stem, header.get("analyzer"), messages)


def render(messages: list[Message]) -> str:
    return "".join(f"{m}\n    at {m.path} ({m.analyzer})\n" for m in messages) or "(no messages)\n"


ALL_CASES = sorted(CASES.glob("*.yaml"))


@pytest.mark.parametrize("path", ALL_CASES, ids=[p.stem for p in ALL_CASES])
def test_case_matches_its_golden_file(path: Path) -> None:
    case = load_case(path)
    got = render(case.messages)
    if UPDATE:
        case.golden_path.write_text(got, encoding="utf-8")
    assert case.golden_path.exists(), f"no golden file; run with MIZZEN_UPDATE_GOLDEN=1: {path}"
    assert got == case.golden_path.read_text(encoding="utf-8")


def test_every_analyzer_has_a_positive_and_a_negative_case() -> None:
    """Each analyzer is shown reporting every one of its codes, and staying silent."""
    cases = [load_case(p) for p in ALL_CASES]
    for analyzer in ANALYZERS:
        mine = [c for c in cases if c.analyzer == analyzer.name]
        reported = [{m.code for m in c.messages if m.analyzer == analyzer.name} for c in mine]
        assert any(reported), f"{analyzer.name}: no case where it reports something"
        assert not all(reported), f"{analyzer.name}: no case where it reports nothing"
        assert set().union(*reported) == set(analyzer.codes), analyzer.name


def test_negative_cases_are_clean_for_every_analyzer() -> None:
    """A case about one analyzer's silence is not noisy for the others either."""
    for path in ALL_CASES:
        case = load_case(path)
        if case.analyzer is None or not any(m.analyzer == case.analyzer for m in case.messages):
            assert case.messages == [], f"{path.name}: {render(case.messages)}"


def test_case_headers_name_registered_analyzers() -> None:
    names = {a.name for a in ANALYZERS}
    for path in ALL_CASES:
        analyzer = load_case(path).analyzer
        assert analyzer is None or analyzer in names, f"{path.name}: {analyzer}"
