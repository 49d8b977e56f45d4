"""The ``mizzen`` entry point and its top-level command group."""

from __future__ import annotations

import click

from mizzen.cli.analyze_cmd import analyze_command
from mizzen.cli.client import DEFAULT_SERVER
from mizzen.cli.config_cmds import apply, delete, get, history, rollback
from mizzen.cli.proxy_config_cmd import proxy_config
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
  mizzen version                          versions of mizzen and its components
""",
)
@click.option("--server", envvar="MIZZEN_SERVER", default=DEFAULT_SERVER, show_default=True,
              help="The config API (translator) address; also MIZZEN_SERVER.")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, server: str) -> None:
    """Mizzen: a service-mesh control plane for the Istio API, driving real Envoy proxies."""
    ctx.ensure_object(dict)
    ctx.obj["server"] = server


for command in (apply, get, delete, validate, analyze_command, history, rollback, version,
                workload, proxy_config):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    """Run the CLI (the ``mizzen`` console script)."""
    cli(prog_name="mizzen")
