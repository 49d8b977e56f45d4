"""xDS responses built from stored bytes, without parsing or re-serializing a resource.

A resource body in the store is the serialized ``google.protobuf.Any`` that packs it
(:class:`mizzen.envoy.EnvoyResource`). Protobuf's encoding of a message is the concatenation
of its encoded fields, in any order, so a response is the serialization of its small fixed
fields followed by one length-delimited field per resource holding the stored bytes as they
are. The ADS servicer registers a response serializer that passes these bytes through.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

# Field numbers, from envoy/service/discovery/v3/discovery.proto.
_RESPONSE_RESOURCES = 2  # DiscoveryResponse.resources (repeated Any)
_DELTA_RESOURCES = 2  # DeltaDiscoveryResponse.resources (repeated Resource)
_RESOURCE_ANY = 2  # Resource.resource (Any)
_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


@functools.lru_cache(maxsize=16384)
def _field_head(field_number: int, length: int) -> bytes:
    # Pure and small: memoized, since every response repeats the same few lengths.
    return _varint(field_number << 3 | _LENGTH_DELIMITED) + _varint(length)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """The encoding of a length-delimited field (message, bytes, string) with ``payload``."""
    return _field_head(field_number, len(payload)) + payload


def sotw_response(
    *, type_url: str, version: str, nonce: str, bodies: Iterable[bytes], control_plane: str
) -> bytes:
    """A serialized ``DiscoveryResponse`` carrying ``bodies`` (packed ``Any`` bytes)."""
    head: bytes = discovery_pb2.DiscoveryResponse(
        version_info=version,
        type_url=type_url,
        nonce=nonce,
        control_plane=base_pb2.ControlPlane(identifier=control_plane),
    ).SerializeToString()
    parts = [head]
    for body in bodies:
        parts.append(_field_head(_RESPONSE_RESOURCES, len(body)))
        parts.append(body)
    return b"".join(parts)


def delta_response(
    *,
    type_url: str,
    system_version: str,
    nonce: str,
    resources: Iterable[tuple[str, str, bytes]],
    removed: Iterable[str],
    control_plane: str,
) -> bytes:
    """A serialized ``DeltaDiscoveryResponse``: ``resources`` as ``(name, version, body)``
    (the version being the content hash), ``removed`` names."""
    head: bytes = discovery_pb2.DeltaDiscoveryResponse(
        system_version_info=system_version,
        type_url=type_url,
        nonce=nonce,
        removed_resources=list(removed),
        control_plane=base_pb2.ControlPlane(identifier=control_plane),
    ).SerializeToString()
    parts = [head]
    for name, version, body in resources:
        parts.append(_resource_prefix(name, version, len(body)))
        parts.append(body)
    return b"".join(parts)


@functools.lru_cache(maxsize=65536)
def _resource_prefix(name: str, version: str, body_length: int) -> bytes:
    # Everything of one DeltaDiscoveryResponse.resources entry before the packed resource:
    # the entry's head, the Resource's name and version, the head of its ``resource`` field.
    # Memoized: a push to many streams repeats the same entries.
    envelope: bytes = discovery_pb2.Resource(name=name, version=version).SerializeToString()
    inner = envelope + _field_head(_RESOURCE_ANY, body_length)
    return _field_head(_DELTA_RESOURCES, len(inner) + body_length) + inner


def passthrough(response: bytes) -> bytes:
    """The response serializer of the ADS methods: responses are bytes already."""
    return response
