"""Istio's own CRD schemas as an oracle: for every table document, the schema's verdict
(OpenAPI v3 via jsonschema, plus the CEL x-kubernetes-validations rules via cel-python)
must agree with Mizzen's.

How the oracle emulates the API server:
- unknown fields are errors (kubectl's strict field validation): every object schema
  with `properties` gets `additionalProperties: false`, except where Istio preserves
  unknown fields (`status`);
- `nullable` becomes a JSON-schema type union;
- `x-kubernetes-list-type: map/set` lists must have unique keys/items;
- CEL rules run with cel-python, with the Kubernetes library functions Istio's rules
  use and cel-python lacks (`url().getScheme()`, `substring`) supplied here. A rule whose
  evaluation fails at run time (e.g. a missing field) rejects, as in Kubernetes.

Cases marked `webhook-only` are excluded from the comparison because Istio decides them
in its validating webhook, which the CRD cannot express; for them the test checks that
the schema indeed accepts (so the mark is honest). Cases marked `apiserver` (object
names, unknown kinds and versions) are outside any CRD schema and are not run here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import celpy
import jsonschema
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from mizzen.api import KINDS

CRDS = Path(__file__).resolve().parents[3].parent / "shared" / "istio" / "crds.gen.yaml"

# Rules cel-python cannot evaluate even with the functions below. Kept explicit so a new
# Istio rule that cannot be checked shows up as a test failure, not as silent agreement.
UNEVALUABLE_RULES: frozenset[str] = frozenset()

_UNEVALUABLE_MARKERS = ("undeclared reference", "no matching overload", "unknown function")


def _get_scheme(value: Any) -> celtypes.StringType:
    return celtypes.StringType(urlsplit(str(value)).scheme)


def _url(value: Any) -> celtypes.StringType:
    parts = urlsplit(str(value))
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {value}")
    return celtypes.StringType(str(value))


def _substring(value: Any, start: Any, end: Any) -> celtypes.StringType:
    text = str(value)
    if not 0 <= int(start) <= int(end) <= len(text):
        raise ValueError("substring index out of range")
    return celtypes.StringType(text[int(start) : int(end)])


_FUNCTIONS: dict[str, Any] = {"url": _url, "getScheme": _get_scheme, "substring": _substring}


@cache
def _crds() -> dict[tuple[str, str], dict[str, Any]]:
    assert CRDS.exists(), f"Istio's CRDs are missing: expected {CRDS}"
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in yaml.safe_load_all(CRDS.read_text()):
        if not doc:
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            found[(spec["group"] + "/" + version["name"], spec["names"]["kind"])] = schema
    return found


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The API server's view of a CRD schema, as plain JSON schema."""
    result = {k: v for k, v in schema.items() if k not in ("properties", "items", "nullable")}
    if schema.get("nullable") and "type" in schema:
        result["type"] = [schema["type"], "null"]
    if "properties" in schema:
        result["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            result.setdefault("additionalProperties", False)
    if isinstance(schema.get("additionalProperties"), dict):
        result["additionalProperties"] = _strict(schema["additionalProperties"])
    if "items" in schema:
        result["items"] = _strict(schema["items"])
    return result


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = copy.deepcopy(_crds()[(api_version, kind)])
    schema["properties"].update(
        {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
        }
    )
    return jsonschema.Draft7Validator(_strict(schema))


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=_FUNCTIONS)


