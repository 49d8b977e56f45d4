"""What the TLS parts of the generators share: the transport socket's name, credentials read
from files and subject-alt-name matchers (downstream and upstream contexts), and the TLS
inspector with the server names a listener's filter chains claim (SNI routing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2
from envoy.type.matcher.v3 import string_pb2

from mizzen.envoy import pack

__all__ = [
    "TLS_INSPECTOR",
    "TLS_TRANSPORT_SOCKET",
    "ServerNames",
    "file_source",
    "match_subject_alt_names",
    "tls_inspector",
    "transport_socket",
]

TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
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


def tls_inspector() -> Any:
    """The listener filter that reads the SNI (and ALPN) for filter chain matching."""
    return listener_components_pb2.ListenerFilter(
        name=TLS_INSPECTOR, typed_config=pack(tls_inspector_pb2.TlsInspector())
    )


@dataclass(slots=True)
class ServerNames:
    """The server names the chains of one listener have claimed so far (Envoy rejects a
    listener whose chains match the same names)."""

    claimed: set[str] = field(default_factory=set)
    default_taken: bool = False

    def claim(self, names: Sequence[str]) -> list[str] | None:
        """The names of ``names`` still free (``[]``: the no-SNI chain), or ``None`` when
        the chain would match nothing new."""
        if not names:
            if self.default_taken:
                return None
            self.default_taken = True
            return []
        free = [n for n in dict.fromkeys(names) if n not in self.claimed]
        if not free:
            return None
        self.claimed.update(free)
        return free
