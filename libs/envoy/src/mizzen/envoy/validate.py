"""Prove configs with Envoy itself: ``envoy --mode validate``.

Envoy's validate mode loads a bootstrap, builds every listener, cluster and route from it
exactly as a running Envoy would, and exits 0 or prints why not; it binds no port and opens
no connection. xDS resources are not in a bootstrap, so :func:`validation_bootstrap` places
them there in a form Envoy checks as thoroughly as it would over xDS:

- clusters, listeners and secrets go into ``static_resources`` unchanged;
- an EDS cluster whose ClusterLoadAssignment is among the resources becomes a STATIC
  cluster with that assignment as its ``load_assignment`` (so the endpoints are checked
  too); an EDS cluster without one stays EDS, which validate accepts because the
  bootstrap configures ADS; an assignment no cluster uses gets a STATIC cluster of its own
  (``mizzen-validate|eds|<name>``);
- a listener's HTTP connection manager that names a route configuration over RDS gets that
  route configuration inlined (``route_config``); a route configuration no listener uses
  gets a listener of its own (``mizzen-validate|rds|<name>`` on ``127.0.0.1:0``, which
  validate mode never binds); an RDS name with no route configuration stays RDS;
- ECDS resources have no static slot, and a type this package does not know has no place
  either: both raise :class:`~mizzen.envoy.errors.ResourceError` rather than being
  silently skipped.

The bootstrap is written as a binary ``.pb`` file so that no JSON conversion (which would
need every nested ``Any`` type's descriptor in this process) stands between the resource
bytes and Envoy.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from google.protobuf import json_format
from google.protobuf.message import Message

from mizzen.envoy.errors import ResourceError, ValidationRunError
from mizzen.envoy.resources import EnvoyResource, decode, pack
from mizzen.envoy.types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
    type_url_of,
)
from mizzen.launcher import BinaryNotFoundError, find_binary

__all__ = [
    "ValidationResult",
    "validate_bootstrap",
    "validate_resources",
    "validation_bootstrap",
]

log = structlog.get_logger(__name__)

_ADS_CLUSTER = "mizzen-validate-ads"
_HCM = http_connection_manager_pb2.HttpConnectionManager
_HCM_TYPE_URL = type_url_of(_HCM())
_ERROR_MARKER = "error initializing configuration '"


class ValidationResult(NamedTuple):
    """What Envoy said: ``ok`` and, when not ok, Envoy's reason (``""`` when ok).

    Unpacks as a pair: ``ok, error = await validate_resources(...)``."""

    ok: bool
    error: str


def _default_base() -> Any:
    base = bootstrap_pb2.Bootstrap()
    base.node.id = "sidecar~127.0.0.1~validate.mizzen~mizzen.svc.cluster.local"
    base.node.cluster = "validate.mizzen"
    ads = base.dynamic_resources.ads_config
    ads.api_type = ads.GRPC
    ads.transport_api_version = config_source_pb2.V3
    ads.grpc_services.add().envoy_grpc.cluster_name = _ADS_CLUSTER
    cluster = base.static_resources.clusters.add(name=_ADS_CLUSTER, type=cluster_pb2.Cluster.STATIC)
    cluster.connect_timeout.FromSeconds(1)
    endpoint = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint
    endpoint.address.socket_address.address = "127.0.0.1"
    endpoint.address.socket_address.port_value = 1
    cluster.load_assignment.cluster_name = _ADS_CLUSTER
    return base


def _inline_routes(listener: Any, routes: dict[str, Any], used: set[str]) -> None:
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    for chain in chains:
        for network_filter in chain.filters:
            if network_filter.typed_config.type_url != _HCM_TYPE_URL:
                continue
            hcm = _HCM.FromString(network_filter.typed_config.value)
            if hcm.WhichOneof("route_specifier") != "rds":
                continue
            route = routes.get(hcm.rds.route_config_name)
            if route is None:
                continue
            used.add(route.name)
            hcm.route_config.CopyFrom(route)  # replaces the rds oneof member
            network_filter.typed_config.CopyFrom(pack(hcm))


def _route_listener(route: Any) -> Any:
    listener = listener_pb2.Listener(name=f"mizzen-validate|rds|{route.name}")
    listener.address.socket_address.address = "127.0.0.1"
    listener.address.socket_address.port_value = 0
    hcm = _HCM(stat_prefix="mizzen_validate")
    hcm.route_config.CopyFrom(route)
    router = hcm.http_filters.add(name="envoy.filters.http.router")
    router.typed_config.type_url = (
        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    )
    network_filter = listener.filter_chains.add().filters.add(
        name="envoy.filters.network.http_connection_manager"
    )
    network_filter.typed_config.CopyFrom(pack(hcm))
    return listener


def validation_bootstrap(
    resources: Iterable[EnvoyResource], *, base: Message | None = None
) -> Message:
    """A Bootstrap holding ``resources`` as static resources (see the module docstring).

    ``base`` (copied, never altered) supplies the node, ADS configuration and any static
    resources of its own, e.g. a proxy's real bootstrap from
    :func:`~mizzen.envoy.bootstrap.bootstrap_message`; without one, a minimal base with a
    node and an ADS cluster is used. Pure: runs no process. Raises :class:`ResourceError`
    for resources that cannot be placed or decoded.
    """
    bootstrap: Any = bootstrap_pb2.Bootstrap()
    bootstrap.CopyFrom(base if base is not None else _default_base())
    by_type: dict[str, list[Any]] = {}
    for resource in resources:
        if resource.type_url not in (
            CLUSTER_TYPE,
            ENDPOINT_TYPE,
            LISTENER_TYPE,
            ROUTE_TYPE,
            SECRET_TYPE,
        ):
            raise ResourceError(
                f"{resource.type_url} resources cannot be placed in a bootstrap",
                name=resource.name,
                type_url=resource.type_url,
            )
        by_type.setdefault(resource.type_url, []).append(decode(resource))
    assignments = {cla.cluster_name: cla for cla in by_type.get(ENDPOINT_TYPE, [])}
    routes = {route.name: route for route in by_type.get(ROUTE_TYPE, [])}
    static = bootstrap.static_resources
    used: set[str] = set()
    for cluster in by_type.get(CLUSTER_TYPE, []):
        if cluster.WhichOneof("cluster_discovery_type") == "type" and cluster.type == cluster.EDS:
            service = cluster.eds_cluster_config.service_name or cluster.name
            if service in assignments:
                used.add(service)
                cluster.ClearField("eds_cluster_config")
                cluster.type = cluster.STATIC
                cluster.load_assignment.CopyFrom(assignments[service])
                cluster.load_assignment.cluster_name = cluster.name
        static.clusters.append(cluster)
    for name, assignment in assignments.items():
        if name not in used:
            orphan = static.clusters.add(
                name=f"mizzen-validate|eds|{name}", type=cluster_pb2.Cluster.STATIC
            )
            orphan.connect_timeout.FromSeconds(1)
            orphan.load_assignment.CopyFrom(assignment)
    used_routes: set[str] = set()
    for listener in by_type.get(LISTENER_TYPE, []):
        _inline_routes(listener, routes, used_routes)
        static.listeners.append(listener)
    for name, route in routes.items():
        if name not in used_routes:
            static.listeners.append(_route_listener(route))
    static.secrets.extend(by_type.get(SECRET_TYPE, []))
    result: Message = bootstrap
    return result


def _error_text(output: str) -> str:
    """Envoy's reason without the log prefix and the temporary file's path."""
    start = output.find(_ERROR_MARKER)
    if start < 0:
        return output.strip()
    rest = output[start + len(_ERROR_MARKER) :]
    _, sep, reason = rest.partition("': ")
    return (reason if sep else rest).strip()


async def validate_bootstrap(
    bootstrap: Message | Mapping[str, Any], *, timeout: float = 30.0
) -> ValidationResult:
    """Run ``envoy --mode validate`` on ``bootstrap`` and return Envoy's verdict.

    ``bootstrap`` is a Bootstrap message or its JSON form (as
    :func:`~mizzen.envoy.bootstrap.build_bootstrap` returns it); a dict that does not even
    parse as a Bootstrap is a rejected config too, with the parser's reason.
    Raises :class:`ValidationRunError` when Envoy cannot be run (binary missing) or does not
    finish within ``timeout`` seconds; a rejected config is ``ValidationResult(False, why)``.
    Safe to call concurrently: each call uses its own temporary directory.
    """
    try:
        envoy = find_binary("envoy")
    except BinaryNotFoundError as exc:
        raise ValidationRunError(str(exc)) from exc
    if isinstance(bootstrap, Message):
        message = bootstrap
    else:
        message = bootstrap_pb2.Bootstrap()
        try:
            json_format.ParseDict(dict(bootstrap), message)
        except json_format.ParseError as exc:
            return ValidationResult(False, str(exc))
    body = message.SerializeToString(deterministic=True)
    work_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mizzen-validate-"))
    config_path = work_dir / "bootstrap.pb"
    try:
        await asyncio.to_thread(config_path.write_bytes, body)
        process = await asyncio.create_subprocess_exec(
            str(envoy),
            "--mode", "validate",
            "--config-path", str(config_path),
            "--log-level", "error",
            "--disable-hot-restart",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            async with asyncio.timeout(timeout):
                output, _ = await process.communicate()
        except TimeoutError as exc:
            raise ValidationRunError(f"no verdict within {timeout}s") from exc
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        await asyncio.to_thread(shutil.rmtree, work_dir, True)
    text = output.decode(errors="replace")
    if process.returncode == 0:
        return ValidationResult(True, "")
    error = _error_text(text)
    log.info("envoy validate rejected config", returncode=process.returncode, error=error)
    return ValidationResult(False, error)


async def validate_resources(
    resources: Iterable[EnvoyResource], *, base: Message | None = None, timeout: float = 30.0
) -> ValidationResult:
    """Validate xDS resources with Envoy: :func:`validation_bootstrap` then
    :func:`validate_bootstrap`. Raises :class:`ResourceError` for resources that cannot be
    placed and :class:`ValidationRunError` when Envoy cannot be run."""
    return await validate_bootstrap(validation_bootstrap(resources, base=base), timeout=timeout)
