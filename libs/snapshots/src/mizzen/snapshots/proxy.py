"""Proxy classes: proxies whose translation inputs are identical share one class.

A class is everything the translator needs to know about a proxy, and nothing more: two
replicas of a workload (same namespace, labels, service account, inbound ports, network,
cluster, type and interception mode) get the same class id and so the same snapshot. In local
interception mode the proxy's own loopback address is an input too (its listeners bind it).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.registry import Protocol, frozen_map, protocol_of

# Node metadata keys (Istio's, plus Mizzen's own for what Istio derives from Kubernetes).
META_NAMESPACE = "NAMESPACE"
META_LABELS = "LABELS"
META_SERVICE_ACCOUNT = "SERVICE_ACCOUNT"
META_CLUSTER_ID = "CLUSTER_ID"
META_NETWORK = "NETWORK"
META_INTERCEPTION_MODE = "INTERCEPTION_MODE"
META_LOCAL_ADDRESS = "LOCAL_ADDRESS"
META_INBOUND = "MIZZEN_INBOUND"
"""``<service port>:<app port>:<protocol>`` entries, comma-separated, e.g. ``9080:19080:HTTP``."""


class ProxyType(enum.StrEnum):
    """Sidecars route for one workload; routers (gateways) serve Gateway resources."""

    SIDECAR = "sidecar"
    ROUTER = "router"
    PROXYLESS = "proxyless"


class Interception(enum.StrEnum):
    """How traffic reaches the proxy.

    NONE is Mizzen's local mode: the proxy binds the workload's own loopback address, takes
    inbound traffic on the service ports there and outbound traffic as an HTTP proxy on 15001.
    REDIRECT and TPROXY are Istio's capture modes (iptables), for Kubernetes.
    """

    NONE = "NONE"
    REDIRECT = "REDIRECT"
    TPROXY = "TPROXY"


@dataclass(frozen=True, slots=True, order=True)
class InboundPort:
    """A service port the workload serves, and the port its app listens on."""

    port: int
    target_port: int
    protocol: Protocol = Protocol.HTTP


@dataclass(frozen=True, slots=True)
class ProxyClass:
    """The translation inputs of a proxy. Equal inputs, equal class id, equal snapshot."""

    proxy_type: ProxyType
    namespace: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    service_account: str = "default"
    cluster_id: str = "Kubernetes"
    network: str = ""
    interception: Interception = Interception.NONE
    local_address: str = ""
    inbound: tuple[InboundPort, ...] = ()
    locality: str = ""
    """Where the proxy runs, ``region/zone/sub_zone`` (Envoy's ``node.locality``), for
    locality-aware load balancing; empty when unknown."""

    def to_dict(self) -> dict[str, Any]:
        """Canonical plain data (sorted labels and ports): what the class id hashes. The
        locality appears only when known (so classes without one keep their ids)."""
        data = {
            "proxyType": self.proxy_type.value,
            "namespace": self.namespace,
            "labels": dict(sorted(self.labels.items())),
            "serviceAccount": self.service_account,
            "clusterId": self.cluster_id,
            "network": self.network,
            "interception": self.interception.value,
            "localAddress": self.local_address,
            "inbound": [[p.port, p.target_port, p.protocol.value] for p in sorted(self.inbound)],
        }
        if self.locality:
            data["locality"] = self.locality
        return data

    @property
    def class_id(self) -> str:
        """``<type>-<namespace>-<16 hex digits of sha256(inputs)>``: readable and unique."""
        digest = hashlib.sha256(self.to_json()).hexdigest()[:16]
        return f"{self.proxy_type.value}-{self.namespace}-{digest}"

    def to_json(self) -> bytes:
        """The stored form (canonical JSON)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProxyClass:
        """Inverse of :meth:`to_dict` (``KeyError``/``ValueError`` on malformed data)."""
        return cls(
            proxy_type=ProxyType(data["proxyType"]),
            namespace=data["namespace"],
            labels=frozen_map(data.get("labels")),
            service_account=data.get("serviceAccount", "default"),
            cluster_id=data.get("clusterId", "Kubernetes"),
            network=data.get("network", ""),
            interception=Interception(data.get("interception", "NONE")),
            local_address=data.get("localAddress", ""),
            inbound=tuple(
                InboundPort(int(p[0]), int(p[1]), protocol_of(str(p[2])))
                for p in data.get("inbound", [])
            ),
            locality=str(data.get("locality", "")),
        )

    @classmethod
    def from_json(cls, value: bytes) -> ProxyClass:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(value)
        return cls.from_dict(data)

    @classmethod
    def from_node_metadata(
        cls, proxy_type: ProxyType, metadata: Mapping[str, Any], *, locality: str = ""
    ) -> ProxyClass:
        """The class of a proxy from its Envoy node metadata (Istio's keys; see module) and
        its node's ``locality`` (``region/zone/sub_zone``).

        ``LABELS`` may be a mapping or a JSON string; a missing namespace is ``default``.
        Raises ``ValueError`` naming the key that is malformed.
        """
        labels = metadata.get(META_LABELS) or {}
        if isinstance(labels, str):
            labels = json.loads(labels) if labels else {}
        if not isinstance(labels, Mapping):
            raise ValueError(f"node metadata {META_LABELS} must be a map of strings")
        interception = str(metadata.get(META_INTERCEPTION_MODE) or "NONE").upper()
        try:
            mode = Interception(interception)
        except ValueError as exc:
            raise ValueError(f"node metadata {META_INTERCEPTION_MODE}: {interception!r} is not "
                             "one of NONE, REDIRECT, TPROXY") from exc  # fmt: skip
        return cls(
            proxy_type=proxy_type,
            namespace=str(metadata.get(META_NAMESPACE) or "default"),
            labels=frozen_map({str(k): str(v) for k, v in labels.items()}),
            service_account=str(metadata.get(META_SERVICE_ACCOUNT) or "default"),
            cluster_id=str(metadata.get(META_CLUSTER_ID) or "Kubernetes"),
            network=str(metadata.get(META_NETWORK) or ""),
            interception=mode,
            local_address=str(metadata.get(META_LOCAL_ADDRESS) or "")
            if mode is Interception.NONE
            else "",
            inbound=parse_inbound(str(metadata.get(META_INBOUND) or "")),
            locality=locality,
        )


def parse_inbound(text: str) -> tuple[InboundPort, ...]:
    """Parse ``9080:19080:HTTP,9090:19090:GRPC`` (protocol optional, default HTTP)."""
    ports = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not parts[0].isdigit() or not parts[1].isdigit():
            raise ValueError(f"node metadata {META_INBOUND}: {entry!r} is not "
                             "<port>:<target port>[:<protocol>]")  # fmt: skip
        protocol = protocol_of(parts[2]) if len(parts) == 3 else Protocol.HTTP
        ports.append(InboundPort(int(parts[0]), int(parts[1]), protocol))
    return tuple(sorted(ports))


def format_inbound(ports: tuple[InboundPort, ...]) -> str:
    """Inverse of :func:`parse_inbound`."""
    return ",".join(f"{p.port}:{p.target_port}:{p.protocol.value}" for p in sorted(ports))
