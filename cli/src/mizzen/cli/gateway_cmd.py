"""``mizzen gateway run``: an ingress gateway (a standalone Envoy serving Gateway resources)."""

from __future__ import annotations

import sys

import click

from mizzen.agent import parse_labels
from mizzen.agent.gateway import (
    DEFAULT_ADDRESS,
    DEFAULT_NAMESPACE,
    GatewaySpec,
    parse_gateway_port,
    run_gateway,
)
from mizzen.cli.agent_settings import agent_errors, agent_settings

__all__ = ["gateway"]

_SECONDS = click.FloatRange(min=0.0)
_DEFAULT_LABELS = "istio=ingressgateway"


@click.group("gateway")
def gateway() -> None:
    """Run gateways: Envoys at the edge of the mesh, configured by Gateway resources."""


@gateway.command(
    "run",
    epilog="""\b
Examples:
  mizzen gateway run --name ingress --port 8080
  mizzen gateway run --name ingress --labels istio=ingressgateway --port 8080 --port 443:8443
  mizzen gateway run --name egress -n istio-system --labels istio=egressgateway \
      --service istio-egressgateway --port 443:8443:TLS
\b
Gateways whose selector matches the labels (in any namespace) configure it; VirtualServices
bind to them with `gateways: [<namespace>/<name>]`. A Gateway server on port P is served
only if P is among the --port values, on the listen port given after the colon (P itself
without one). TLS servers read serverCertificate/privateKey/caCertificates from files on
this machine. With --service it registers as an endpoint of that service (in its namespace),
so that sidecars can route to it (egress through a gateway). It stays in the foreground until
Ctrl-C or SIGTERM.
""",
)
@click.option("--name", required=True, help="The gateway's name (a DNS label).")
@click.option(
    "--namespace", "-n", default=DEFAULT_NAMESPACE, show_default=True, help="Its namespace."
)
@click.option(
    "--labels",
    "-l",
    "labels",
    multiple=True,
    metavar="KEY=VALUE[,...]",
    help=f"Its labels, which Gateways' selector must match; repeatable [{_DEFAULT_LABELS}].",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    required=True,
    metavar="PORT[:LISTEN_PORT[:PROTOCOL]]",
    help="A Gateway server port it serves, the port it listens on for it (the same unless "
    "given) and the protocol it registers the port with (with --service; HTTP unless "
    "given); repeatable.",
)
@click.option(
    "--service",
    default=None,
    metavar="NAME",
    help="Register as an endpoint of this service in its namespace (e.g. istio-egressgateway).",
)
@click.option(
    "--discovery",
    "discovery",
    multiple=True,
    metavar="HOST:PORT",
    help="A discovery replica to register with (with --service); repeatable [default: "
    "MIZZEN_AGENT_DISCOVERY_SERVERS or 127.0.0.1:15013].",
)
@click.option(
    "--address", default=DEFAULT_ADDRESS, show_default=True, help="The address it listens on."
)
@click.option(
    "--admin-port",
    type=click.IntRange(1, 65535),
    default=15000,
    show_default=True,
    help="Envoy's admin port, on --address (127.0.0.1 when that is 0.0.0.0).",
)
@click.option(
    "--xds",
    "xds",
    multiple=True,
    metavar="HOST:PORT",
    help="An xds replica; repeatable [default: MIZZEN_AGENT_XDS_SERVERS or 127.0.0.1:15010].",
)
@click.option(
    "--delta/--sotw",
    default=None,
    help="Delta or state-of-the-world ADS [delta, as Istio since 1.22].",
)
@click.option(
    "--ready-timeout",
    type=_SECONDS,
    default=None,
    metavar="SECONDS",
    help="How long Envoy may take to get its config and be ready [60].",
)
@click.option("--envoy-log-level", default=None, help="Envoy's log level [warning].")
def run(*, name: str, namespace: str, labels: tuple[str, ...], ports: tuple[str, ...],
        service: str | None, discovery: tuple[str, ...], address: str, admin_port: int,
        xds: tuple[str, ...], delta: bool | None, ready_timeout: float | None,
        envoy_log_level: str | None) -> None:  # fmt: skip
    """Run the gateway NAME: an Envoy serving the Gateways that select its labels, until
    stopped."""
    with agent_errors():
        spec = GatewaySpec(
            name=name,
            namespace=namespace,
            labels=parse_labels(labels or (_DEFAULT_LABELS,)),
            ports=tuple(parse_gateway_port(text) for text in ports),
            address=address,
            admin_port=admin_port,
            service=service,
        )
        settings = agent_settings(
            xds_servers=xds or None,
            discovery_servers=discovery or None,
            delta=delta,
            proxy_ready_timeout_seconds=ready_timeout,
            envoy_log_level=envoy_log_level,
        )
        status = run_gateway(spec, settings)
    sys.exit(status)
