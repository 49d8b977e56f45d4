"""parse_documents: streams, formats, and how problems are reported."""

from __future__ import annotations

import json

import pydantic
import pytest

from mizzen.api import (
    AuthorizationPolicy,
    FieldError,
    PeerAuthentication,
    RequestAuthentication,
    ValidationError,
    VirtualService,
    parse_document,
    parse_documents,
)

VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: shop
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {{host: reviews}}
"""
PA = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
"""


def _errors(text: str, source: str = "in.yaml") -> tuple[FieldError, ...]:
    with pytest.raises(ValidationError) as info:
        parse_documents(text, source)
    return info.value.errors


def test_multi_document_yaml_keeps_order_and_skips_empty_documents() -> None:
    """Documents come back in order; empty documents (`---` alone) are skipped."""
    text = VS.format(name="a") + "---\n---\n" + PA + "---\n" + VS.format(name="b")
    resources = parse_documents(text, "in.yaml")
    assert [type(r) for r in resources] == [VirtualService, PeerAuthentication, VirtualService]
    assert [r.name for r in resources] == ["a", "default", "b"]


def test_error_names_source_index_kind_namespace_name_and_path() -> None:
    """An error in the third document (index 3: an empty one precedes it) is located fully."""
    bad = VS.format(name="bad").replace("host: reviews}", "host: reviews}\n      weight: -1")
    text = VS.format(name="a") + "---\n---\n" + PA + "---\n" + bad
    (error,) = _errors(text, "routes.yaml")
    assert error == FieldError(
        "routes.yaml",
        3,
        "VirtualService",
        "shop",
        "bad",
        "spec.http[0].route[0].weight",
        error.message,
    )
    assert "negative" in error.message
    assert str(error).startswith("routes.yaml: document 3 (VirtualService shop/bad): spec.http")


def test_every_problem_of_every_document_is_reported() -> None:
    """Problems are collected across documents, not only the first one."""
    text = (
        VS.format(name="x").replace("reviews]", "'a.*.b']") + "---\n" + PA.replace("STRICT", "ON")
    )
    errors = _errors(text)
    assert [(e.document_index, e.path) for e in errors] == [
        (0, "spec.hosts[0]"),
        (1, "spec.mtls.mode"),
    ]
    assert "'UNSET', 'DISABLE', 'PERMISSIVE' or 'STRICT'" in errors[1].message


def test_unknown_field_hint_names_the_nearest_field() -> None:
    """A misspelled field is rejected with the nearest known field as a hint."""
    (error,) = _errors(VS.format(name="a").replace("- route:", "- rout:"))
    assert error.path == "spec.http[0].rout"
    assert error.message == "unknown field spec.http[0].rout; did you mean route?"


def test_snake_case_field_hints_its_camel_case_spelling() -> None:
    """`export_to` is not the YAML spelling; the hint says `exportTo`."""
    (error,) = _errors(VS.format(name="a").replace("  hosts:", "  export_to: ['.']\n  hosts:"))
    assert error.message.endswith("did you mean exportTo?")


def test_unknown_kind_and_version_are_rejected_with_what_is_valid() -> None:
    """Unknown kinds get a hint; unserved versions list the served ones."""
    (kind,) = _errors(VS.format(name="a").replace("kind: VirtualService", "kind: VirtualServce"))
    assert kind.path == "kind"
    assert "did you mean VirtualService?" in kind.message
    (version,) = _errors(VS.format(name="a").replace("/v1", "/v2"))
    assert version.path == "apiVersion"
    assert "networking.istio.io/v1, networking.istio.io/v1beta1" in version.message
    missing = _errors("metadata: {name: a}\n")
    assert {e.path for e in missing} == {"apiVersion", "kind"}


def test_json_single_concatenated_and_list() -> None:
    """JSON: one object, several objects in a row, and a `kind: List`."""
    vs = parse_documents(VS.format(name="a"), "a.yaml")[0].to_dict()
    pa = parse_documents(PA, "p.yaml")[0].to_dict()
    assert len(parse_documents(json.dumps(vs), "a.json")) == 1
    assert len(parse_documents(json.dumps(vs) + "\n" + json.dumps(pa), "b.json")) == 2
    listed = {"apiVersion": "v1", "kind": "List", "items": [vs, pa]}
    assert [r.kind for r in parse_documents(json.dumps(listed), "c.json")] == [
        "VirtualService",
        "PeerAuthentication",
    ]


