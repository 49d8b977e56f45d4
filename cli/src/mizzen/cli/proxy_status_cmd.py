"""``mizzen proxy-status``: every connected proxy, its class, and what it has ACKed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from mizzen.cli.mesh.control import environment_with_mesh_defaults
from mizzen.cli.output import table
from mizzen.envoy import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from mizzen.snapshots.status import PROXIES_PREFIX, ProxyStatus, TypeStatus
from mizzen.store import StoreError, list_prefix, open_store

_COLUMNS = (("CDS", CLUSTER_TYPE), ("LDS", LISTENER_TYPE), ("EDS", ENDPOINT_TYPE),
            ("RDS", ROUTE_TYPE))  # fmt: skip


def sync_state(status: TypeStatus | None) -> str:
    """SYNCED (the last response sent was ACKed), NACKED, STALE (a response is unanswered),
    or NOT SENT — Istio's proxy-status words."""
    if status is None or not status.sent_version:
        return "NOT SENT"
    if status.nacked:
        return "NACKED"
    return "SYNCED" if status.acked_version == status.sent_version else "STALE"


async def read_statuses(store_url: str) -> list[ProxyStatus]:
    """Every proxy status stored under ``/mizzen/proxies/``, sorted by proxy id."""
    async with await open_store(store_url) as store:
        listing = await list_prefix(store, PROXIES_PREFIX.encode())
    return sorted((ProxyStatus.from_json(kv.value) for kv in listing.kvs),
                  key=lambda s: s.proxy_id)  # fmt: skip


def _row(status: ProxyStatus) -> list[str]:
    states = [sync_state(status.types.get(type_url)) for _, type_url in _COLUMNS]
    return [status.proxy_id, status.class_id, *states, status.replica, status.protocol]


def _as_dict(status: ProxyStatus) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(status.to_json())
    data["sync"] = {name: sync_state(status.types.get(url)) for name, url in _COLUMNS}
    return data


@click.command("proxy-status")
@click.argument("proxy", required=False)
@click.option("--store", "store_url", envvar="MIZZEN_STORE_URL", default=None,
              help="The mesh's store (etcd://host:port); default: the running mesh's.")  # fmt: skip
@click.option("-o", "--output", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True)  # fmt: skip
def proxy_status(proxy: str | None, store_url: str | None, fmt: str) -> None:
    """Show every proxy connected to xds: its class and, per xDS type, whether it is SYNCED,
    STALE (a response not yet ACKed), NACKED (with the error) or NOT SENT.

    \b
    Examples:
      mizzen proxy-status
      mizzen proxy-status reviews-v1.default -o json
    """
    url = store_url or environment_with_mesh_defaults().get("MIZZEN_STORE_URL")
    if not url:
        raise click.ClickException(
            "no running mesh found and no store given; use --store etcd://HOST:PORT "
            "or MIZZEN_STORE_URL"
        )
    try:
        statuses = asyncio.run(read_statuses(url))
    except StoreError as exc:
        raise click.ClickException(f"cannot read proxy status from {url}: {exc}") from exc
    if proxy:
        statuses = [s for s in statuses if proxy in (s.proxy_id, s.node_id)]
        if not statuses:
            raise click.ClickException(f"no connected proxy {proxy!r}")
    if fmt == "json":
        click.echo(json.dumps([_as_dict(s) for s in statuses], indent=2))
        return
    if not statuses:
        click.echo("No proxies connected.", err=True)
        return
    header = ["NAME", "CLASS", *(name for name, _ in _COLUMNS), "XDS REPLICA", "PROTOCOL"]
    click.echo(table([header, *(_row(s) for s in statuses)]))
    for status in statuses:
        nack = status.last_nack
        if nack is not None:
            kind = nack.type_url.rsplit(".", 1)[-1]
            click.echo(f"{status.proxy_id}: last NACK ({kind}, {nack.time}): {nack.error}",
                       err=True)  # fmt: skip
