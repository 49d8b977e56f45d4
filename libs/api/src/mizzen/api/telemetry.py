"""Telemetry (telemetry.istio.io v1 and v1alpha1): metrics, tracing and access logs."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from mizzen.api.base import Double, IstioModel
from mizzen.api.resource import Resource
from mizzen.api.security.common import LabelSelector, PolicyTargetReference

__all__ = [
    "AccessLogging",
    "Metrics",
    "MetricsOverrides",
    "ProviderRef",
    "Telemetry",
    "TelemetrySpec",
    "Tracing",
]

NonEmpty = Annotated[str, Field(min_length=1)]
WorkloadMode = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]
IstioMetric = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


class ProviderRef(IstioModel):
    """A telemetry provider defined in mesh config, by name."""

    name: NonEmpty


class ModeSelector(IstioModel):
    """Which side of the traffic (client, server or both) a setting applies to."""

    mode: WorkloadMode | None = None


class LiteralTag(IstioModel):
    """A fixed tag value."""

    value: NonEmpty


class EnvironmentTag(IstioModel):
    """A tag value read from the proxy's environment."""

    name: NonEmpty
    default_value: str | None = None


class RequestHeaderTag(IstioModel):
    """A tag value read from a request header."""

    name: NonEmpty
    default_value: str | None = None


class FormatterTag(IstioModel):
    """A tag value computed by an Envoy command operator."""

    value: NonEmpty


class CustomTag(IstioModel):
    """Exactly one source for a custom tracing tag."""

    literal: LiteralTag | None = None
    environment: EnvironmentTag | None = None
    header: RequestHeaderTag | None = None
    formatter: FormatterTag | None = None


class Tracing(IstioModel):
    """Tracing configuration."""

    match: ModeSelector | None = None
    providers: list[ProviderRef] | None = None
    random_sampling_percentage: Double | None = Field(default=None, ge=0, le=100)
    disable_span_reporting: bool | None = None
    custom_tags: dict[str, CustomTag] | None = None
    use_request_id_for_trace_sampling: bool | None = None
    enable_istio_tags: bool | None = None
    disable_context_propagation: bool | None = None


class MetricSelector(IstioModel):
    """Which metric an override applies to: one of metric or customMetric."""

    metric: IstioMetric | None = None
    custom_metric: NonEmpty | None = None
    mode: WorkloadMode | None = None


class TagOverride(IstioModel):
    """Add, change (UPSERT) or remove a metric tag."""

    operation: Literal["UPSERT", "REMOVE"] | None = None
    value: str | None = None


class MetricsOverrides(IstioModel):
    """Changes to the generated metrics."""

    match: MetricSelector | None = None
    disabled: bool | None = None
    tag_overrides: dict[str, TagOverride] | None = None


class Metrics(IstioModel):
    """Metrics configuration."""

    providers: list[ProviderRef] | None = None
    overrides: list[MetricsOverrides] | None = None
    reporting_interval: str | None = None


class AccessLogFilter(IstioModel):
    """A CEL expression deciding which requests are logged."""

    expression: str | None = None


class AccessLogging(IstioModel):
    """Access log configuration."""

    match: ModeSelector | None = None
    providers: list[ProviderRef] | None = None
    disabled: bool | None = None
    filter: AccessLogFilter | None = None


class TelemetrySpec(IstioModel):
    """Tracing, metrics and access logging for the selected workloads."""

    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] | None = Field(default=None, max_length=16)
    tracing: list[Tracing] | None = None
    metrics: list[Metrics] | None = None
    access_logging: list[AccessLogging] | None = None


class Telemetry(Resource):
    """telemetry.istio.io Telemetry."""

    KIND: ClassVar[str] = "Telemetry"
    GROUP: ClassVar[str] = "telemetry.istio.io"

    spec: TelemetrySpec = Field(default_factory=TelemetrySpec)
