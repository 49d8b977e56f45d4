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


def test_a_command_imports_only_its_own_module() -> None:
    # `mizzen workload run` is the agent of every workload: it must not carry the other
    # commands' imports (the analyzers, the config client, the mesh supervisor).
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from mizzen.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['workload', 'run', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('mizzen.cli.'))))\n"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    loaded = set(shown.stdout.split())
    assert "mizzen.cli.workload_cmd" in loaded
    for other in ("mizzen.cli.analyze_cmd", "mizzen.cli.config_cmds", "mizzen.cli.demo_cmd",
                  "mizzen.cli.up_cmd", "mizzen.cli.proxy_config_cmd"):  # fmt: skip
        assert other not in loaded, other
