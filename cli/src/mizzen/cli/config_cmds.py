"""``apply``, ``get``, ``delete``, ``history`` and ``rollback``: the config verbs."""

from __future__ import annotations

import asyncio
from typing import Any

import click
import yaml

from mizzen.api import lookup_kind
from mizzen.cli import output
from mizzen.cli.client import applied_by, call, server_of
from mizzen.cli.sources import read_sources
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc

Stub = config_pb2_grpc.ConfigServiceStub

_CHANGE_WORDS = {
    pb.CHANGE_TYPE_CREATED: "created",
    pb.CHANGE_TYPE_CONFIGURED: "configured",
    pb.CHANGE_TYPE_UNCHANGED: "unchanged",
    pb.CHANGE_TYPE_DELETED: "deleted",
}

namespace_option = click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace to act in."
)
files_option = click.option(
    "-f", "--filename", "files", multiple=True, metavar="FILE|DIR|-",
    help="A YAML/JSON file, a directory of them, or - for standard input (repeatable).",
)  # fmt: skip


def _kind(name: str) -> str:
    info = lookup_kind(name)
    if info is None:
        raise click.BadParameter(
            f"unknown kind {name!r}; try vs, dr, gw, se, sidecar, we, wg, pa, ra, ap, telemetry",
            param_hint="KIND",
        )
    return info.kind


def _server(ctx: click.Context) -> str:
    return server_of(ctx)


@click.command()
@files_option
@namespace_option
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; store nothing.")
@click.pass_context
def apply(ctx: click.Context, *, files: tuple[str, ...], namespace: str, dry_run: bool) -> None:
    """Validate every document, then store all of them or none.

    \b
    Examples:
      mizzen apply -f reviews-v2.yaml
      mizzen apply -f samples/ -n bookinfo
      cat vs.yaml | mizzen apply -f -
    """
    if not files:
        raise click.UsageError("give at least one -f FILE|DIR|-")
    sources = read_sources(files)
    request = pb.ApplyRequest(files=sources, dry_run=dry_run, applied_by=applied_by(),
                              default_namespace=namespace)  # fmt: skip
    response = asyncio.run(call(_server(ctx), lambda stub: stub.Apply(request)))
    suffix = " (dry run)" if dry_run else ""
    for result in response.results:
        kind = result.resource.kind.lower()
        click.echo(f"{kind}/{result.resource.name} {_CHANGE_WORDS[result.change]}{suffix}")


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List across every namespace.")
@click.option("-l", "--selector", default="", help="Label selector, e.g. app=reviews,version!=v1.")
@click.option("-o", "--output", "fmt", type=click.Choice(output.FORMATS), default="table",
              show_default=True)  # fmt: skip
@click.pass_context
def get(ctx: click.Context, *, kind: str, name: str | None, namespace: str, all_namespaces: bool,
        selector: str, fmt: str) -> None:  # fmt: skip
    """Show resources of KIND (all kinds: `all`), or the one named NAME.

    \b
    Examples:
      mizzen get vs
      mizzen get dr reviews -o yaml
      mizzen get all -A
    """
    server = _server(ctx)
    if name:
        key = pb.ResourceKey(kind=_kind(kind), namespace=namespace, name=name)
        resource = asyncio.run(call(server, lambda stub: stub.Get(pb.GetRequest(key=key))))
        click.echo(output.render([resource], fmt, all_namespaces=False))
        return
    request = pb.ListRequest(kind="" if kind == "all" else _kind(kind),
                             namespace="" if all_namespaces else namespace,
                             label_selector=selector)  # fmt: skip
    listing = asyncio.run(call(server, lambda stub: stub.List(request)))
    if not listing.resources:
        where = "any namespace" if all_namespaces else f"namespace {namespace}"
        click.echo(f"No resources found in {where}.", err=True)
        return
    click.echo(output.render(listing.resources, fmt, all_namespaces=all_namespaces))


