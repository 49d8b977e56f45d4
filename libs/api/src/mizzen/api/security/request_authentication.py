"""RequestAuthentication: which JWTs a workload accepts."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from mizzen.api.base import IstioModel
from mizzen.api.resource import Resource
from mizzen.api.security.common import LabelSelector, PolicyTargetReference

__all__ = [
    "ClaimToHeader",
    "JWTHeader",
    "JWTRule",
    "RequestAuthentication",
    "RequestAuthenticationSpec",
]

NonEmpty = Annotated[str, Field(min_length=1)]
HeaderName = Annotated[str, Field(min_length=1, pattern=r"^[-_A-Za-z0-9]+$")]
JwksUri = Annotated[str, Field(min_length=1, max_length=2048)]


class JWTHeader(IstioModel):
    """A header the token is read from, with an optional prefix to strip."""

    name: NonEmpty
    prefix: str | None = None


class ClaimToHeader(IstioModel):
    """Copy a claim of a verified token into a request header."""

    header: HeaderName
    claim: NonEmpty


class JWTRule(IstioModel):
    """One issuer whose tokens are accepted, and where its keys and tokens are found."""

    issuer: NonEmpty | None = None
    audiences: list[NonEmpty] | None = None
    jwks_uri: JwksUri | None = Field(default=None, alias="jwksUri")
    jwks_uri_legacy: JwksUri | None = Field(default=None, alias="jwks_uri")
    jwks: str | None = None
    from_headers: list[JWTHeader] | None = None
    from_params: list[NonEmpty] | None = None
    from_cookies: list[NonEmpty] | None = None
    output_payload_to_header: str | None = None
    forward_original_token: bool | None = None
    output_claim_to_headers: list[ClaimToHeader] | None = None
    timeout: str | None = None
    space_delimited_claims: list[NonEmpty] | None = Field(default=None, max_length=64)


class RequestAuthenticationSpec(IstioModel):
    """JWT rules for the selected workloads or target resources."""

    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] | None = Field(default=None, max_length=16)
    jwt_rules: list[JWTRule] | None = Field(default=None, max_length=4096)


class RequestAuthentication(Resource):
    """security.istio.io RequestAuthentication."""

    KIND: ClassVar[str] = "RequestAuthentication"
    GROUP: ClassVar[str] = "security.istio.io"

    spec: RequestAuthenticationSpec = Field(default_factory=RequestAuthenticationSpec)
