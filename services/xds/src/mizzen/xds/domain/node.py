"""Who is on the other end of a stream: the proxy's id and its class, from its node.

Envoy proxies follow Istio's node id ``<type>~<ip>~<workload>.<namespace>~<domain>`` with
``type`` ``sidecar`` or ``router``. Proxyless gRPC clients either send no Istio node id at all
(an id without ``~``) or say so in their metadata (``GENERATOR: grpc``, as Istio's gRPC
bootstrap does); both are served as :attr:`~mizzen.snapshots.ProxyType.PROXYLESS`, their
namespace taken from the metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.snapshots import ProxyClass, ProxyType
from mizzen.xds.errors import InvalidNodeError

META_GENERATOR = "GENERATOR"
"""Istio's metadata key naming the config generator a client wants (``grpc`` = proxyless)."""
PROXYLESS_GENERATOR = "grpc"

_ISTIO_FIELDS = 4


@dataclass(frozen=True, slots=True)
class ProxyIdentity:
    """A connected proxy: its node id as sent, its proxy id (Istio's ``<workload>.<namespace>``
    for Istio node ids, else the node id) and its class. Immutable."""

    node_id: str
    proxy_id: str
    proxy_class: ProxyClass
    class_id: str = field(init=False)
    """The proxy's class id (computed once: a stream asks for it at every push)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_id", self.proxy_class.class_id)


def locality_text(locality: Any) -> str:
    """An Envoy ``Locality`` message as Istio writes it: ``region/zone/sub_zone``, trailing
    empty parts left out (``""`` when none is set)."""
    return "/".join((locality.region, locality.zone, locality.sub_zone)).rstrip("/")


def identify(node_id: str, metadata: Mapping[str, Any], locality: str = "") -> ProxyIdentity:
    """The identity of the proxy with ``node_id``, node ``metadata`` (plain data, e.g.
    ``MessageToDict(node.metadata)``) and ``locality`` (``region/zone/sub_zone``). Raises
    :class:`InvalidNodeError` naming what is wrong: an empty id, an Istio-shaped id of an
    unknown type, or malformed metadata."""
    if not node_id:
        raise InvalidNodeError("the first request of a stream must carry the node id")
    fields = node_id.split("~")
    generator = str(metadata.get(META_GENERATOR) or "").lower()
    istio_shaped = len(fields) == _ISTIO_FIELDS
    if len(fields) > 1 and not istio_shaped:
        raise InvalidNodeError("expected <type>~<ip>~<workload>.<namespace>~<domain>",
                               node_id=node_id)  # fmt: skip
    if generator == PROXYLESS_GENERATOR or not istio_shaped:
        proxy_type = ProxyType.PROXYLESS
    else:
        try:
            proxy_type = ProxyType(fields[0])
        except ValueError as exc:
            raise InvalidNodeError(f"unknown proxy type {fields[0]!r}; expected sidecar or "
                                   "router", node_id=node_id) from exc  # fmt: skip
    proxy_id = fields[2] if istio_shaped else node_id
    meta = dict(metadata)
    if istio_shaped and not meta.get("NAMESPACE"):
        # Istio's node id carries the namespace too; metadata wins when both are present.
        meta["NAMESPACE"] = fields[2].rpartition(".")[2] or "default"
    try:
        proxy_class = ProxyClass.from_node_metadata(proxy_type, meta, locality=locality)
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidNodeError(str(exc), node_id=node_id) from exc
    return ProxyIdentity(node_id, proxy_id, proxy_class)
