"""The normalized service registry: :class:`Service` and :class:`Endpoint` values stored under
``/mizzen/registry/`` (written by discovery, read by the translator), and :class:`Registry`,
an immutable snapshot of it kept current by a :class:`RegistryView`.
"""

from mizzen.registry.codec import decode_endpoint, decode_service, encode_endpoint, encode_service
from mizzen.registry.keys import (
    ENDPOINTS_PREFIX,
    REGISTRY_PREFIX,
    SERVICES_PREFIX,
    endpoint_key,
    endpoints_prefix,
    service_key,
)
from mizzen.registry.model import (
    DEFAULT_DOMAIN,
    Endpoint,
    Health,
    Locality,
    Protocol,
    Resolution,
    Service,
    ServicePort,
    frozen_map,
    protocol_from_port_name,
    protocol_of,
    service_hostname,
)
from mizzen.registry.view import Registry, RegistryView

__all__ = [
    "DEFAULT_DOMAIN",
    "ENDPOINTS_PREFIX",
    "REGISTRY_PREFIX",
    "SERVICES_PREFIX",
    "Endpoint",
    "Health",
    "Locality",
    "Protocol",
    "Registry",
    "RegistryView",
    "Resolution",
    "Service",
    "ServicePort",
    "decode_endpoint",
    "decode_service",
    "encode_endpoint",
    "encode_service",
    "endpoint_key",
    "endpoints_prefix",
    "frozen_map",
    "protocol_from_port_name",
    "protocol_of",
    "service_hostname",
    "service_key",
]
