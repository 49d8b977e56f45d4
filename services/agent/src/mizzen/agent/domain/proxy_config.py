"""Reading an Envoy's own ``/config_dump`` (and ``/clusters?format=json``) as istioctl does.

``mizzen proxy-config clusters|listeners|routes|endpoints|bootstrap PROXY`` fetches the dumps
and prints the :class:`Table` these functions make, or the selected configs as JSON/YAML.
Istio's names are understood: ``outbound|9080|v1|reviews.default.svc.cluster.local`` splits
into service FQDN, port, subset and direction; a route's ``istio`` filter metadata
(``/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews``) names its
VirtualService. Pure functions over the parsed JSON; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mizzen.envoy import ClusterName, InvalidNameError

__all__ = [
    "Table",
    "bootstrap_of",
    "bootstrap_table",
    "cluster_configs",
    "cluster_table",
    "endpoint_statuses",
    "endpoint_table",
    "listener_configs",
    "listener_table",
    "route_configs",
    "route_table",
]

Json = Mapping[str, Any]
_DASH = "-"


@dataclass(frozen=True, slots=True)
class Table:
    """A header and rows of cells, all strings, ready to print."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _section(dump: Json, kind: str) -> Json:
    """The config of ``@type`` ``envoy.admin.v3.<kind>`` in a config dump (empty if none)."""
    for config in dump.get("configs", ()):
        if str(config.get("@type", "")).endswith(f".{kind}"):
            return dict(config)
    return {}


def bootstrap_of(dump: Json) -> dict[str, Any]:
    """The bootstrap Envoy runs with."""
    return dict(_section(dump, "BootstrapConfigDump").get("bootstrap", {}))


def cluster_configs(dump: Json) -> list[dict[str, Any]]:
    """Every cluster: static, then dynamically active, then warming."""
    section = _section(dump, "ClustersConfigDump")
    entries = [
        *section.get("static_clusters", ()),
        *section.get("dynamic_active_clusters", ()),
        *section.get("dynamic_warming_clusters", ()),
    ]
    return [dict(entry["cluster"]) for entry in entries if "cluster" in entry]


def listener_configs(dump: Json) -> list[dict[str, Any]]:
    """Every listener: static, then each dynamic one's active (else warming) state."""
    section = _section(dump, "ListenersConfigDump")
    static = section.get("static_listeners", ())
    listeners = [dict(entry["listener"]) for entry in static if "listener" in entry]
    for entry in section.get("dynamic_listeners", ()):
        state = entry.get("active_state") or entry.get("warming_state") or {}
        if "listener" in state:
            listeners.append(dict(state["listener"]))
    return listeners


def route_configs(dump: Json) -> list[dict[str, Any]]:
    """Every route configuration: static (including listeners' inline ones), then RDS."""
    section = _section(dump, "RoutesConfigDump")
    entries = [*section.get("static_route_configs", ()), *section.get("dynamic_route_configs", ())]
    return [dict(entry["route_config"]) for entry in entries if "route_config" in entry]


def endpoint_statuses(clusters: Json) -> list[dict[str, Any]]:
    """The ``cluster_statuses`` of ``/clusters?format=json``."""
    return [dict(status) for status in clusters.get("cluster_statuses", ())]


def _cluster_type(cluster: Json) -> str:
    custom = cluster.get("cluster_type")
    if custom:
        name = str(custom.get("name", ""))
        return name.rsplit(".", 1)[-1].upper() or "CUSTOM"
    return str(cluster.get("type", "STATIC"))


def cluster_table(clusters: Iterable[Json]) -> Table:
    """SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE; Istio-named clusters split into their
    parts, others (``BlackHoleCluster``, ``xds-grpc``) shown by name."""
    rows = []
    for cluster in clusters:
        name = str(cluster.get("name", ""))
        try:
            parsed = ClusterName.parse(name)
        except InvalidNameError:
            rows.append((name, _DASH, _DASH, _DASH, _cluster_type(cluster)))
            continue
        rows.append((parsed.host, str(parsed.port), parsed.subset or _DASH,
                     parsed.direction.value, _cluster_type(cluster)))  # fmt: skip
    rows.sort(key=lambda row: (row[0], _port_key(row[1]), row[2], row[3]))
    return Table(("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"), tuple(rows))


