"""``mizzen version``: what is installed."""

from __future__ import annotations

import subprocess
from importlib import metadata

import click

from mizzen.launcher import BinaryNotFoundError, find_binary

# component -> the flag that makes it print its version
_COMPONENTS = {"envoy": "--version", "etcd": "--version", "nats-server": "--version"}


def _component_version(name: str, flag: str) -> str:
    try:
        binary = find_binary(name)
    except BinaryNotFoundError as exc:
        return f"not installed ({exc.package})"
    try:
        result = subprocess.run(
            [str(binary), flag], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (result.stdout or result.stderr).strip()
    return _short_version(name, text)


def _short_version(name: str, text: str) -> str:
    """Pick the version number out of each component's own banner."""
    if name == "envoy":  # "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
        for part in text.split("/"):
            if part.count(".") == 2 and part.replace(".", "").isdigit():
                return part
    if name == "etcd":  # "etcd Version: 3.5.1\n..."
        for line in text.splitlines():
            if line.startswith("etcd Version:"):
                return line.split(":", 1)[1].strip()
    if name == "nats-server":  # "nats-server: v2.15.1"
        return text.rsplit(" ", 1)[-1].lstrip("v")
    return text.splitlines()[0] if text else "unknown"


@click.command()
@click.option("--short", is_flag=True, help="Print only mizzen's own version.")
def version(short: bool) -> None:
    """Show the versions of mizzen and of the components it runs (Envoy, etcd, NATS)."""
    own = metadata.version("mizzen")
    if short:
        click.echo(own)
        return
    click.echo(f"mizzen       {own}")
    for name, flag in _COMPONENTS.items():
        click.echo(f"{name:<12} {_component_version(name, flag)}")
