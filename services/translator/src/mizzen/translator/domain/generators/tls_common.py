"""What downstream (gateway) and upstream (DestinationRule) TLS contexts share: the transport
socket's name, credentials read from files, and subject-alt-name matchers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2
from envoy.type.matcher.v3 import string_pb2

from mizzen.envoy import pack

__all__ = ["TLS_TRANSPORT_SOCKET", "file_source", "match_subject_alt_names", "transport_socket"]

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
_SAN_TYPES = (common_pb2.SubjectAltNameMatcher.DNS, common_pb2.SubjectAltNameMatcher.URI)


def file_source(path: str) -> Any:
    """A DataSource Envoy reads from ``path`` (on the proxy's machine)."""
    return base_pb2.DataSource(filename=path)


def match_subject_alt_names(validation: Any, names: Iterable[str]) -> None:
    """Require the peer certificate to carry one of ``names`` as a DNS or URI SAN (Istio's
    ``subjectAltNames``: SPIFFE ids are URIs, host names DNS names)."""
    for name in names:
        for san_type in _SAN_TYPES:
            validation.match_typed_subject_alt_names.add(
                san_type=san_type, matcher=string_pb2.StringMatcher(exact=name)
            )


def transport_socket(context: Any) -> Any:
    """The TLS transport socket carrying ``context`` (a Downstream- or UpstreamTlsContext)."""
    socket = base_pb2.TransportSocket(name=TLS_TRANSPORT_SOCKET)
    socket.typed_config.CopyFrom(pack(context))
    return socket
