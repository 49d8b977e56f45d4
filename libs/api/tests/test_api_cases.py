"""The table of documents: valid ones parse and round-trip, invalid ones name their path.

Each `*_case` argument is a conftest `Case` (name, text, valid, path, oracle, reason).
"""

from __future__ import annotations

from typing import Any

import yaml

from mizzen.api import KINDS, ValidationError, parse_documents, to_yaml


def _kind(case: Any) -> Any:
    return (yaml.safe_load(case.text) or {}).get("kind")


def test_table_is_big_enough_and_covers_every_kind(
    valid_cases: list[Any], invalid_cases: list[Any]
) -> None:
    """At least 30 valid and 60 invalid documents, with every kind in both halves."""
    assert len(valid_cases) >= 30
    assert len(invalid_cases) >= 60
    every_kind = {k.kind for k in KINDS}
    assert every_kind <= {_kind(c) for c in valid_cases}
    assert every_kind <= {_kind(c) for c in invalid_cases}


def test_valid_document_parses(valid_case: Any) -> None:
    """A valid document gives one resource of its kind, named as in its metadata."""
    (resource,) = parse_documents(valid_case.text, f"{valid_case.name}.yaml")
    data = yaml.safe_load(valid_case.text)
    assert resource.kind == data["kind"]
    assert resource.name == data["metadata"]["name"]


def test_invalid_document_names_its_field_path(invalid_case: Any) -> None:
    """An invalid document is rejected with an error at the declared path, fully located."""
    source = f"{invalid_case.name}.yaml"
    try:
        parse_documents(invalid_case.text, source)
    except ValidationError as exc:
        errors = exc.errors
    else:
        raise AssertionError(f"{invalid_case.name} was accepted")
    assert invalid_case.path is not None, "every invalid case declares its path"
    paths = [e.path for e in errors]
    assert invalid_case.path in paths, f"expected {invalid_case.path!r}, got {paths}"
    for error in errors:
        assert error.source == source
        assert error.document_index == 0
        assert error.message
        assert error.path in str(error)


def test_valid_document_round_trips(valid_case: Any) -> None:
    """to_dict() gives back exactly the input; to_yaml() parses to an equal resource."""
    (resource,) = parse_documents(valid_case.text, valid_case.name)
    assert resource.to_dict() == yaml.safe_load(valid_case.text)
    (again,) = parse_documents(resource.to_yaml(), "round-trip")
    assert again == resource
    assert parse_documents(to_yaml([resource, again]), "stream") == [resource, resource]
