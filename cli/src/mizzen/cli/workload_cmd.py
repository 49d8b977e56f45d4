"""``mizzen workload run``: run an app as a mesh workload, beside its own Envoy."""

from __future__ import annotations

import sys

import click

from mizzen.agent import (
    AppStartError,
    WorkloadSpec,
    build_services,
    parse_labels,
    run_workload,
)
from mizzen.cli.agent_settings import agent_errors, agent_settings

_SECONDS = click.FloatRange(min=0.0)


@click.group("workload")
def workload() -> None:
    """Run workloads in the local mesh (each with its own address and Envoy)."""


@workload.command(
    "run",
    context_settings={"allow_interspersed_args": False},
    epilog="""\b
Examples:
  mizzen workload run --name reviews-v2 --service reviews --port 9080:19080 \\
      --labels app=reviews,version=v2 -- python reviews.py
  mizzen workload run --name client -- curl http://reviews:9080/
\b
The app gets http_proxy/HTTP_PROXY=http://<address>:15001 (its Envoy), NO_PROXY for its own
address, and MIZZEN_ADDRESS, MIZZEN_WORKLOAD, MIZZEN_NAMESPACE, MIZZEN_PORTS (9080:19080,...)
and MIZZEN_APP_PORT. It must listen on its app ports at 127.0.0.1 or 0.0.0.0: its Envoy
receives each service port on the workload's address and forwards to 127.0.0.1:<app port>.
The command exits with the app's status.
""",
)
@click.option(
    "--name", required=True, help="The workload's name (a DNS label), unique in its namespace."
)
@click.option("--namespace", "-n", default="default", show_default=True, help="Its namespace.")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME",
    help="A service it serves (bare name or FQDN); repeatable.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="[SERVICE=]PORT:APP_PORT[:PROTOCOL]",
    help="A served port: the service port, the app's port on 127.0.0.1, the protocol "
    "(HTTP, HTTP2, GRPC, TCP...; default HTTP). Repeatable.",
)
@click.option(
    "--labels",
    "-l",
    "labels",
    multiple=True,
    metavar="KEY=VALUE[,...]",
    help="Its labels (for subsets and policies); repeatable.",
)
@click.option(
    "--service-account",
    default="default",
    show_default=True,
    help="Its identity (service account name).",
)
@click.option(
    "--locality",
    default="",
    metavar="REGION[/ZONE[/SUBZONE]]",
    help="Where it runs, for locality-aware load balancing (as Istio's "
    "topology.kubernetes.io/region and zone labels).",
)
@click.option(
    "--address",
    default=None,
    metavar="127.X.Y.Z",
    help="Use this loopback address (default: the first free one from 127.1.0.1).",
)
@click.option(
    "--xds",
    "xds",
    multiple=True,
    metavar="HOST:PORT",
    help="An xds replica for its Envoy; repeatable [default: MIZZEN_AGENT_XDS_SERVERS "
    "or 127.0.0.1:15010].",
)
@click.option(
    "--discovery",
    "discovery",
    multiple=True,
    metavar="HOST:PORT",
    help="A discovery replica to register with; repeatable [default: "
    "MIZZEN_AGENT_DISCOVERY_SERVERS or 127.0.0.1:15013].",
)
@click.option(
    "--delta/--sotw",
    default=None,
    help="Delta or state-of-the-world ADS [delta, as Istio since 1.22].",
)
@click.option(
    "--initial-fetch-timeout",
    type=_SECONDS,
    default=None,
    metavar="SECONDS",
    help="Envoy's initial CDS/LDS fetch timeout; 0 waits for the control plane [0].",
)
@click.option(
    "--ready-timeout",
    type=_SECONDS,
    default=None,
    metavar="SECONDS",
    help="How long Envoy may take to get its config and be ready [60].",
)
@click.option(
    "--registration-timeout",
    type=_SECONDS,
    default=None,
    metavar="SECONDS",
    help="How long the first registration with discovery may take [30].",
)
@click.option(
    "--grace",
    type=_SECONDS,
    default=None,
    metavar="SECONDS",
    help="After SIGTERM/SIGINT, how long the app may take to exit [10].",
)
@click.option(
    "--health-probe/--no-health-probe",
    default=None,
    help="Keep it UNHEALTHY in the registry until its app ports accept connections [on].",
)
@click.option("--envoy-log-level", default=None, help="Envoy's log level [warning].")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(*, name: str, namespace: str, services: tuple[str, ...], ports: tuple[str, ...],
        labels: tuple[str, ...], service_account: str, locality: str, address: str | None,
        xds: tuple[str, ...], discovery: tuple[str, ...], delta: bool | None,
        initial_fetch_timeout: float | None, ready_timeout: float | None,
        registration_timeout: float | None, grace: float | None, health_probe: bool | None,
        envoy_log_level: str | None, command: tuple[str, ...]) -> None:  # fmt: skip
    """Run COMMAND as the workload NAME: give it an address and an Envoy, register it, and
    clean everything up when it exits (with its exit status)."""
    with agent_errors():
        spec = WorkloadSpec(
            name=name,
            namespace=namespace,
            command=command,
            services=build_services(services, ports),
            labels=parse_labels(labels),
            service_account=service_account,
            address=address,
            locality=locality,
        )
        settings = agent_settings(
            xds_servers=xds or None,
            discovery_servers=discovery or None,
            delta=delta,
            initial_fetch_timeout_seconds=initial_fetch_timeout,
            proxy_ready_timeout_seconds=ready_timeout,
            registration_timeout_seconds=registration_timeout,
            shutdown_grace_seconds=grace,
            health_probe=health_probe,
            envoy_log_level=envoy_log_level,
        )
        try:
            status = run_workload(spec, settings)
        except AppStartError as exc:  # the app's own exit status, not the agent's
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_status)
    sys.exit(status)


__all__ = ["workload"]