def _port_key(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _chain_match(match: Json) -> str:
    parts = []
    if "destination_port" in match:
        parts.append(f"Port: {match['destination_port']}")
    ranges = [f"{r.get('address_prefix')}/{r.get('prefix_len', 32)}"
              for r in match.get("prefix_ranges", ())]  # fmt: skip
    if ranges:
        parts.append(f"Addr: {','.join(ranges)}")
    if match.get("server_names"):
        parts.append(f"SNI: {','.join(match['server_names'])}")
    if match.get("transport_protocol"):
        parts.append(f"Trans: {match['transport_protocol']}")
    if match.get("application_protocols"):
        parts.append(f"App: {','.join(match['application_protocols'])}")
    return "; ".join(parts) or "ALL"


def _chain_destination(filters: Sequence[Json]) -> str:
    for item in filters:
        config = item.get("typed_config", {})
        kind = str(config.get("@type", "")) + str(item.get("name", ""))
        if "HttpConnectionManager" in kind or "http_connection_manager" in kind:
            if "rds" in config:
                return f"Route: {config['rds'].get('route_config_name', '')}"
            inline = config.get("route_config", {})
            return f"Inline Route: {inline.get('name')}" if inline.get("name") else "Inline Route"
        if "TcpProxy" in kind or "tcp_proxy" in kind:
            if "cluster" in config:
                return f"Cluster: {config['cluster']}"
            weighted = config.get("weighted_clusters", {}).get("clusters", ())
            return "Clusters: " + ",".join(str(c.get("name")) for c in weighted)
    return "Non-HTTP/Non-TCP"


def listener_table(listeners: Iterable[Json]) -> Table:
    """ADDRESS, PORT, MATCH, DESTINATION: one row per filter chain (and default chain)."""
    rows = []
    for listener in listeners:
        socket = listener.get("address", {}).get("socket_address", {})
        address = str(socket.get("address", ""))
        port = str(socket.get("port_value", 0))
        chains = list(listener.get("filter_chains", ()))
        default = listener.get("default_filter_chain")
        for chain in chains:
            rows.append((address, port, _chain_match(chain.get("filter_chain_match", {})),
                         _chain_destination(chain.get("filters", ()))))  # fmt: skip
        if default is not None:
            rows.append((address, port, "ALL (default)",
                         _chain_destination(default.get("filters", ()))))  # fmt: skip
        if not chains and default is None:
            rows.append((address, port, "ALL", "Non-HTTP/Non-TCP"))
    rows.sort(key=lambda row: (row[0], _port_key(row[1])))
    return Table(("ADDRESS", "PORT", "MATCH", "DESTINATION"), tuple(rows))


def _route_match(match: Json) -> str:
    if "connect_matcher" in match:
        text = "CONNECT"
    elif "path" in match:
        text = str(match["path"])
    elif "safe_regex" in match:
        text = f"~{match['safe_regex'].get('regex', '')}"
    elif "path_separated_prefix" in match:
        text = f"{match['path_separated_prefix']}/*"
    else:
        text = f"{match.get('prefix', '/')}*"
    headers = [str(h.get("name", "")) for h in match.get("headers", ())]
    params = [str(q.get("name", "")) for q in match.get("query_parameters", ())]
    if headers:
        text += f" (headers: {','.join(headers)})"
    if params:
        text += f" (query: {','.join(params)})"
    return text


def _virtual_service(route: Json) -> str:
    config = route.get("metadata", {}).get("filter_metadata", {}).get("istio", {}).get("config")
    if not config:
        return "404" if route.get("direct_response", {}).get("status") == 404 else _DASH
    parts = str(config).strip("/").split("/")
    # /apis/networking.istio.io/v1/namespaces/<namespace>/virtual-service/<name>
    if len(parts) >= 7 and parts[3] == "namespaces":
        return f"{parts[6]}.{parts[4]}"
    return str(config)


def _domains(domains: Sequence[str]) -> str:
    if len(domains) <= 2:
        return ", ".join(domains)
    return f"{domains[0]}, {domains[1]} + {len(domains) - 2} more..."


def route_table(configs: Iterable[Json]) -> Table:
    """NAME, DOMAINS, MATCH, VIRTUAL SERVICE: one row per route of each virtual host."""
    rows = []
    for config in configs:
        name = str(config.get("name", ""))
        for host in config.get("virtual_hosts", ()):
            domains = _domains([str(d) for d in host.get("domains", ())])
            for route in host.get("routes", ()):
                rows.append((name, domains, _route_match(route.get("match", {})),
                             _virtual_service(route)))  # fmt: skip
    return Table(("NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"), tuple(rows))


def _health(status: Json) -> str:
    if status.get("failed_active_health_check") or status.get("failed_eds_health"):
        return "UNHEALTHY"
    return str(status.get("eds_health_status", "HEALTHY"))


def endpoint_table(statuses: Iterable[Json]) -> Table:
    """ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER: one row per host of each cluster."""
    rows = []
    for cluster in statuses:
        for host in cluster.get("host_statuses", ()):
            socket = host.get("address", {}).get("socket_address", {})
            pipe = host.get("address", {}).get("pipe", {})
            endpoint = (f"{socket.get('address')}:{socket.get('port_value', 0)}"
                        if socket else f"unix://{pipe.get('path', '')}")  # fmt: skip
            health = host.get("health_status", {})
            outlier = "FAILED" if health.get("failed_outlier_check") else "OK"
            rows.append((endpoint, _health(health), outlier, str(cluster.get("name", ""))))
    rows.sort(key=lambda row: (row[3], row[0]))
    return Table(("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"), tuple(rows))


def bootstrap_table(bootstrap: Json) -> Table:
    """FIELD, VALUE: the node (id, cluster, metadata), admin address and xds servers."""
    node = bootstrap.get("node", {})
    rows: list[tuple[str, str]] = [("node.id", str(node.get("id", ""))),
                                   ("node.cluster", str(node.get("cluster", "")))]  # fmt: skip
    for key, value in sorted(node.get("metadata", {}).items()):
        text = str(value)
        if isinstance(value, Mapping):
            text = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        rows.append((f"node.metadata.{key}", text))
    admin = bootstrap.get("admin", {}).get("address", {}).get("socket_address", {})
    if admin:
        rows.append(("admin", f"{admin.get('address')}:{admin.get('port_value', 0)}"))
    ads = bootstrap.get("dynamic_resources", {}).get("ads_config", {})
    if ads:
        rows.append(("ads.api_type", str(ads.get("api_type", "GRPC"))))
    for cluster in bootstrap.get("static_resources", {}).get("clusters", ()):
        if cluster.get("name") != "xds-grpc":
            continue
        for locality in cluster.get("load_assignment", {}).get("endpoints", ()):
            for endpoint in locality.get("lb_endpoints", ()):
                socket = endpoint.get("endpoint", {}).get("address", {}).get("socket_address", {})
                rows.append(("xds", f"{socket.get('address')}:{socket.get('port_value', 0)}"))
    return Table(("FIELD", "VALUE"), tuple(rows))
