"""The ``mizzen`` entry point and its top-level command group."""

from __future__ import annotations

import importlib

import click

from mizzen.cli.defaults import DEFAULT_SERVER

# Each command's module is imported only when that command runs (or help lists it): the
# agent behind `mizzen workload run` and quick verbs like `mizzen version` do not pay for
# every other command's imports (gRPC stubs, the analyzers, the mesh supervisor).
COMMANDS = {
    "apply": "mizzen.cli.config_cmds:apply",
    "get": "mizzen.cli.config_cmds:get",
    "delete": "mizzen.cli.config_cmds:delete",
    "validate": "mizzen.cli.validate_cmd:validate",
    "analyze": "mizzen.cli.analyze_cmd:analyze_command",
    "history": "mizzen.cli.config_cmds:history",
    "rollback": "mizzen.cli.config_cmds:rollback",
    "version": "mizzen.cli.version:version",
    "workload": "mizzen.cli.workload_cmd:workload",
    "gateway": "mizzen.cli.gateway_cmd:gateway",
    "proxy-status": "mizzen.cli.proxy_status_cmd:proxy_status",
    "proxy-config": "mizzen.cli.proxy_config_cmd:proxy_config",
    "up": "mizzen.cli.up_cmd:up",
    "down": "mizzen.cli.up_cmd:down",
    "status": "mizzen.cli.up_cmd:status",
    "demo": "mizzen.cli.demo_cmd:demo",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order of :data:`COMMANDS`."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return ``cmd_name``'s command (``None`` for an unknown name)."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), target
        return command


@click.group(
    cls=LazyGroup,
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
    default=None,  # resolved by the commands that talk to it (mizzen.cli.client.server_of)
    show_default=f"the running mesh's (mizzen up), else {DEFAULT_SERVER}",
    help="The config API (translator) address; also MIZZEN_SERVER.",
)
@click.pass_context
def cli(ctx: click.Context, server: str | None) -> None:
    """Mizzen: a service-mesh control plane for the Istio API, driving real Envoy proxies."""
    ctx.ensure_object(dict)
    ctx.obj["server"] = server


def main() -> None:
    """Run the CLI (the ``mizzen`` console script)."""
    cli(prog_name="mizzen")
