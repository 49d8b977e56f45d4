"""VirtualService: routing rules for hosts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mizzen.api.base import Int32, IstioModel, UInt32
from mizzen.api.networking.common import Destination, Headers, Percent, StringMatch
from mizzen.api.resource import Resource

__all__ = [
    "CorsPolicy",
    "Delegate",
    "FaultAbort",
    "FaultDelay",
    "HTTPBody",
    "HTTPDirectResponse",
    "HTTPFaultInjection",
    "HTTPMatchRequest",
    "HTTPMirrorPolicy",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "L4MatchAttributes",
    "RegexRewrite",
    "RouteDestination",
    "TCPRoute",
    "TLSMatchAttributes",
    "TLSRoute",
    "VirtualService",
    "VirtualServiceSpec",
]


class HTTPMatchRequest(IstioModel):
    """Conditions a request must meet for an HTTP route to apply."""

    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] | None = None
    port: UInt32 | None = None
    source_labels: dict[str, str] | None = None
    gateways: list[str] | None = None
    query_params: dict[str, StringMatch] | None = None
    ignore_uri_case: bool | None = None
    without_headers: dict[str, StringMatch] | None = None
    source_namespace: str | None = None
    stat_prefix: str | None = None


class HTTPRouteDestination(IstioModel):
    """A weighted destination of an HTTP route."""

    destination: Destination
    weight: Int32 | None = None
    headers: Headers | None = None


class RouteDestination(IstioModel):
    """A weighted destination of a TCP or TLS route."""

    destination: Destination
    weight: Int32 | None = None


class Delegate(IstioModel):
    """A delegate VirtualService that holds the routes."""

    name: str | None = None
    namespace: str | None = None


class HTTPRedirect(IstioModel):
    """A redirect response."""

    uri: str | None = None
    authority: str | None = None
    port: UInt32 | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirect_code: UInt32 | None = None
    prefix_rewrite: str | None = None


class HTTPBody(IstioModel):
    """A direct response body: a string or base64 bytes."""

    string: str | None = None
    bytes: str | None = None


class HTTPDirectResponse(IstioModel):
    """A fixed response sent without forwarding."""

    status: UInt32
    body: HTTPBody | None = None


class RegexRewrite(IstioModel):
    """An RE2 match and its rewrite."""

    match: str | None = None
    rewrite: str | None = None


class HTTPRewrite(IstioModel):
    """Rewrites of the URI or authority before forwarding."""

    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(IstioModel):
    """Retry policy of an HTTP route."""

    attempts: Int32 | None = None
    per_try_timeout: str | None = None
    retry_on: str | None = None
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: str | None = None


class CorsPolicy(IstioModel):
    """Cross-origin resource sharing policy."""

    allow_origin: list[str] | None = None
    allow_origins: list[StringMatch] | None = None
    allow_methods: list[str] | None = None
    allow_headers: list[str] | None = None
    expose_headers: list[str] | None = None
    max_age: str | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None


class FaultDelay(IstioModel):
    """A delay injected before forwarding."""

    fixed_delay: str | None = None
    exponential_delay: str | None = None
    percentage: Percent | None = None
    percent: Int32 | None = None


class FaultAbort(IstioModel):
    """An error returned instead of forwarding."""

    http_status: Int32 | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(IstioModel):
    """Faults injected into requests."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(IstioModel):
    """One mirror destination and the share of traffic it receives."""

    destination: Destination
    percentage: Percent | None = None


class HTTPRoute(IstioModel):
    """Conditions and actions for HTTP/1.1, HTTP2 and gRPC traffic."""

    name: str | None = None
    match: list[HTTPMatchRequest] | None = None
    route: list[HTTPRouteDestination] | None = None
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: str | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] | None = None
    mirror_percent: UInt32 | None = Field(default=None, alias="mirrorPercent")
    mirror_percent_legacy: UInt32 | None = Field(default=None, alias="mirror_percent")
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class L4MatchAttributes(IstioModel):
    """Conditions for a TCP route."""

    destination_subnets: list[str] | None = None
    port: UInt32 | None = None
    source_labels: dict[str, str] | None = None
    gateways: list[str] | None = None
    source_namespace: str | None = None
    source_subnet: str | None = None


class TLSMatchAttributes(IstioModel):
    """Conditions for a TLS route (SNI and L4 attributes)."""

    sni_hosts: list[str]
    destination_subnets: list[str] | None = None
    port: UInt32 | None = None
    source_labels: dict[str, str] | None = None
    gateways: list[str] | None = None
    source_namespace: str | None = None


class TCPRoute(IstioModel):
    """Conditions and destinations for TCP traffic."""

    match: list[L4MatchAttributes] | None = None
    route: list[RouteDestination] | None = None


class TLSRoute(IstioModel):
    """Conditions and destinations for unterminated TLS traffic."""

    match: list[TLSMatchAttributes]
    route: list[RouteDestination] | None = None


class VirtualServiceSpec(IstioModel):
    """The routing rules of a VirtualService."""

    hosts: list[str] | None = None
    gateways: list[str] | None = None
    http: list[HTTPRoute] | None = None
    tls: list[TLSRoute] | None = None
    tcp: list[TCPRoute] | None = None
    export_to: list[str] | None = None


class VirtualService(Resource):
    """networking.istio.io VirtualService."""

    KIND: ClassVar[str] = "VirtualService"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: VirtualServiceSpec = Field(default_factory=VirtualServiceSpec)
