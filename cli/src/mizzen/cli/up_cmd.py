"""``mizzen up``, ``mizzen down`` and ``mizzen status``: the local mesh on this machine."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mizzen.cli.mesh import (
    PORT_ROLES,
    MeshConfig,
    MeshError,
    MeshPorts,
    NotRunningError,
    launch_detached,
    make_display,
    mesh_status,
    preflight,
    read_state,
    render_environment,
    render_table,
    resolve_home,
    run_mesh,
    stop_mesh,
)

F = TypeVar("F", bound=Callable[..., Any])
_HOME_HELP = "The mesh's state directory (data, logs, state file) [MIZZEN_HOME or ~/.mizzen]."


def _home_option(function: F) -> F:
    directory = click.Path(file_okay=False, path_type=Path)
    option = click.option("--home", envvar="MIZZEN_HOME", metavar="DIR", type=directory,
                          help=_HOME_HELP)  # fmt: skip
    return option(function)


def _port_options(function: F) -> F:
    for role in reversed(PORT_ROLES):
        function = click.option(
            role.flag, role.field, type=int, default=None, metavar="PORT",
            help=f"The {role.component} {role.role} port [{role.default} + offset].",
        )(function)  # fmt: skip
    return function


@click.command(
    "up",
    epilog="""\b
Examples:
  mizzen up                       start etcd, NATS and every service; Ctrl-C stops them all
  mizzen up --detach              return once healthy; `mizzen down` stops it
  mizzen up --port-offset 1000    etcd on 3379, translator on 16011, ...
  mizzen up --all-in-one          every service in one process, in-memory store
\b
Data and logs go to MIZZEN_HOME (default ~/.mizzen): etcd/, nats/, logs/<component>.log,
state.json. A crashed component is restarted (with backoff) and reported.
""",
)
@_home_option
@click.option("--detach", "-d", is_flag=True,
              help="Return once every component is healthy; the supervisor keeps running "
                   "in the background.")  # fmt: skip
@click.option("--all-in-one", is_flag=True,
              help="Run every service inside one process on an in-memory store (no etcd, "
                   "no NATS): quickest to start, nothing persists.")  # fmt: skip
@click.option("--port-offset", type=int, default=0, show_default=True,
              help="Added to every default port (explicit port options win).")  # fmt: skip
@_port_options
@click.option("--bin-dir", envvar="MIZZEN_BIN_DIR", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Take etcd and nats-server from DIR instead of their Python packages "
                   "[MIZZEN_BIN_DIR].")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=1.0), default=120.0, show_default=True,
              metavar="SECONDS",
              help="How long each component may take to become healthy.")  # fmt: skip
def up(*, home: Path | None, detach: bool, all_in_one: bool, port_offset: int,
       bin_dir: Path | None, timeout: float, **ports: int | None) -> None:  # fmt: skip
    """Start a local mesh: etcd, nats-server, translator, discovery and xds, each as its own
    process, and wait until each is healthy."""
    try:
        config = MeshConfig(
            home=resolve_home(home), ports=MeshPorts.build(offset=port_offset, overrides=ports),
            all_in_one=all_in_one, bin_dir=bin_dir.absolute() if bin_dir else None,
            start_timeout_seconds=timeout,
        )  # fmt: skip
        prepared = preflight(config)
    except MeshError as exc:
        raise click.ClickException(str(exc)) from exc
    if detach:
        display = make_display(sys.stdout, stop_hint="Stop it with: mizzen down")
        try:
            launch_detached(config, prepared, display, timeout=timeout * 6)
        except MeshError as exc:
            display.close()
            raise click.ClickException(f"{exc}\nLogs: {prepared.home.logs_dir}") from exc
        display.close()
        return
    display = make_display(sys.stdout, stop_hint="Press Ctrl-C (or run `mizzen down`) to stop.")
    status = run_mesh(config, prepared, display)
    if status != 0:
        state = read_state(prepared.home.state_path)
        message = state.error if state and state.error else "the mesh failed to start"
        click.echo(f"Error: {message}", err=True)
        click.echo(f"Logs: {prepared.home.logs_dir}", err=True)
    sys.exit(status)


@click.command("down")
@_home_option
@click.option("--timeout", type=click.FloatRange(min=1.0), default=60.0, show_default=True,
              metavar="SECONDS",
              help="How long to wait for a clean stop before killing.")  # fmt: skip
def down(home: Path | None, timeout: float) -> None:
    """Stop the local mesh started by `mizzen up` (in the foreground or detached), and wait
    until none of its processes is left."""
    home_path = resolve_home(home)
    try:
        report = stop_mesh(home_path, timeout=timeout)
    except NotRunningError as exc:
        click.echo(str(exc))
        return
    except MeshError as exc:
        raise click.ClickException(str(exc)) from exc
    names = ", ".join(report.state.components) if report.state else "the mesh"
    click.echo(f"mizzen: stopped {names} in {report.seconds:.1f}s ({home_path})")


@click.command("status")
@_home_option
@click.option("--json", "as_json", is_flag=True, help="Print the state and health as JSON.")
def status(home: Path | None, as_json: bool) -> None:
    """Show each component of the local mesh with its address, pid and health (probed now).
    Exits 1 when the mesh is not running or a component is not healthy."""
    home_path = resolve_home(home)
    try:
        report = mesh_status(home_path)
    except MeshError as exc:
        raise click.ClickException(str(exc)) from exc
    state = report.state
    if as_json:
        document = json.loads(state.to_json())
        document["running"] = report.running
        document["health"] = report.health
        click.echo(json.dumps(document, indent=2))
    else:
        if report.running:
            click.echo(f"mizzen: local mesh in {home_path} ({state.mode}, supervisor pid "
                       f"{state.supervisor_pid}, {state.phase})")  # fmt: skip
        else:
            click.echo(f"mizzen: no mesh is running in {home_path} (last supervisor pid "
                       f"{state.supervisor_pid}, {state.phase})")  # fmt: skip
        color = sys.stdout.isatty()
        for line in render_table(state, health=report.health, color=color):
            click.echo(line)
        if report.running:
            click.echo("")
            for line in render_environment(state.env):
                click.echo(line)
    if not report.healthy:
        sys.exit(1)


__all__ = ["down", "status", "up"]
