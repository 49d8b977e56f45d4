"""Istio field values → Envoy protobuf values: durations, percentages, matchers, addresses.

Pure functions, one per kind of value. Nested typed configs are always packed with
:func:`mizzen.envoy.pack` (deterministic bytes) by the callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2

from mizzen.api.durations import parse_duration
from mizzen.api.networking.common import HeaderOperations, Percent, StringMatch

__all__ = [
    "ads_config_source",
    "duration",
    "fractional_percent",
    "header_options",
    "socket_address",
    "string_matcher",
]

_NANOS = 1_000_000_000
_MILLION = 1_000_000


def duration(text: str) -> duration_pb2.Duration:
    """A Go duration (``"1.5s"``, ``"100ms"``, ``"1h"``) as a protobuf Duration.

    Raises ``ValueError`` naming the text when it is not a duration (validated config never
    holds one; the generators report the resource)."""
    nanos = parse_duration(text)
    if nanos is None or nanos < 0:
        raise ValueError(f"{text!r} is not a non-negative duration")
    return duration_pb2.Duration(seconds=nanos // _NANOS, nanos=nanos % _NANOS)


def seconds(value: float) -> duration_pb2.Duration:
    """``value`` seconds as a Duration."""
    nanos = round(value * _NANOS)
    return duration_pb2.Duration(seconds=nanos // _NANOS, nanos=nanos % _NANOS)


def fractional_percent(percent: Percent | None, legacy: int | None = None) -> Any:
    """Istio's percentage as Envoy's FractionalPercent (per million, as Istio converts it):
    ``percentage.value`` first, else the legacy integer percent, else 100%."""
    if percent is not None and percent.value is not None:
        return percent_pb2.FractionalPercent(
            numerator=round(percent.value * 10_000),
            denominator=percent_pb2.FractionalPercent.MILLION,
        )
    value = 100 if legacy is None else legacy
    return percent_pb2.FractionalPercent(
        numerator=round(value * 10_000), denominator=percent_pb2.FractionalPercent.MILLION
    )


def string_matcher(match: StringMatch, *, ignore_case: bool = False) -> Any:
    """An Istio StringMatch (exact, prefix or RE2 regex) as an Envoy StringMatcher.

    An empty StringMatch (no field set) matches any value: ``safe_regex: ".*"``."""
    matcher = string_pb2.StringMatcher(ignore_case=ignore_case)
    if match.exact is not None:
        matcher.exact = match.exact
    elif match.prefix is not None:
        matcher.prefix = match.prefix
    elif match.regex is not None:
        matcher.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=match.regex))
        matcher.ClearField("ignore_case")  # Envoy refuses ignore_case with a regex
    else:
        matcher.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=".*"))
        matcher.ClearField("ignore_case")
    return matcher


def is_empty_match(match: StringMatch) -> bool:
    """Whether no field of ``match`` is set (Istio: "the header is present")."""
    return match.exact is None and match.prefix is None and match.regex is None


def socket_address(address: str, port: int) -> Any:
    """An Envoy TCP socket address."""
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def ads_config_source() -> Any:
    """``{ads: {}, resource_api_version: V3}``: fetch over the proxy's one ADS stream."""
    source = config_source_pb2.ConfigSource(resource_api_version=config_source_pb2.V3)
    source.ads.SetInParent()
    return source


def header_options(operations: HeaderOperations | None) -> tuple[list[Any], list[str]]:
    """Istio header operations as Envoy's ``*_headers_to_add`` (``set`` overwrites, ``add``
    appends) and ``*_headers_to_remove``. Headers are sorted by name for stable output."""
    if operations is None:
        return [], []
    options: list[Any] = []
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    append = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
    for values, action in ((operations.set, overwrite), (operations.add, append)):
        for name, value in sorted((values or {}).items()):
            options.append(
                base_pb2.HeaderValueOption(
                    header=base_pb2.HeaderValue(key=name, value=value), append_action=action
                )
            )
    return options, sorted(operations.remove or ())


def labels_match(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Whether every ``selector`` label is on ``labels`` (an empty selector matches all)."""
    return all(labels.get(key) == value for key, value in (selector or {}).items())


def sorted_items(values: Mapping[str, Any] | None) -> Sequence[tuple[str, Any]]:
    """A map's items by key: dict-valued Istio fields emit in a stable order."""
    return sorted((values or {}).items())
