"""Shared fixtures of mizzen.api's tests: the table of valid and invalid documents.

Each file in cases/valid/ and cases/invalid/ is one document. A leading comment block
declares what the tests expect:

    # path: spec.http[0].route[0].weight     (invalid cases: the field path reported)
    # oracle: webhook-only: <reason>         (Istio decides in its webhook, not its CRD)
    # oracle: apiserver: <reason>            (the API server, not the CRD, decides)

A test argument named `valid_case`, `invalid_case` or `oracle_case` runs the test once
per document (oracle cases: every valid case and every webhook-only or schema invalid
case); `valid_cases` and `invalid_cases` give the whole lists. Each is a `Case`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"
_HEADER = re.compile(r"^# (path|oracle): ?(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    """One table document and what is expected of it."""

    name: str
    text: str
    valid: bool
    path: str | None
    oracle: str  # "schema", "webhook-only" or "apiserver"
    reason: str

    def __str__(self) -> str:
        return self.name


def _load(kind: str) -> list[Case]:
    cases = []
    for file in sorted((CASES / kind).glob("*.yaml")):
        text = file.read_text()
        header = dict(_HEADER.findall(text.split("\napiVersion", 1)[0]))
        oracle, _, reason = header.get("oracle", "schema").partition(":")
        cases.append(
            Case(
                file.stem, text, kind == "valid", header.get("path"), oracle.strip(), reason.strip()
            )
        )
    return cases


VALID_CASES = _load("valid")
INVALID_CASES = _load("invalid")
ORACLE_CASES = [c for c in VALID_CASES + INVALID_CASES if c.oracle in ("schema", "webhook-only")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `valid_case`, `invalid_case` and `oracle_case` over the table."""
    for name, cases in (
        ("valid_case", VALID_CASES),
        ("invalid_case", INVALID_CASES),
        ("oracle_case", ORACLE_CASES),
    ):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, cases, ids=str)


@pytest.fixture(scope="session")
def valid_cases() -> list[Case]:
    """Every valid document of the table."""
    return VALID_CASES


@pytest.fixture(scope="session")
def invalid_cases() -> list[Case]:
    """Every invalid document of the table."""
    return INVALID_CASES
