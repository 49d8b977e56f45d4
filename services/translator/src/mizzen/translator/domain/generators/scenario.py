"""Translation scenarios as YAML, and generated classes as plain data.

A scenario is everything a translation reads, in one document: the proxy class, the
registry and the Istio config. The golden-file tests keep one per case; a person can also
run one by hand to see what Mizzen would send a proxy::

    proxy:                        # ProxyClass fields (camelCase); defaults below
      namespace: default
      labels: {app: productpage}
      interception: NONE          # NONE (local mode), REDIRECT or TPROXY
      localAddress: 127.0.1.5
      inbound: [[9080, 19080, HTTP]]
    services:                     # registry services, as stored in etcd
      - hostname: reviews.default.svc.cluster.local
        namespace: default
        ports: [{number: 9080, protocol: HTTP, name: http}]
    endpoints:                    # registry endpoints, as stored in etcd
      - service: reviews.default.svc.cluster.local
        namespace: default
        workload: reviews-v1
        address: 127.0.2.1
        ports: {"9080": 9080}
        labels: {app: reviews, version: v1}
    config:                       # Istio resources (namespace "default" unless given)
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
        ...

:func:`generated_to_data` renders a :class:`GeneratedClass` as plain data (each resource
through protobuf's JSON mapping, proto field names), the form golden files hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml
from google.protobuf import json_format

from mizzen.api import parse_document
from mizzen.envoy import decode, short_name
from mizzen.registry import Endpoint, Registry, Service, decode_endpoint, decode_service
from mizzen.snapshots import ProxyClass
from mizzen.translator.domain.generators.model import GeneratedClass
from mizzen.translator.domain.mesh_config import DEFAULT_NAMESPACE, MeshConfig

__all__ = ["Scenario", "generated_to_data", "load_scenario"]

_PROXY_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "proxyType": "sidecar",
        "namespace": DEFAULT_NAMESPACE,
        "interception": "NONE",
        "localAddress": "127.0.1.5",
    }
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """The inputs of one translation, and the scenario's own notes."""

    config: MeshConfig
    registry: Registry
    proxy: ProxyClass
    description: str = ""
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def _registry(services: list[Any], endpoints: list[Any]) -> Registry:
    parsed_services: dict[str, Service] = {}
    for item in services:
        service = decode_service(json.dumps(item).encode())
        parsed_services[service.hostname] = service
    by_host: dict[str, list[Endpoint]] = {}
    for item in endpoints:
        endpoint = decode_endpoint(json.dumps(item).encode())
        by_host.setdefault(endpoint.service, []).append(endpoint)
    return Registry(
        services=MappingProxyType(dict(sorted(parsed_services.items()))),
        endpoints=MappingProxyType(
            {
                host: tuple(sorted(items, key=lambda e: e.endpoint_id))
                for host, items in sorted(by_host.items())
            }
        ),
    )


def load_scenario(text: str, source: str = "scenario") -> Scenario:
    """Read a scenario (see the module docstring). Raises ``ValueError`` (or the API's
    ``ValidationError``, naming ``source`` and the field) when it is malformed."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a scenario is a mapping")
    proxy = ProxyClass.from_dict({**_PROXY_DEFAULTS, **(data.get("proxy") or {})})
    resources = []
    for index, document in enumerate(data.get("config") or []):
        document.setdefault("metadata", {}).setdefault("namespace", DEFAULT_NAMESPACE)
        resources.append(parse_document(document, source, index))
    return Scenario(
        config=MeshConfig.from_resources(resources),
        registry=_registry(data.get("services") or [], data.get("endpoints") or []),
        proxy=proxy,
        description=str(data.get("description") or ""),
        data=MappingProxyType(data),
    )


def _plain(text: str) -> Any:
    # Through JSON text rather than MessageToDict: packed Any values come back as
    # OrderedDicts there, which YAML's safe dumper refuses.
    return json.loads(text)


def generated_to_data(generated: GeneratedClass) -> dict[str, Any]:
    """``generated`` as plain data: each set's id, type and resources (JSON mapping)."""
    return {
        "sets": [
            {
                "id": s.set_id,
                "type": short_name(s.type_url),
                "resources": [
                    _plain(json_format.MessageToJson(decode(r), preserving_proto_field_name=True))
                    for r in s.resources
                ],
            }
            for s in generated.sets
        ]
    }