def _keys_from_files(files: tuple[str, ...], namespace: str) -> list[pb.ResourceKey]:
    keys = []
    for source in read_sources(files):
        try:
            documents: list[Any] = list(yaml.safe_load_all(source.content))
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{source.name}: not YAML: {exc}", param_hint="-f") from exc
        for index, doc in enumerate(d for d in documents if d is not None):
            if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
                raise click.BadParameter(f"{source.name}: document {index} has no kind/metadata",
                                         param_hint="-f")  # fmt: skip
            metadata = doc["metadata"]
            keys.append(pb.ResourceKey(kind=_kind(str(doc.get("kind", ""))),
                                       namespace=str(metadata.get("namespace") or namespace),
                                       name=str(metadata.get("name", ""))))  # fmt: skip
    return keys


@click.command()
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@files_option
@namespace_option
@click.pass_context
def delete(ctx: click.Context, *, kind: str | None, names: tuple[str, ...], files: tuple[str, ...],
           namespace: str) -> None:  # fmt: skip
    """Delete the resources named in files, or KIND NAME... (all in one transaction).

    \b
    Examples:
      mizzen delete -f reviews-v2.yaml
      mizzen delete vs reviews ratings -n bookinfo
    """
    if files and (kind or names):
        raise click.UsageError("give either -f FILE or KIND NAME..., not both")
    if files:
        keys = _keys_from_files(files, namespace)
    elif kind and names:
        keys = [pb.ResourceKey(kind=_kind(kind), namespace=namespace, name=n) for n in names]
    else:
        raise click.UsageError("give -f FILE or KIND NAME...")
    request = pb.DeleteRequest(keys=keys, applied_by=applied_by())
    response = asyncio.run(call(_server(ctx), lambda stub: stub.Delete(request)))
    for key in response.deleted:
        click.echo(f"{key.kind.lower()}/{key.name} deleted")


@click.command()
@click.argument("kind")
@click.argument("name")
@namespace_option
@click.option("--limit", type=int, default=0, help="Show at most this many entries.")
@click.option("-o", "--output", "fmt", type=click.Choice(output.FORMATS), default="table",
              show_default=True)  # fmt: skip
@click.pass_context
def history(ctx: click.Context, *, kind: str, name: str, namespace: str, limit: int, fmt: str
            ) -> None:  # fmt: skip
    """Show the recorded changes of one resource, newest first.

    \b
    Examples:
      mizzen history vs reviews
      mizzen history dr reviews -n bookinfo -o yaml
    """
    key = pb.ResourceKey(kind=_kind(kind), namespace=namespace, name=name)
    response = asyncio.run(
        call(_server(ctx), lambda stub: stub.History(pb.HistoryRequest(key=key, limit=limit)))
    )
    if not response.entries:
        raise click.ClickException(f"no history for {key.kind} {namespace}/{name}")
    if fmt != "table":
        with_documents = [e for e in response.entries if e.resource.document]
        click.echo(output.render([e.resource for e in with_documents], fmt, all_namespaces=False))
        return
    rows = [["REVISION", "TIME", "CHANGE", "GENERATION", "APPLIED-BY"]]
    for entry in response.entries:
        rows.append([str(entry.revision), entry.time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
                     _CHANGE_WORDS[entry.change], str(entry.resource.generation or "-"),
                     entry.applied_by])  # fmt: skip
    click.echo(output.table(rows))


@click.command()
@click.argument("kind")
@click.argument("name")
@namespace_option
@click.option("--to", "to_revision", type=int, required=True, metavar="REVISION",
              help="The history revision to restore (see `mizzen history`).")  # fmt: skip
@click.pass_context
def rollback(ctx: click.Context, *, kind: str, name: str, namespace: str, to_revision: int) -> None:
    """Make the version recorded at REVISION current again (as a new change).

    \b
    Examples:
      mizzen history vs reviews
      mizzen rollback vs reviews --to 42
    """
    key = pb.ResourceKey(kind=_kind(kind), namespace=namespace, name=name)
    request = pb.RollbackRequest(key=key, to_revision=to_revision, applied_by=applied_by())
    response = asyncio.run(call(_server(ctx), lambda stub: stub.Rollback(request)))
    if response.resource.name:
        click.echo(f"{key.kind.lower()}/{name} rolled back to revision {to_revision} "
                   f"(now generation {response.resource.generation})")  # fmt: skip
    else:
        click.echo(f"{key.kind.lower()}/{name} deleted (rolled back to revision {to_revision})")
