"""Proxy status: what one connected proxy was sent and acknowledged, as stored in etcd.

One key per proxy, ``/mizzen/proxies/<proxy id>`` (the id percent-encoded, so it never holds a
``/``), written by the replica the proxy is connected to and bound to that replica's lease.
The value is JSON::

    {"proxyId": "reviews-v1.default", "nodeId": "sidecar~127.0.0.5~reviews-v1.default~...",
     "classId": "sidecar-default-0123456789abcdef", "replica": "xds-a", "connection": "...",
     "protocol": "sotw", "connectedAt": "2026-01-01T00:00:00.000Z",
     "types": {"type.googleapis.com/envoy.config.cluster.v3.Cluster": {
         "sentVersion": "...", "sentNonce": "...", "ackedVersion": "...", "ackedNonce": "...",
         "nacked": false}},
     "lastNack": {"type": "...", "version": "...", "nonce": "...", "error": "...",
                  "time": "..."} }

``lastNack`` is ``null`` when the proxy never rejected anything on this connection.
A type is *synced* when ``ackedVersion == sentVersion``, *NACKed* when ``nacked``, else
*stale* (a response is in flight).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote

PROXIES_PREFIX = "/mizzen/proxies/"


def proxy_key(proxy_id: str) -> str:
    """The status key of ``proxy_id``."""
    return PROXIES_PREFIX + quote(proxy_id, safe="")


def proxy_id_of(key: str) -> str:
    """Inverse of :func:`proxy_key`."""
    return unquote(key.removeprefix(PROXIES_PREFIX))


def format_time(epoch_seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-01T00:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class TypeStatus:
    """One type of one proxy: the latest response sent, the latest one acknowledged."""

    sent_version: str = ""
    sent_nonce: str = ""
    acked_version: str = ""
    acked_nonce: str = ""
    nacked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "sentVersion": self.sent_version,
            "sentNonce": self.sent_nonce,
            "ackedVersion": self.acked_version,
            "ackedNonce": self.acked_nonce,
            "nacked": self.nacked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TypeStatus:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data.get("sentVersion", "")),
            str(data.get("sentNonce", "")),
            str(data.get("ackedVersion", "")),
            str(data.get("ackedNonce", "")),
            bool(data.get("nacked", False)),
        )


@dataclass(frozen=True, slots=True)
class NackRecord:
    """The last response a proxy rejected: type, version, nonce, error text, time."""

    type_url: str
    version: str
    nonce: str
    error: str
    time: str

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "type": self.type_url,
            "version": self.version,
            "nonce": self.nonce,
            "error": self.error,
            "time": self.time,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NackRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["type"]), str(data["version"]), str(data["nonce"]), str(data["error"]),
            str(data["time"]),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProxyStatus:
    """The status of one connected proxy (see the module docstring). Immutable."""

    proxy_id: str
    node_id: str
    class_id: str
    replica: str
    connection: str
    protocol: str
    connected_at: str
    types: Mapping[str, TypeStatus] = field(default_factory=lambda: MappingProxyType({}))
    last_nack: NackRecord | None = None

    @property
    def key(self) -> str:
        """Where this status is stored."""
        return proxy_key(self.proxy_id)

    def to_json(self) -> bytes:
        """The stored form (compact JSON, types sorted)."""
        data = {
            "proxyId": self.proxy_id,
            "nodeId": self.node_id,
            "classId": self.class_id,
            "replica": self.replica,
            "connection": self.connection,
            "protocol": self.protocol,
            "connectedAt": self.connected_at,
            "types": {url: s.to_dict() for url, s in sorted(self.types.items())},
            "lastNack": self.last_nack.to_dict() if self.last_nack else None,
        }
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: bytes) -> ProxyStatus:
        """Inverse of :meth:`to_json`; ``KeyError``/``ValueError`` on malformed data."""
        data: dict[str, Any] = json.loads(value)
        nack = data.get("lastNack")
        return cls(
            proxy_id=str(data["proxyId"]),
            node_id=str(data.get("nodeId", "")),
            class_id=str(data["classId"]),
            replica=str(data["replica"]),
            connection=str(data.get("connection", "")),
            protocol=str(data.get("protocol", "")),
            connected_at=str(data.get("connectedAt", "")),
            types=MappingProxyType(
                {url: TypeStatus.from_dict(s) for url, s in data.get("types", {}).items()}
            ),
            last_nack=NackRecord.from_dict(nack) if nack else None,
        )
