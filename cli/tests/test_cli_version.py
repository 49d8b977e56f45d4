"""The real ``mizzen`` command: help and version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MIZZEN = str(Path(sys.executable).parent / "mizzen")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MIZZEN, *args], capture_output=True, text=True, timeout=60, check=False)


def test_help_lists_commands_and_examples() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "version" in result.stdout
    assert "Examples:" in result.stdout


def test_version_names_every_component() -> None:
    result = run("version")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["mizzen"] == "0.1.0"
    assert lines["envoy"] == "1.40.0"
    assert lines["etcd"] == "3.5.1"
    assert lines["nats-server"] == "2.15.1"


def test_short_version_and_unknown_command() -> None:
    assert run("version", "--short").stdout.strip() == "0.1.0"
    bad = run("no-such-verb")
    assert bad.returncode == 2
    assert "No such command" in bad.stderr
