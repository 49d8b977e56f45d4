"""``mizzen analyze``: cross-resource checks of Istio config, as ``istioctl analyze`` makes them."""

from __future__ import annotations

import asyncio
import json

import click
import yaml

from mizzen.analysis import (
    ANALYZER_SKIPPED,
    ANALYZERS,
    DEFAULT_NAMESPACE,
    Level,
    Message,
    analyze,
)
from mizzen.analysis.workloads import Workload
from mizzen.api import Resource, ValidationError, parse_document, parse_documents
from mizzen.cli.client import CommandError, call, discovery_of, list_workloads, server_of
from mizzen.cli.defaults import DEFAULT_DISCOVERY
from mizzen.cli.sources import read_sources
from mizzen.protos.config.v1 import config_pb2 as pb

# istioctl's exit status when analyzers report issues at or above the failure threshold.
EXIT_ISSUES_FOUND = 79
DOCS_URL = "https://istio.io/latest/docs/reference/config/analysis"


def _local_resources(files: tuple[str, ...], namespace: str) -> list[Resource]:
    """Every resource in the files, in order, placed in `namespace` when they name none."""
    resources: list[Resource] = []
    problems: list[str] = []
    for source in read_sources(files):
        try:
            resources.extend(parse_documents(source.content, source.name))
        except ValidationError as exc:
            problems.extend(str(e) for e in exc.errors)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise CommandError(f"{len(problems)} problem(s) in the given files; nothing was analyzed")
    return [_in_namespace(r, namespace) for r in resources]


def _in_namespace(resource: Resource, namespace: str) -> Resource:
    if resource.metadata.namespace:
        return resource
    metadata = resource.metadata.model_copy(update={"namespace": namespace})
    return resource.model_copy(update={"metadata": metadata})


def _stored_resources(server: str) -> list[Resource]:
    """Every resource stored on the server, of every kind and namespace."""
    try:
        listing = asyncio.run(call(server, lambda stub: stub.List(pb.ListRequest())))
    except CommandError as exc:
        raise CommandError(f"{exc.message}\n(to analyze the files alone, add --offline)") from exc
    resources: list[Resource] = []
    for stored in listing.resources:
        where = f"stored {stored.kind} {stored.namespace}/{stored.name}"
        try:
            resources.append(parse_document(json.loads(stored.document), where))
        except (ValueError, ValidationError) as exc:
            # Stored under older rules, perhaps; analyze the rest rather than nothing.
            click.echo(f"warning: {where} skipped, it no longer reads: {exc}", err=True)
    return resources


def _known_workloads(discovery: str) -> list[Workload] | None:
    """Every workload the registry knows, as the analyzers take them (namespace, labels,
    service ports); ``None``, with a warning, when discovery cannot be asked (the analyzers
    that need workloads then say they were skipped)."""

    try:
        found = asyncio.run(list_workloads(discovery))
    except CommandError as exc:
        click.echo(f"warning: workloads unknown: {exc.message}", err=True)
        return None
    return [
        Workload(
            item.workload.namespace,
            dict(item.workload.labels),
            sorted({p.number for s in item.workload.services for p in s.ports}),
        )
        for item in found.workloads
    ]


def _target(namespace: str, all_namespaces: bool) -> str:
    return "all namespaces" if all_namespaces else f"namespace: {namespace}"


def _print(messages: list[Message], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([m.to_dict() for m in messages], indent=2))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump([m.to_dict() for m in messages], sort_keys=False).rstrip())
    else:
        for message in messages:
            click.echo(str(message), err=message.type is ANALYZER_SKIPPED)


def _list_analyzers() -> None:
    for analyzer in ANALYZERS:
        needs = ", needs workloads" if analyzer.needs_workloads else ""
        click.echo(f"* {analyzer.name} [{', '.join(analyzer.codes)}{needs}]:")
        click.echo(f"    {analyzer.description}. Reads: {', '.join(analyzer.inputs)}.")


@click.command(name="analyze")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    metavar="FILE|DIR|-",
    help="A YAML/JSON file, a directory of them, or - for standard input (repeatable). "
    "Their resources replace stored ones of the same kind, namespace and name.",
)
@click.option(
    "-n",
    "--namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Report on this namespace; also the namespace of file documents naming none.",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Report on every namespace.")
@click.option(
    "--offline",
    is_flag=True,
    help="Analyze the files alone, without the config stored on the server.",
)
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["log", "json", "yaml"]),
    default="log",
    show_default=True,
    help="How to print the messages.",
)
@click.option(
    "--failure-threshold",
    type=click.Choice([lv.value for lv in Level], case_sensitive=False),
    default=Level.ERROR.value,
    show_default=True,
    help=f"The lowest level that makes the exit status {EXIT_ISSUES_FOUND}.",
)
@click.option(
    "--discovery",
    envvar="MIZZEN_DISCOVERY",
    default=None,
    metavar="HOST:PORT",
    help="Where to list the workloads (for the analyzers that need them) when not --offline "
    f"[the running mesh's discovery, else {DEFAULT_DISCOVERY}].",
)
@click.option("-L", "--list-analyzers", is_flag=True, help="List the analyzers and exit.")
@click.pass_context
def analyze_command(ctx: click.Context, *, files: tuple[str, ...], namespace: str,
                    all_namespaces: bool, offline: bool, fmt: str, failure_threshold: str,
                    discovery: str | None, list_analyzers: bool) -> None:  # fmt: skip
    """Find problems across resources: routes to undefined subsets, missing gateways,
    conflicting hosts, unreachable rules, mTLS conflicts...

    Messages carry Istio's analysis codes (IST0101, ...) where Istio has one, Mizzen's
    (MZ0001, ...) otherwise; see https://istio.io/latest/docs/reference/config/analysis.
    Exit status: 0 when nothing at or above --failure-threshold is found, 79 when
    something is (as istioctl), 1 when the analysis could not be made.

    \b
    Examples:
      mizzen analyze                            the stored config, namespace default
      mizzen analyze -A                         ... every namespace
      mizzen analyze -f reviews-v3.yaml         stored config as it would be after applying
      mizzen analyze --offline -f samples/ -A   files alone, no server needed
      kubectl get vs,dr -A -o yaml | mizzen analyze --offline -f -
    """
    if list_analyzers:
        _list_analyzers()
        return
    if offline and not files:
        raise click.UsageError("--offline analyzes files only: give -f FILE|DIR|-")
    local = _local_resources(files, namespace) if files else []
    stored = [] if offline else _stored_resources(server_of(ctx))
    workloads = None if offline else _known_workloads(discovery_of(discovery))
    messages = analyze([*stored, *local], workloads=workloads, default_namespace=namespace)
    if not all_namespaces:
        messages = [m for m in messages if m.resource is None or m.resource.namespace == namespace]
    _print(messages, fmt)
    issues = [m for m in messages if m.type is not ANALYZER_SKIPPED]
    target = _target(namespace, all_namespaces)
    if not issues:
        if fmt == "log":
            click.echo(f"\u2714 No validation issues found when analyzing {target}.")
        return
    threshold = Level.parse(failure_threshold)
    if any(m.level.severity <= threshold.severity for m in issues):
        click.echo(f"Error: Analyzers found issues when analyzing {target}.\n"
                   f"See {DOCS_URL} for more information about causes and resolutions.",
                   err=True)  # fmt: skip
        ctx.exit(EXIT_ISSUES_FOUND)
