"""The ``mizzen`` entry point and its top-level command group."""

from __future__ import annotations

import click

from mizzen.cli.analyze_cmd import analyze_command
from mizzen.cli.client import DEFAULT_SERVER
from mizzen.cli.config_cmds import apply, delete, get, history, rollback
from mizzen.cli.demo_cmd import demo
from mizzen.cli.gateway_cmd import gateway
from mizzen.cli.mesh.control import mesh_server_address
from mizzen.cli.proxy_config_cmd import proxy_config
from mizzen.cli.proxy_status_cmd import proxy_status
from mizzen.cli.up_cmd import down, status, up
from mizzen.cli.validate_cmd import validate
from mizzen.cli.version import version
from mizzen.cli.workload_cmd import workload


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  mizzen apply -f reviews-v2.yaml         store Istio resources (all or nothing)
  mizzen get vs -A                        list VirtualServices in every namespace
  mizzen validate -f samples/             check documents offline
  mizzen history vs reviews               what changed, when, by whom
  mizzen rollback vs reviews --to 42      restore an earlier version
  mizzen up --detach                      start a local mesh (etcd, NATS, the services)
  mizzen workload run --name reviews-v1 --service reviews --port 9080:19080 \\
      --labels app=reviews,version=v1 -- python3 -m http.server 19080
                                          run an app meshed with its own Envoy
  mizzen proxy-config routes reviews-v1   what that Envoy was given
  mizzen version                          versions of mizzen and its components
""",
)
@click.option(
    "--server",
    envvar="MIZZEN_SERVER",
    default=lambda: mesh_server_address() or DEFAULT_SERVER,
    show_default=f"the running mesh's (mizzen up), else {DEFAULT_SERVER}",
    help="The config API (translator) address; also MIZZEN_SERVER.",
)
@click.pass_context
def cli(ctx: click.Context, server: str) -> None:
    """Mizzen: a service-mesh control plane for the Istio API, driving real Envoy proxies."""
    ctx.ensure_object(dict)
    ctx.obj["server"] = server


for command in (apply, get, delete, validate, analyze_command, history, rollback, version,
                workload, gateway, proxy_status, proxy_config, up, down, status, demo):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    """Run the CLI (the ``mizzen`` console script)."""
    cli(prog_name="mizzen")
