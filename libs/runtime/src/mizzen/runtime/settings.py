"""Typed service settings read from defaults, the environment and flags.

A service declares its settings as a frozen, keyword-only dataclass that
extends :class:`ServiceSettings`, each field annotated with its
:class:`Setting` (help text and rules)::

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class XdsSettings(ServiceSettings):
        service_name: str = "xds"
        grpc_port: Annotated[int, Setting("ADS port.", minimum=0, maximum=65535)] = 15010
        push_debounce_seconds: Annotated[float, Setting("Quiet time before a push.")] = 0.1

    settings = load_settings(XdsSettings)

:func:`load_settings` resolves each field in increasing precedence:

1. the field's default;
2. for a ``shared`` field, ``MIZZEN_<FIELD>`` (one value for every service,
   e.g. ``MIZZEN_LOG_LEVEL``);
3. ``MIZZEN_<SERVICE>_<FIELD>`` (e.g. ``MIZZEN_XDS_GRPC_PORT``);
4. the flag ``--<field-with-dashes>`` (e.g. ``--grpc-port``; booleans get
   ``--name`` / ``--no-name``).

Supported field types: ``str``, ``int``, ``float`` (durations are float
seconds, named ``*_seconds``), ``bool``, ``pathlib.Path``, enums (by value
or name, case-insensitive), ``tuple[X, ...]`` of those scalars (written
comma-separated) and ``X | None`` (an empty string means ``None``).
A bad value raises :class:`~mizzen.runtime.errors.SettingsError` naming the
variable or flag and the expected type.

This module is the only place in Mizzen that reads ``os.environ``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

from mizzen.runtime.errors import SettingsError

__all__ = [
    "LogFormat",
    "LogLevel",
    "ServiceSettings",
    "Setting",
    "build_parser",
    "load_settings",
]

_S = TypeVar("_S")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class LogLevel(enum.Enum):
    """Minimum severity of log lines that are written."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class LogFormat(enum.Enum):
    """How log lines are rendered: ``auto`` is JSON unless stdout is a terminal."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


@dataclasses.dataclass(frozen=True)
class Setting:
    """Help and rules of one settings field, attached with ``typing.Annotated``.

    ``help`` is shown by ``--help``. A ``shared`` field may also be set for
    every service at once with ``MIZZEN_<FIELD>``. ``minimum``/``maximum``
    bound a numeric field (inclusive): values outside them raise
    ``SettingsError``.
    """

    help: str
    shared: bool = False
    minimum: float | None = None
    maximum: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Settings every Mizzen service has; each service's ``config.py`` extends it.

    Subclasses must also be ``@dataclasses.dataclass(frozen=True, kw_only=True)``
    and declare fields as ``name: Annotated[type, Setting("help")] = default``
    (a field without a default is required). Override ``service_name``'s
    default (``service_name: str = "xds"`` keeps the help declared here): it is
    also the ``<SERVICE>`` part of the environment names. Instances are
    immutable and safe to share between tasks.
    """

    service_name: Annotated[
        str, Setting("Name this service reports in logs, traces (service.name) and metrics.")
    ] = "mizzen"
    log_level: Annotated[
        LogLevel, Setting("Minimum severity of log lines written.", shared=True)
    ] = LogLevel.INFO
    log_format: Annotated[
        LogFormat,
        Setting(
            "Log rendering: json, console, or auto (json unless stdout is a terminal).",
            shared=True,
        ),
    ] = LogFormat.AUTO
    grpc_host: Annotated[str, Setting("Address the gRPC server listens on.", shared=True)] = (
        "127.0.0.1"
    )
    grpc_port: Annotated[
        int, Setting("Port of the gRPC server; 0 picks a free port.", minimum=0, maximum=65535)
    ] = 0
    metrics_host: Annotated[
        str,
        Setting("Address of the HTTP server for /metrics, /healthz and /readyz.", shared=True),
    ] = "127.0.0.1"
    metrics_port: Annotated[
        int,
        Setting(
            "Port of the HTTP server for /metrics, /healthz and /readyz; 0 picks a free port.",
            minimum=0,
            maximum=65535,
        ),
    ] = 0
    otlp_endpoint: Annotated[
        str | None,
        Setting(
            "OTLP/gRPC collector for traces (e.g. http://otel:4317); unset disables export.",
            shared=True,
        ),
    ] = None
    shutdown_grace_seconds: Annotated[
        float,
        Setting(
            "Seconds allowed, after SIGTERM, for in-flight RPCs and shutdown callbacks.",
            shared=True,
            minimum=0.0,
        ),
    ] = 10.0


