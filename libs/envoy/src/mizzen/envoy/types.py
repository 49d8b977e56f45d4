"""The xDS v3 resource types Mizzen serves: type URLs, message classes and short names.

A type is named three ways: its type URL (what travels on the wire,
``type.googleapis.com/envoy.config.cluster.v3.Cluster``), its short name (what people type:
``clusters``, as in ``mizzen proxy-config clusters``) and its xDS abbreviation (``CDS``, as
Envoy's and Istio's logs say). Every function here accepts the type URL; :func:`resolve_type`
turns any of the three spellings into the type URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import extension_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.message import Message

from mizzen.envoy.errors import UnknownTypeError

__all__ = [
    "CLUSTER_TYPE",
    "ENDPOINT_TYPE",
    "EXTENSION_CONFIG_TYPE",
    "LISTENER_TYPE",
    "PUSH_ORDER",
    "ROUTE_TYPE",
    "SECRET_TYPE",
    "TYPE_URL_PREFIX",
    "WILDCARD_TYPES",
    "message_class",
    "resolve_type",
    "short_name",
    "type_url_of",
    "xds_abbreviation",
]

TYPE_URL_PREFIX = "type.googleapis.com/"
"""The prefix of every type URL packed into an ``Any`` by Envoy and by us."""

CLUSTER_TYPE = TYPE_URL_PREFIX + "envoy.config.cluster.v3.Cluster"
"""CDS: ``envoy.config.cluster.v3.Cluster``."""
ENDPOINT_TYPE = TYPE_URL_PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
"""EDS: ``envoy.config.endpoint.v3.ClusterLoadAssignment``."""
LISTENER_TYPE = TYPE_URL_PREFIX + "envoy.config.listener.v3.Listener"
"""LDS: ``envoy.config.listener.v3.Listener``."""
ROUTE_TYPE = TYPE_URL_PREFIX + "envoy.config.route.v3.RouteConfiguration"
"""RDS: ``envoy.config.route.v3.RouteConfiguration``."""
SECRET_TYPE = TYPE_URL_PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"
"""SDS: ``envoy.extensions.transport_sockets.tls.v3.Secret``."""
EXTENSION_CONFIG_TYPE = TYPE_URL_PREFIX + "envoy.config.core.v3.TypedExtensionConfig"
"""ECDS: ``envoy.config.core.v3.TypedExtensionConfig``."""

# type URL -> (message class, short name, xDS abbreviation)
_TYPES: Mapping[str, tuple[type[Message], str, str]] = MappingProxyType(
    {
        CLUSTER_TYPE: (cluster_pb2.Cluster, "clusters", "CDS"),
        ENDPOINT_TYPE: (endpoint_pb2.ClusterLoadAssignment, "endpoints", "EDS"),
        LISTENER_TYPE: (listener_pb2.Listener, "listeners", "LDS"),
        ROUTE_TYPE: (route_pb2.RouteConfiguration, "routes", "RDS"),
        SECRET_TYPE: (secret_pb2.Secret, "secrets", "SDS"),
        EXTENSION_CONFIG_TYPE: (extension_pb2.TypedExtensionConfig, "extensions", "ECDS"),
    }
)

PUSH_ORDER: tuple[str, ...] = (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
    EXTENSION_CONFIG_TYPE,
)
"""The order in which an ADS server sends updates of several types (Envoy's "make before
break" rule, as Istio orders them): clusters and their endpoints before the listeners and
routes that use them. Removals go out after all additions, in the same order."""

WILDCARD_TYPES: frozenset[str] = frozenset({CLUSTER_TYPE, LISTENER_TYPE})
"""Types Envoy subscribes to with a wildcard (all resources); the others are asked for by
name. Proxyless gRPC is the exception: it asks for listeners and clusters by name too."""


def _known() -> list[str]:
    return [spelling for url, (_, short, abbrev) in _TYPES.items() for spelling in (short, url)]


def resolve_type(type_name: str) -> str:
    """Return the type URL for a type URL, a short name (``clusters``) or an xDS abbreviation
    (``CDS``, any case). Raises :class:`UnknownTypeError` for anything else."""
    if type_name in _TYPES:
        return type_name
    for url, (_, short, abbrev) in _TYPES.items():
        if type_name == short or type_name.upper() == abbrev:
            return url
    raise UnknownTypeError(type_name, _known())


def _entry(type_url: str) -> tuple[type[Message], str, str]:
    try:
        return _TYPES[type_url]
    except KeyError as exc:
        raise UnknownTypeError(type_url, _known()) from exc


def message_class(type_url: str) -> type[Message]:
    """The generated message class of ``type_url``; raises :class:`UnknownTypeError`."""
    return _entry(type_url)[0]


def short_name(type_url: str) -> str:
    """The short name of ``type_url`` (``clusters``, ``listeners``, ``routes``, ``endpoints``,
    ``secrets``, ``extensions``); raises :class:`UnknownTypeError`."""
    return _entry(type_url)[1]


def xds_abbreviation(type_url: str) -> str:
    """The xDS abbreviation of ``type_url`` (``CDS``, ``EDS``, ``LDS``, ``RDS``, ``SDS``,
    ``ECDS``); raises :class:`UnknownTypeError`."""
    return _entry(type_url)[2]


def type_url_of(message: Message) -> str:
    """The type URL ``Any.Pack`` would give ``message`` (any message, known here or not)."""
    return TYPE_URL_PREFIX + message.DESCRIPTOR.full_name
