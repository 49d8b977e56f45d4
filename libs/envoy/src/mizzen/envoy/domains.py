"""The ``domains`` of an outbound virtual host: every Host header that names a service.

Istio (``generateVirtualHostDomains`` / ``GenerateAltVirtualHosts`` in
``pilot/pkg/networking/core/httproute.go``) matches a service by its FQDN, by the shorter
names Kubernetes DNS resolves from the caller's namespace, and by the service's addresses:

- always the FQDN, e.g. ``reviews.default.svc.cluster.local``;
- for a Kubernetes-style host ``<name>.<ns>.svc.<suffix>`` seen from a proxy whose DNS domain
  is ``<proxy ns>.svc.<suffix>``: from the same namespace ``reviews``, ``reviews.default.svc``
  and ``reviews.default``; from another namespace only ``reviews.default`` and
  ``reviews.default.svc`` (a bare ``reviews`` there means that namespace's own service);
- nothing short for hosts outside the mesh's DNS suffix (``api.example.com``) or for
  wildcard hosts (``*.example.com``): a shortened name could collide with another service;
- then each service address (IPv6 in brackets).

Whether each name also appears as ``name:port`` depends on how the route configuration
matches ports, which is :class:`PortMatching`:

- ``IGNORED``: only bare names. Istio does this for every sidecar listener bound to a service
  port and sets ``ignore_port_in_host_matching: true`` on the RouteConfiguration, so that
  ``reviews:9080`` still matches ``reviews``. The RouteConfiguration must set that flag.
- ``BOTH``: every name bare and with ``:port``, in Istio's order (``name``, ``name:port``).
  Istio does this for proxyless gRPC (which keeps ports in its matching) and did it for
  sidecars before ``ignore_port_in_host_matching`` existed.
- ``HTTP_PROXY``: the ``http_proxy`` route configuration merges every port of every service
  into one RouteConfiguration; a bare name there would be claimed by every port of the
  service (and Envoy rejects a domain that two virtual hosts share). Istio keeps the bare
  names only for port 80 (what a client sends when it omits the port) and only the
  ``:port`` forms for every other port. Mizzen's local interception (the app's
  ``http_proxy=http://<its address>:15001``) uses this.

Order follows Istio, so that config dumps compare line by line. Not reproduced: Istio's
headless-service ``*.`` domains and the optional absolute-FQDN (trailing dot) variant,
both behind features Mizzen does not have yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from mizzen.envoy.names import DEFAULT_DNS_SUFFIX, host_port, ipv6_compliant

__all__ = ["PortMatching", "alternate_hosts", "virtual_host_domains"]

_HTTP_DEFAULT_PORT = 80


class PortMatching(StrEnum):
    """How the RouteConfiguration that holds the virtual host matches the Host's port."""

    IGNORED = "ignored"
    BOTH = "both"
    HTTP_PROXY = "http_proxy"


def alternate_hosts(hostname: str, proxy_namespace: str, dns_suffix: str) -> list[str]:
    """The shorter names Kubernetes DNS resolves to ``hostname`` from ``proxy_namespace``,
    without ports, in Istio's order; empty when ``hostname`` is not a
    ``<name>.<ns>.svc.<dns_suffix>`` host or is a wildcard."""
    kube_suffix = f".svc.{dns_suffix}"
    if hostname.startswith("*") or not hostname.endswith(kube_suffix):
        return []
    name_ns = hostname.removesuffix(kube_suffix)  # "reviews.default"
    name, dot, namespace = name_ns.partition(".")
    if not dot or not name or not namespace:
        return []
    if namespace == proxy_namespace:
        return [name, f"{name_ns}.svc", name_ns]
    return [name_ns, f"{name_ns}.svc"]


def _with_port(names: Iterable[str], port: int, matching: PortMatching) -> list[str]:
    out: list[str] = []
    bare = matching is not PortMatching.HTTP_PROXY or port == _HTTP_DEFAULT_PORT
    ported = matching is not PortMatching.IGNORED
    for name in names:
        if bare:
            out.append(ipv6_compliant(name))
        if ported:
            out.append(host_port(name, port))
    return out


def virtual_host_domains(
    hostname: str,
    port: int,
    *,
    proxy_namespace: str,
    matching: PortMatching,
    dns_suffix: str = DEFAULT_DNS_SUFFIX,
    addresses: Iterable[str] = (),
) -> list[str]:
    """Every domain of the virtual host for service ``hostname`` on ``port`` as seen by a
    proxy in ``proxy_namespace``: the FQDN, its alternate short forms, then ``addresses``
    (the service's VIPs; ``0.0.0.0`` and empty strings are skipped, as Istio does), each
    bare and/or with ``:port`` as ``matching`` says. The result has no duplicates and a
    stable order; the caller owns it."""
    names = [hostname, *alternate_hosts(hostname, proxy_namespace, dns_suffix)]
    names += [address for address in addresses if address and address != "0.0.0.0"]
    domains = _with_port(names, port, matching)
    return list(dict.fromkeys(domains))