@dataclasses.dataclass(frozen=True)
class _FieldSpec:
    name: str
    annotation: object
    help: str
    env_names: tuple[str, ...]
    flag: str
    parse: Callable[[str], object]
    expected: str
    is_bool: bool
    has_default: bool
    default: object
    minimum: float | None
    maximum: float | None


class _ErrorRaisingParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises ``SettingsError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError(
            f"invalid command line: {message}",
            source="command line",
            value=None,
            expected="flags listed by --help",
        )


def _env_token(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").upper()


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(raw)


def _parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _enum_parser(enum_type: type[enum.Enum]) -> tuple[Callable[[str], object], str]:
    by_text: dict[str, enum.Enum] = {}
    for member in enum_type:
        by_text[member.name.lower()] = member
        by_text[str(member.value).lower()] = member

    def parse(raw: str) -> object:
        return by_text[raw.strip().lower()]

    choices = ", ".join(str(member.value) for member in enum_type)
    return parse, f"one of: {choices}"


_SCALARS: dict[object, tuple[Callable[[str], object], str]] = {
    str: (str, "a string"),
    bool: (_parse_bool, "a boolean (true/false, 1/0, yes/no, on/off)"),
    int: (int, "an integer"),
    float: (_parse_float, "a finite number"),
    Path: (Path, "a path"),
}


def _scalar_parser(annotation: object) -> tuple[Callable[[str], object], str] | None:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_parser(annotation)
    return _SCALARS.get(annotation)


def _parser_for(annotation: object, field_name: str) -> tuple[Callable[[str], object], str]:
    """Return (parse raw text, description of valid text) for a field type."""
    scalar = _scalar_parser(annotation)
    if scalar is not None:
        return scalar
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner_type = args[0] if args[1] is type(None) else args[1]
        inner, inner_expected = _parser_for(inner_type, field_name)

        def parse_optional(raw: str) -> object:
            return None if raw == "" else inner(raw)

        return parse_optional, f"{inner_expected}, or empty for none"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _scalar_parser(args[0])
        if item is not None:
            parse_item, item_expected = item

            def parse_tuple(raw: str) -> object:
                return tuple(parse_item(part.strip()) for part in raw.split(",") if part.strip())

            return parse_tuple, f"a comma-separated list of {item_expected}"
    raise TypeError(f"settings field {field_name!r} has unsupported type {annotation!r}")


def _field_rules(cls: type[Any], name: str) -> Setting:
    """The ``Setting`` of field ``name``, from the nearest class that declared one."""
    for klass in cls.__mro__:
        annotation = inspect.get_annotations(klass).get(name)
        if annotation is None:
            continue
        hints = typing.get_type_hints(klass, include_extras=True)
        for extra in getattr(hints[name], "__metadata__", ()):
            if isinstance(extra, Setting):
                return extra
    return Setting("")


def _field_specs(cls: type[Any], service: str) -> list[_FieldSpec]:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass type")
    hints = typing.get_type_hints(cls)  # Annotated stripped: the bare field types
    prefix = f"MIZZEN_{_env_token(service)}_"
    specs = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        annotation = hints[field.name]
        rules = _field_rules(cls, field.name)
        parse, expected = _parser_for(annotation, field.name)
        token = _env_token(field.name)
        env_names = (
            (f"MIZZEN_{token}", f"{prefix}{token}") if rules.shared else (f"{prefix}{token}",)
        )
        specs.append(
            _FieldSpec(
                name=field.name,
                annotation=annotation,
                help=rules.help,
                env_names=env_names,
                flag="--" + field.name.replace("_", "-"),
                parse=parse,
                expected=expected,
                is_bool=annotation is bool,
                has_default=field.default is not dataclasses.MISSING,
                default=field.default,
                minimum=rules.minimum,
                maximum=rules.maximum,
            )
        )
    return specs


def _default_service(cls: type[Any]) -> str:
    for field in dataclasses.fields(cls):
        if field.name == "service_name" and isinstance(field.default, str):
            return field.default
    raise TypeError(f"{cls.__name__} has no service_name default: pass service= explicitly")


def _show_default(value: object) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return "unset" if value is None else str(value)


def _metavar(spec: _FieldSpec) -> str:
    annotation = spec.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "{" + ",".join(str(member.value) for member in annotation) + "}"
    return spec.name.upper()


def _build_parser(specs: Sequence[_FieldSpec], prog: str | None) -> argparse.ArgumentParser:
    parser = _ErrorRaisingParser(prog=prog, allow_abbrev=False)
    for spec in specs:
        env_text = " or ".join(reversed(spec.env_names))
        default_text = _show_default(spec.default) if spec.has_default else "required"
        help_text = f"{spec.help} [env {env_text}; default {default_text}]"
        # Flags are parsed as raw text (or bool) and converted by the same code as
        # environment values, so both produce the same SettingsError wording.
        if spec.is_bool:
            parser.add_argument(
                spec.flag,
                dest=spec.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            parser.add_argument(
                spec.flag,
                dest=spec.name,
                default=argparse.SUPPRESS,
                metavar=_metavar(spec),
                help=help_text.replace("%", "%%"),
            )
    return parser


def build_parser(
    cls: type[Any], *, service: str | None = None, prog: str | None = None
) -> argparse.ArgumentParser:
    """Return the ``argparse`` parser :func:`load_settings` uses for ``cls``.

    Useful to print ``--help`` or to embed in a larger CLI. The parser's
    ``error`` raises ``SettingsError`` rather than exiting. Its namespace
    holds raw strings (booleans as ``bool``), not converted values.
    """
    specs = _field_specs(cls, service or _default_service(cls))
    return _build_parser(specs, prog)


def _convert(spec: _FieldSpec, raw: str, source: str) -> object:
    try:
        value = spec.parse(raw)
    except (ValueError, KeyError) as exc:
        raise SettingsError(
            f"{source}={raw!r} is not valid: expected {spec.expected}",
            source=source,
            value=raw,
            expected=spec.expected,
        ) from exc
    _check_bounds(spec, value, raw, source)
    return value


def _check_bounds(spec: _FieldSpec, value: object, raw: str, source: str) -> None:
    if spec.minimum is None and spec.maximum is None:
        return
    if not isinstance(value, int | float):
        return
    low = spec.minimum if spec.minimum is not None else -math.inf
    high = spec.maximum if spec.maximum is not None else math.inf
    if low <= value <= high:
        return
    expected = f"{spec.expected} between {_show_default(low)} and {_show_default(high)}"
    raise SettingsError(
        f"{source}={raw!r} is out of range: expected {expected}",
        source=source,
        value=raw,
        expected=expected,
    )


def load_settings(
    cls: type[_S],
    *,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    service: str | None = None,
    prog: str | None = None,
) -> _S:
    """Build ``cls`` from defaults < environment < flags and return it.

    ``cls`` is a dataclass whose fields were declared with :func:`setting`.
    ``argv`` defaults to ``sys.argv[1:]`` and ``environ`` to ``os.environ``
    (pass both explicitly in tests and in-process runs). ``service`` is the
    ``<SERVICE>`` part of environment names; it defaults to the default of
    the ``service_name`` field. Raises ``SettingsError`` for a bad value, an
    unknown flag or a missing required field; ``--help`` prints usage and
    exits (``SystemExit(0)``), as command-line tools do.
    """
    env = os.environ if environ is None else environ
    args = list(sys.argv[1:] if argv is None else argv)
    specs = _field_specs(cls, service or _default_service(cls))
    values: dict[str, object] = {}
    for spec in specs:
        for env_name in spec.env_names:  # increasing precedence
            if env_name in env:
                values[spec.name] = _convert(spec, env[env_name], env_name)
    namespace = vars(_build_parser(specs, prog).parse_args(args))
    for spec in specs:
        if spec.name not in namespace:
            continue
        raw = namespace[spec.name]
        if spec.is_bool:
            values[spec.name] = bool(raw)
        else:
            values[spec.name] = _convert(spec, str(raw), spec.flag)
    for spec in specs:
        if spec.name not in values and not spec.has_default:
            names = " or ".join((spec.flag, *reversed(spec.env_names)))
            raise SettingsError(
                f"setting {spec.name} is required: set {names}",
                source=spec.flag,
                value=None,
                expected=spec.expected,
            )
    return cls(**values)
