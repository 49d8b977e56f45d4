"""PeerAuthentication and RequestAuthentication rules."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from mizzen.api.rules.common import check_duration_at, check_match_labels, check_targets
from mizzen.api.rules.issues import Issues
from mizzen.api.security.peer_authentication import PeerAuthentication
from mizzen.api.security.request_authentication import JWTRule, RequestAuthentication

__all__ = ["check_peer_authentication", "check_request_authentication"]


def check_peer_authentication(pa: PeerAuthentication, out: Issues) -> None:
    """Port-level mTLS needs a non-empty selector; port keys are 1..65535."""
    spec = pa.spec
    check_match_labels(spec.selector, "spec.selector", out)
    if spec.port_level_mtls is not None:
        selector = spec.selector.match_labels if spec.selector is not None else None
        if not selector:
            out.add(
                "spec.portLevelMtls",
                "portLevelMtls requires selector (a namespace or mesh-wide policy "
                "cannot set port-level mTLS)",
            )
        for key in spec.port_level_mtls:
            if not (key.isascii() and key.isdigit() and 0 < int(key) <= 65535):
                out.add(f"spec.portLevelMtls[{key}]", "port must be between 1-65535")


def _check_url(value: str, path: str, out: Issues) -> None:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https"):
        out.add(path, "url must have scheme http:// or https://")
    elif not parts.netloc:
        out.add(path, f"jwks URI {value!r} has no host")


def _check_jwt_rule(rule: JWTRule, path: str, out: Issues) -> None:
    if not rule.issuer:
        out.add(f"{path}.issuer", "issuer must be set")
    if (rule.jwks_uri is not None) + (rule.jwks_uri_legacy is not None) + (
        rule.jwks is not None
    ) > 1:
        out.add(path, "only one of jwks or jwksUri can be set")
    if rule.jwks_uri is not None:
        _check_url(rule.jwks_uri, f"{path}.jwksUri", out)
    if rule.jwks_uri_legacy is not None:
        _check_url(rule.jwks_uri_legacy, f"{path}.jwks_uri", out)
    if rule.jwks is not None:
        try:
            keys = json.loads(rule.jwks)
        except (ValueError, RecursionError):
            keys = None
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
            out.add(f"{path}.jwks", 'jwks must be a JSON Web Key Set: {"keys": [...]}')
    check_duration_at(rule.timeout, f"{path}.timeout", out)


def check_request_authentication(ra: RequestAuthentication, out: Issues) -> None:
    """Selector or target references; each JWT rule."""
    spec = ra.spec
    check_targets(spec.selector, spec.target_ref, spec.target_refs, out)
    for i, rule in enumerate(spec.jwt_rules or ()):
        _check_jwt_rule(rule, f"spec.jwtRules[{i}]", out)