def test_list_item_errors_carry_the_item_prefix() -> None:
    """An error inside `kind: List` names the list's document and `items[i].` in the path."""
    text = (
        "kind: List\napiVersion: v1\nitems:\n"
        "- {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: a}}\n"
        "- {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: b},"
        " spec: {mtls: {mode: ON}}}\n"
    )
    (error,) = _errors("---\n" + PA + "---\n" + text)
    assert (error.document_index, error.name, error.path) == (1, "b", "items[1].spec.mtls.mode")


def test_yaml_syntax_error_names_the_document_and_line() -> None:
    """A syntax error in the second document stops reading and says where."""
    errors = _errors(PA + "---\nkind: [unclosed\n")
    assert errors[-1].document_index == 1
    assert "invalid YAML: line" in errors[-1].message


def test_duplicate_keys_are_errors_in_yaml_and_json() -> None:
    """Like the API server, a key given twice is refused rather than silently overwritten."""
    (yaml_error,) = _errors(PA.replace("metadata: {name: default}", "metadata: {name: a, name: b}"))
    assert "duplicate key 'name'" in yaml_error.message
    errors = _errors('{"kind": "PeerAuthentication", "kind": "Sidecar"}')
    assert any("duplicate key" in e.message for e in errors)


def test_non_mapping_documents_are_rejected() -> None:
    """A scalar or a list at the top of a document is not a resource."""
    assert "must be an object" in _errors("just text\n")[0].message
    assert "must be an object" in _errors("[1, 2]")[0].message


def test_alias_bombs_and_deep_nesting_are_refused() -> None:
    """YAML alias fan-out and deep nesting end in a ValidationError, quickly."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    assert "too large" in _errors(bomb)[0].message
    assert "nested too deeply" in _errors("[" * 5000 + "]" * 5000)[0].message


def test_timestamps_and_numeric_keys_stay_strings() -> None:
    """creationTimestamp stays the string it was; numeric map keys become strings."""
    text = PA.replace(
        "metadata: {name: default}",
        "metadata: {name: default, creationTimestamp: 2025-03-04T11:33:02Z, generation: 4}",
    ).replace(
        "spec: {mtls: {mode: STRICT}}",
        "spec: {selector: {matchLabels: {app: a}}, portLevelMtls: {8080: {mode: DISABLE}}}",
    )
    (pa,) = parse_documents(text, "in.yaml")
    assert isinstance(pa, PeerAuthentication)
    assert pa.metadata.creation_timestamp == "2025-03-04T11:33:02Z"
    assert pa.metadata.generation == 4
    assert pa.spec.port_level_mtls is not None
    assert list(pa.spec.port_level_mtls) == ["8080"]


def test_legacy_snake_case_fields_are_kept_apart() -> None:
    """`jwks_uri` and `mirror_percent` exist in Istio's schema beside their camelCase forms."""
    text = """apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: a}
spec:
  jwtRules:
  - issuer: x
    jwks_uri: https://example.com/keys
"""
    (ra,) = parse_documents(text, "ra.yaml")
    assert isinstance(ra, RequestAuthentication)
    assert ra.spec.jwt_rules is not None
    assert ra.spec.jwt_rules[0].jwks_uri is None
    assert ra.spec.jwt_rules[0].jwks_uri_legacy == "https://example.com/keys"
    assert ra.to_dict()["spec"]["jwtRules"][0] == {
        "issuer": "x",
        "jwks_uri": "https://example.com/keys",
    }


def test_models_are_frozen() -> None:
    """Parsed resources cannot be changed in place."""
    (ap,) = parse_documents(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\n",
        "ap.yaml",
    )
    assert isinstance(ap, AuthorizationPolicy)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(ap, "kind", "Sidecar")  # noqa: B010 -- plain assignment is a mypy error (plugin)


def test_parse_document_takes_decoded_data() -> None:
    """parse_document reads one stored document; errors are ValidationError too."""
    data = parse_documents(PA, "p.yaml")[0].to_dict()
    assert parse_document(data, "etcd").to_dict() == data
    with pytest.raises(ValidationError):
        parse_document({**data, "spec": {"mtls": {"mode": "ON"}}}, "etcd")
    with pytest.raises(ValidationError):
        parse_document(["not", "a", "mapping"], "etcd")
