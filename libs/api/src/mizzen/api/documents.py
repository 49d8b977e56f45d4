"""Reading text into plain documents: multi-document YAML, or JSON values one after another.

The result is JSON-shaped data only (dict with str keys, list, str, int, float, bool,
None), as the Kubernetes API server sees it: YAML timestamps stay strings, scalar map
keys become strings, duplicate keys are errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

__all__ = ["LoadProblem", "RawDocument", "load_documents"]

MAX_DEPTH = 100
MAX_NODES = 1_000_000
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One document as plain data, with its 0-based position in the stream."""

    index: int
    data: Any


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """The text could not be read from document `index` on."""

    index: int
    message: str


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings and refuses duplicate keys."""

    yaml_implicit_resolvers = {  # noqa: RUF012 -- PyYAML's class-level resolver table
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE:
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _TooBig(Exception):
    pass


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return json.dumps(key)
    raise _TooBig(f"unsupported map key of type {type(key).__name__}: keys must be strings")


def _plain(value: Any, depth: int, budget: list[int]) -> Any:
    """Copy `value` into JSON-shaped data, bounding depth and size (aliases may fan out)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(f"document too large (more than {MAX_NODES} values, YAML aliases included)")
    if depth > MAX_DEPTH:
        raise _TooBig(f"document nested too deeply (more than {MAX_DEPTH} levels)")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1, budget) for v in value]
    raise _TooBig(f"unsupported value of type {type(value).__name__} (use JSON types only)")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _load_json(text: str) -> list[Any] | None:
    """Concatenated JSON values, or None when the text is not JSON (then try YAML)."""
    decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)
    values: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos == len(text):
            return values
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return None
        values.append(value)


def _yaml_problem(index: int, exc: yaml.YAMLError) -> LoadProblem:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    if mark is not None:
        text = f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    return LoadProblem(index, f"invalid YAML: {text}")


def load_documents(text: str) -> tuple[list[RawDocument], LoadProblem | None]:
    """Read every document of `text`.

    Returns the documents read (empty YAML documents skipped, indices kept) and the
    problem that stopped reading, if any. Never raises.
    """
    docs: list[RawDocument] = []
    stripped = text.lstrip(" \t\r\n")
    values = _load_json(text) if stripped[:1] in ("{", "[") else None
    count = 0  # index of the document being read; errors name it
    try:
        stream = values if values is not None else yaml.load_all(text, Loader=_Loader)
        for value in stream:
            if value is not None:
                docs.append(RawDocument(count, _plain(value, 0, [MAX_NODES])))
            count += 1
    except yaml.YAMLError as exc:
        return docs, _yaml_problem(count, exc)
    except _TooBig as exc:
        return docs, LoadProblem(count, str(exc))
    except RecursionError:
        return docs, LoadProblem(
            count, f"document nested too deeply (more than {MAX_DEPTH} levels)"
        )
    except (ValueError, TypeError, OverflowError) as exc:
        return docs, LoadProblem(count, f"invalid document: {exc}")
    return docs, None
