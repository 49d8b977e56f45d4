"""``mizzen proxy-config clusters|listeners|routes|endpoints|bootstrap PROXY``: what one Envoy
actually runs, read from its own admin interface (as ``istioctl proxy-config`` does)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import click
import yaml

from mizzen.agent import ADMIN_PORT
from mizzen.agent.domain import proxy_config as pc
from mizzen.cli.client import CommandError, discovery_of, list_workloads
from mizzen.cli.defaults import DEFAULT_DISCOVERY
from mizzen.cli.output import table
from mizzen.launcher.probe import http_get

ADMIN_TIMEOUT = 5.0

_KINDS: dict[str, tuple[Callable[[Any], list[dict[str, Any]]], Callable[[Any], pc.Table]]] = {
    "clusters": (pc.cluster_configs, pc.cluster_table),
    "listeners": (pc.listener_configs, pc.listener_table),
    "routes": (pc.route_configs, pc.route_table),
    "endpoints": (pc.endpoint_statuses, pc.endpoint_table),
}


def _admin_address(proxy: str) -> tuple[str, int] | None:
    """``host:port`` or a bare IP address (port 15000) given directly; else ``None``."""
    host, sep, port = proxy.rpartition(":")
    if sep and port.isdigit():
        return host.strip("[]"), int(port)
    try:
        ipaddress.ip_address(proxy)
    except ValueError:
        return None
    return proxy, ADMIN_PORT


async def _workload_address(discovery: str, name: str, namespace: str) -> str:
    hint = (f"needed to find {name}.{namespace}: use --discovery, or give the admin address "
            f"(<address>:{ADMIN_PORT}) instead")  # fmt: skip
    listing = await list_workloads(discovery, namespace, hint=hint, timeout=ADMIN_TIMEOUT)
    for instance in listing.workloads:
        if instance.workload.name == name:
            return str(instance.workload.address)
    known = ", ".join(sorted(w.workload.name for w in listing.workloads)) or "none"
    raise CommandError(
        f"no workload {name!r} in namespace {namespace!r} (workloads there: {known})"
    )


async def _admin_json(host: str, port: int, path: str) -> Any:
    try:
        status, body = await http_get(host, port, path, timeout=ADMIN_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CommandError(
            f"cannot read {path} from the Envoy admin interface at {host}:{port}: {exc}"
        ) from exc
    if status != 200:
        raise CommandError(f"{host}:{port}{path} answered {status}: {body[:200]!r}")
    return json.loads(body)


async def _fetch(kind: str, proxy: str, namespace: str, discovery: str) -> Any:
    target = _admin_address(proxy)
    if target is None:
        name, _, qualified = proxy.partition(".")
        address = await _workload_address(discovery, name, qualified or namespace)
        target = (address, ADMIN_PORT)
    host, port = target
    if kind == "endpoints":
        return await _admin_json(host, port, "/clusters?format=json")
    return await _admin_json(host, port, "/config_dump")


@click.command(
    "proxy-config",
    epilog="""\b
Examples:
  mizzen proxy-config clusters reviews-v2             clusters of the workload reviews-v2
  mizzen proxy-config routes productpage.shop -o yaml routes of productpage in namespace shop
  mizzen proxy-config endpoints 127.1.0.3:15000       by admin address
""",
)
@click.argument("kind", type=click.Choice([*_KINDS, "bootstrap"]))
@click.argument("proxy")
@click.option("--output", "-o", type=click.Choice(["table", "json", "yaml"]), default="table",
              show_default=True, help="Output format.")  # fmt: skip
@click.option("--namespace", "-n", default="default", show_default=True,
              help="The namespace of PROXY, unless given as name.namespace.")  # fmt: skip
@click.option("--discovery", envvar="MIZZEN_DISCOVERY", default=None, metavar="HOST:PORT",
              help="Discovery, to find PROXY's address; also MIZZEN_DISCOVERY [the running "
              f"mesh's, else {DEFAULT_DISCOVERY}].")  # fmt: skip
def proxy_config(kind: str, proxy: str, output: str, namespace: str, discovery: str | None) -> None:
    """Show the KIND of config that PROXY's Envoy runs, from its own admin interface.

    PROXY is a workload name (name or name.namespace; its address comes from discovery) or
    the admin address of an Envoy (HOST:PORT, or an IP address for port 15000).
    """
    raw = asyncio.run(_fetch(kind, proxy, namespace, discovery_of(discovery)))
    configs: Any
    if kind == "bootstrap":
        configs = pc.bootstrap_of(raw)
        result = pc.bootstrap_table(configs)
    else:
        select, render = _KINDS[kind]
        configs = select(raw)
        result = render(configs)
    if output == "json":
        click.echo(json.dumps(configs, indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(configs, sort_keys=False).rstrip())
    else:
        click.echo(table([result.header, *result.rows]))


__all__ = ["proxy_config"]
