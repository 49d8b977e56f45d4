"""Field paths and messages for pydantic's errors, in Istio's style.

`('spec', 'http', 0, 'route', 1, 'weight')` becomes `spec.http[0].route[1].weight`; a
map key becomes `[key]`. Unknown fields get the nearest known field as a hint.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeGuard

from pydantic import BaseModel
from pydantic_core import ErrorDetails

__all__ = ["error_message", "render_path"]


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def _walk(root: type[BaseModel], loc: Sequence[int | str]) -> tuple[str, Any]:
    """Render `loc` and return the type found at its end (None when unknown)."""
    path = ""
    current: Any = root
    for part in loc:
        current = _unwrap(current) if current is not None else None
        origin = typing.get_origin(current)
        if _is_model(current) and isinstance(part, str):
            path += f".{part}" if path else part
            current = _aliases(current).get(part)
        elif origin is list and isinstance(part, int):
            path += f"[{part}]"
            current = typing.get_args(current)[0]
        elif origin is dict and isinstance(part, str):
            path += f"[{part}]"
            current = typing.get_args(current)[1]
        elif isinstance(part, int):
            path += f"[{part}]"
            current = None
        elif current is None and isinstance(part, str) and not path.endswith(f"[{part}]"):
            path += f"[{part}]" if path else part
        else:
            current = None
    return path, current


def render_path(root: type[BaseModel], loc: Sequence[int | str]) -> str:
    """The Istio-style path of a pydantic error location under model `root`."""
    return _walk(root, loc)[0]


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value}"
    names = {type(None): "null", bool: "a boolean", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


_EXPECTED = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "an object (a map)",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "int_parsing": "an integer",
    "float_parsing": "a number",
}


def _unknown_field(root: type[BaseModel], loc: Sequence[int | str], path: str) -> str:
    _, parent = _walk(root, loc[:-1])
    parent = _unwrap(parent) if parent is not None else None
    name = str(loc[-1])
    if not _is_model(parent):
        return f"unknown field {path}"
    known = sorted(_aliases(parent))
    lowered = {k.lower().replace("_", ""): k for k in known}
    hint = lowered.get(name.lower().replace("_", "").replace("-", ""))
    if hint is None:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = close[0] if close else None
    if hint is not None:
        return f"unknown field {path}; did you mean {hint}?"
    return f"unknown field {path}; valid fields here: {', '.join(known)}"


_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def _constraint_message(kind: str, ctx: dict[str, Any], value: Any) -> str | None:
    if kind == "literal_error":
        return f"invalid value {_describe(value)}: use one of {ctx.get('expected')}"
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()), "?")
        return f"{_describe(value)} is out of range: must be {_BOUNDS[kind]} {limit}"
    if kind in ("string_too_short", "too_short"):
        return f"must have at least {ctx.get('min_length')} item(s)/character(s)"
    if kind in ("string_too_long", "too_long"):
        return f"must have at most {ctx.get('max_length')} item(s)/character(s)"
    if kind == "string_pattern_mismatch":
        return f"{_describe(value)} does not match the pattern {ctx.get('pattern')}"
    return "must be a finite number" if kind == "finite_number" else None


def error_message(root: type[BaseModel], error: ErrorDetails, path: str) -> str:
    """A message for one pydantic error: what is wrong and what would be valid."""
    kind = error["type"]
    value = error.get("input")
    loc = error["loc"]
    if kind == "extra_forbidden":
        return _unknown_field(root, loc, path)
    if kind == "missing":
        return f"{loc[-1] if loc else 'value'} is required"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_describe(value)}"
    message = _constraint_message(kind, dict(error.get("ctx") or {}), value)
    return message if message is not None else str(error.get("msg", "invalid value"))
