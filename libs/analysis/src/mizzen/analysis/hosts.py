"""Host names as analysis compares them: FQDNs, wildcards, gateway hosts, exportTo scopes."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CLUSTER_DOMAIN",
    "MESH_GATEWAY",
    "export_scopes",
    "gateway_hosts_for_namespace",
    "hosts_match",
    "namespace_of_host",
    "resolve_gateway",
    "to_fqdn",
]

CLUSTER_DOMAIN = "svc.cluster.local"
MESH_GATEWAY = "mesh"


def to_fqdn(host: str, namespace: str) -> str:
    """A short service name completed in `namespace` (`reviews` -> `reviews.ns.svc...`).

    Names with a dot, and wildcards, are kept as they are (as Istio's analyzers do).
    """
    if host.startswith("*") or "." in host:
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def hosts_match(a: str, b: str) -> bool:
    """True when two host names (either may be a wildcard such as `*.example.com`) overlap."""
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild and b_wild:
        shorter, longer = sorted((a[1:], b[1:]), key=len)
        return longer.endswith(shorter)
    if a_wild:
        return b.endswith(a[1:])
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def namespace_of_host(fqdn: str) -> str | None:
    """The namespace of a Kubernetes service host (`name.ns.svc.cluster.local` or
    `*.ns.svc.cluster.local`), or None for any other host."""
    suffix = "." + CLUSTER_DOMAIN
    if not fqdn.endswith(suffix):
        return None
    parts = fqdn[: -len(suffix)].split(".")
    if len(parts) != 2 or not parts[1] or parts[1] == "*":
        return None
    return parts[1]


def resolve_gateway(reference: str, namespace: str) -> tuple[str, str]:
    """The (namespace, name) a VirtualService's gateway reference points to.

    `ns/name` is explicit; a bare `name` is in the VirtualService's `namespace`; the legacy
    `name.ns` form is read as Istio's router reads it.
    """
    if "/" in reference:
        ns, _, name = reference.partition("/")
        return ns, name
    if "." in reference:
        name, _, rest = reference.partition(".")
        return rest.partition(".")[0], name
    return namespace, reference


def gateway_hosts_for_namespace(
    server_hosts: Sequence[str], gateway_namespace: str, namespace: str
) -> list[str]:
    """The hosts of a gateway's servers that VirtualServices of `namespace` may bind to.

    Server hosts are `[ns/]host`: `./host` means the gateway's own namespace, `*/host` or a
    bare host any namespace.
    """
    out: list[str] = []
    for entry in server_hosts:
        ns, slash, host = entry.partition("/")
        if not slash:
            out.append(entry)
            continue
        ns = gateway_namespace if ns == "." else ns
        if ns in ("*", namespace):
            out.append(host)
    return out


def export_scopes(export_to: Sequence[str] | None, namespace: str) -> list[str]:
    """The namespaces a resource is visible in: `["*"]` for all (the default), else the
    named ones (`.` is the resource's own namespace), sorted."""
    if not export_to or "*" in export_to:
        return ["*"]
    return sorted({namespace if e == "." else e for e in export_to})
