"""Property tests: whatever text or data the parser is fed, only ValidationError comes out."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mizzen.api import KINDS, FieldError, Resource, ValidationError, parse_documents

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_FIELD_NAMES = [
    "apiVersion", "kind", "metadata", "name", "namespace", "spec", "hosts", "http", "route",
    "destination", "host", "weight", "match", "uri", "exact", "regex", "timeout", "subsets",
    "labels", "servers", "port", "number", "protocol", "tls", "mode", "selector",
    "matchLabels", "rules", "from", "source", "when", "key", "values", "jwtRules", "issuer",
    "portLevelMtls", "endpoints", "address", "resolution", "tracing", "metrics", "items",
    "8080", "", "*",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["*", "1ms", "0.5ms", "reviews", "*.a.com", "a.*.b", "(?=x)", "unix://"]),
)
_VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(_FIELD_NAMES) | st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=40,
)
_API_VERSIONS = [v for k in KINDS for v in k.api_versions] + ["v1", "x/y", ""]
_KIND_NAMES = [k.kind for k in KINDS] + ["List", "Pod", ""]


@st.composite
def _istio_shaped(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": draw(st.sampled_from(_API_VERSIONS)),
        "kind": draw(st.sampled_from(_KIND_NAMES)),
    }
    if draw(st.booleans()):
        doc["metadata"] = draw(
            st.fixed_dictionaries(
                {}, optional={"name": _VALUES, "namespace": _VALUES, "labels": _VALUES}
            )
        )
    doc["spec"] = draw(_VALUES)
    if doc["kind"] == "List":
        doc["items"] = draw(st.lists(_VALUES, max_size=3))
    return doc


def _only_validation_error(text: str) -> None:
    errors: tuple[FieldError, ...] = ()
    try:
        resources = parse_documents(text, "fuzz.yaml")
    except ValidationError as exc:
        errors = exc.errors
        resources = []
        assert errors
    for error in errors:
        assert error.source == "fuzz.yaml"
        assert "internal error" not in error.message, error.message
    assert all(isinstance(r, Resource) for r in resources)


@_SETTINGS
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    """Arbitrary text: resources or ValidationError, nothing else, no internal errors."""
    _only_validation_error(text)


@_SETTINGS
@given(st.lists(_istio_shaped(), min_size=1, max_size=3))
def test_random_istio_shaped_yaml(docs: list[dict[str, Any]]) -> None:
    """Random nested documents shaped like Istio resources, as multi-document YAML."""
    _only_validation_error(yaml.safe_dump_all(docs))


@_SETTINGS
@given(_istio_shaped())
def test_random_istio_shaped_json(doc: dict[str, Any]) -> None:
    """The same shapes as JSON (NaN and Infinity included, which JSON forbids)."""
    _only_validation_error(json.dumps(doc))


@_SETTINGS
@given(_VALUES)
def test_random_values_as_documents(value: Any) -> None:
    """Any JSON value as a whole document (scalars, lists, nested maps)."""
    _only_validation_error(json.dumps(value))
    _only_validation_error(yaml.safe_dump(value))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_paths(item, (*prefix, i)))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(value)]


_SAME_TYPE = {
    str: st.sampled_from(
        [
            "",
            "*",
            "a",
            "0",
            "-1",
            "70000",
            "1.0005s",
            "unix://",
            "a..b",
            "request.headers[]",
            "(",
            "[::1]:0",
            "ns/",
            "/x",
            "~",
            ".",
        ]
    ),
    int: st.integers(min_value=-(2**40), max_value=2**40),
    float: st.floats(allow_nan=False, allow_infinity=False, width=32),
    bool: st.booleans(),
}


@_SETTINGS
@given(data=st.data())
def test_mutated_valid_documents(valid_cases: list[Any], data: st.DataObject) -> None:
    """Valid documents with values swapped for same-typed odd ones, or for anything."""
    case = data.draw(st.sampled_from(valid_cases))
    doc = yaml.safe_load(case.text)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        path = data.draw(st.sampled_from(_paths(doc)))
        current: Any = doc
        for part in path:
            current = current[part]
        strategy = _SAME_TYPE.get(type(current), _VALUES)
        doc = _replace(
            doc, path, data.draw(strategy | _VALUES if data.draw(st.booleans()) else strategy)
        )
    _only_validation_error(yaml.safe_dump(doc))