def _cel(schema: dict[str, Any], value: Any, path: str) -> Iterator[str]:
    """Messages of the CEL rules `value` breaks, walking the schema along with it."""
    for rule in schema.get("x-kubernetes-validations", ()):
        text = rule["rule"]
        if text in UNEVALUABLE_RULES:
            continue
        try:
            result = _program(text).evaluate({"self": json_to_cel(value)})
        except CELEvalError as exc:
            result = exc
        if isinstance(result, CELEvalError):
            assert not any(m in str(result.args) for m in _UNEVALUABLE_MARKERS), (
                f"cel-python cannot evaluate {text!r}: {result.args[0]}"
            )
            yield f"{path}: {rule['message']} (evaluation failed)"
        elif not result:
            yield f"{path}: {rule['message']}"
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key) if props else extra if isinstance(extra, dict) else None
            if sub is not None:
                yield from _cel(sub, item, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        yield from _list_keys(schema, value, path)
        for i, item in enumerate(value):
            yield from _cel(schema["items"], item, f"{path}[{i}]")


def _list_keys(schema: dict[str, Any], value: list[Any], path: str) -> Iterator[str]:
    kind = schema.get("x-kubernetes-list-type")
    keys: list[object]
    if kind == "map":
        keys = [
            tuple(repr(i.get(k)) for k in schema["x-kubernetes-list-map-keys"])
            for i in value
            if isinstance(i, dict)
        ]
    elif kind == "set":
        keys = [repr(i) for i in value]
    else:
        return
    if len(keys) != len(set(keys)):
        yield f"{path}: duplicate entries in a list of type {kind}"


def istio_schema_errors(document: dict[str, Any]) -> list[str]:
    """Everything Istio's CRD schema (with its CEL rules) has against `document`."""
    key = (document["apiVersion"], document["kind"])
    assert key in _crds(), f"no CRD serves {key}"
    errors = [
        "/".join(map(str, e.absolute_path)) + ": " + e.message
        for e in _validator(*key).iter_errors(document)
    ]
    errors.extend(_cel(_crds()[key], document, ""))
    return errors


def _mizzen_accepts(case: Any) -> bool:
    from mizzen.api import ValidationError, parse_documents

    try:
        parse_documents(case.text, case.name)
    except ValidationError:
        return False
    return True


def test_istio_schema_agrees_with_mizzen(oracle_case: Any) -> None:
    """Schema cases: same verdict. Webhook-only cases: the schema accepts, Mizzen rejects."""
    case = oracle_case
    errors = istio_schema_errors(yaml.safe_load(case.text))
    mizzen = _mizzen_accepts(case)
    if case.oracle == "webhook-only":
        assert case.reason, "a webhook-only case states why"
        assert not errors, f"marked webhook-only, but the CRD schema rejects it: {errors}"
        assert not mizzen
        return
    assert mizzen == case.valid
    assert (not errors) == case.valid, errors


def test_excluded_cases_say_why(invalid_cases: list[Any]) -> None:
    """Cases outside any CRD schema are listed with a reason, and are few."""
    excluded = [c for c in invalid_cases if c.oracle not in ("schema", "webhook-only")]
    assert excluded, "the table has API-server cases"
    for case in excluded:
        assert case.oracle == "apiserver", case.name
        assert case.reason, case.name
    assert len(excluded) <= 10


def test_oracle_covers_every_kind_and_version_in_the_crds() -> None:
    """Every served (kind, version) of Mizzen's registry has a CRD schema, and vice versa."""
    mizzen = {(api_version, k.kind) for k in KINDS for api_version in k.api_versions}
    istio = {key for key in _crds() if key[1] in {k.kind for k in KINDS}}
    assert mizzen == istio


def test_every_cel_rule_of_these_kinds_compiles() -> None:
    """cel-python parses every CEL rule of the eleven kinds (none silently skipped)."""
    kinds = {k.kind for k in KINDS}
    rules: set[str] = set()

    def collect(schema: Any) -> None:
        if isinstance(schema, dict):
            rules.update(r["rule"] for r in schema.get("x-kubernetes-validations", ()))
            for value in schema.values():
                collect(value)
        elif isinstance(schema, list):
            for value in schema:
                collect(value)

    for (_, kind), schema in _crds().items():
        if kind in kinds:
            collect(schema)
    assert len(rules) > 20
    for rule in sorted(rules - UNEVALUABLE_RULES):
        assert _program(rule) is not None


def _schema_fields(schema: dict[str, Any], model: Any, path: str) -> Iterator[str]:
    """Differences between a CRD object schema and a model, recursively."""
    import types
    import typing

    from pydantic import BaseModel

    def unwrap(annotation: Any) -> Any:
        while True:
            origin = typing.get_origin(annotation)
            if origin is typing.Annotated:
                annotation = typing.get_args(annotation)[0]
            elif origin in (typing.Union, types.UnionType):
                annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
            else:
                return annotation

    model = unwrap(model)
    origin = typing.get_origin(model)
    if "properties" in schema:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            yield f"{path}: schema has an object, model has {model}"
            return
        fields = {(f.alias or n): f.annotation for n, f in model.model_fields.items()}
        props = schema["properties"]
        for missing in sorted(set(props) - set(fields)):
            yield f"{path}.{missing}: in Istio's schema, not in the model"
        for extra in sorted(set(fields) - set(props)):
            yield f"{path}.{extra}: in the model, not in Istio's schema"
        for key in sorted(set(props) & set(fields)):
            yield from _schema_fields(props[key], fields[key], f"{path}.{key}")
    elif "items" in schema:
        if origin is not list:
            yield f"{path}: schema has a list, model has {model}"
        else:
            yield from _schema_fields(schema["items"], typing.get_args(model)[0], f"{path}[]")
    elif isinstance(schema.get("additionalProperties"), dict):
        if origin is not dict:
            yield f"{path}: schema has a map, model has {model}"
        else:
            yield from _schema_fields(
                schema["additionalProperties"], typing.get_args(model)[1], f"{path}{{}}"
            )


def test_models_have_exactly_the_fields_of_istios_schema() -> None:
    """Every field of every kind's spec in Istio's CRD is in the model, and nothing else."""
    problems: list[str] = []
    for info in KINDS:
        schema = _crds()[(info.preferred_api_version, info.kind)]["properties"]["spec"]
        problems.extend(
            _schema_fields(schema, info.model.model_fields["spec"].annotation, f"{info.kind}.spec")
        )
    assert problems == []
