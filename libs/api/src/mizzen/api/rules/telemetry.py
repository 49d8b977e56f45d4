"""Telemetry rules: providers, sampling, custom tags, metric overrides."""

from __future__ import annotations

from mizzen.api.rules.common import check_duration_at, check_targets, count_set
from mizzen.api.rules.issues import Issues
from mizzen.api.telemetry import Telemetry

__all__ = ["check_telemetry"]


def check_telemetry(tm: Telemetry, out: Issues) -> None:
    """Selector or target references; tracing, metrics and access logging settings."""
    spec = tm.spec
    check_targets(spec.selector, spec.target_ref, spec.target_refs, out)
    for i, tracing in enumerate(spec.tracing or ()):
        where = f"spec.tracing[{i}]"
        pct = tracing.random_sampling_percentage
        if pct is not None and not 0 <= pct <= 100:
            out.add(
                f"{where}.randomSamplingPercentage",
                f"randomSamplingPercentage {pct} must be in [0.0, 100.0]",
            )
        for name, tag in (tracing.custom_tags or {}).items():
            tag_path = f"{where}.customTags[{name}]"
            if not name:
                out.add(tag_path, "tag name must not be empty")
            if count_set(tag.literal, tag.environment, tag.header, tag.formatter) > 1:
                out.add(tag_path, "set only one of literal, environment, header and formatter")
    for i, metrics in enumerate(spec.metrics or ()):
        where = f"spec.metrics[{i}]"
        check_duration_at(metrics.reporting_interval, f"{where}.reportingInterval", out)
        for j, override in enumerate(metrics.overrides or ()):
            o_path = f"{where}.overrides[{j}]"
            match = override.match
            if match is not None and count_set(match.metric, match.custom_metric) > 1:
                out.add(f"{o_path}.match", "set only one of metric and customMetric")
            for tag_name, change in (override.tag_overrides or {}).items():
                t_path = f"{o_path}.tagOverrides[{tag_name}]"
                if change.operation == "REMOVE":
                    if change.value is not None:
                        out.add(f"{t_path}.value", "value must not be set when operation is REMOVE")
                elif not change.value:
                    out.add(
                        f"{t_path}.value",
                        "value must be set when operation is UPSERT (the default)",
                    )
