"""The ``mizzen`` entry point and its top-level command group."""

from __future__ import annotations

import click

from mizzen.cli.version import version


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  mizzen version              show the versions of mizzen and its components
  mizzen version --short      just mizzen's own version
""",
)
def cli() -> None:
    """Mizzen: a service-mesh control plane for the Istio API, driving real Envoy proxies."""


cli.add_command(version)


def main() -> None:
    """Run the CLI (the ``mizzen`` console script)."""
    cli(prog_name="mizzen")
