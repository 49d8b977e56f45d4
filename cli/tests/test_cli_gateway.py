"""``mizzen gateway run``'s flags: what it refuses before starting anything (traffic through
a running gateway is tested end to end in tests/test_gateway_traffic.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mizzen.cli.main import cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--name", "ingress", "--port", "80x"],
            "--port '80x': expected PORT[:LISTEN_PORT[:PROTOCOL]]",
        ),
        (["--name", "Ingress", "--port", "8080"], "--name 'Ingress'"),
        (["--name", "ingress", "--port", "8080", "--address", "here"], "--address 'here'"),
        (["--name", "ingress", "--port", "8080", "--labels", "istio"], "--labels 'istio'"),
        (["--name", "ingress"], "Missing option '--port'"),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["gateway", "run", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_help_shows_examples() -> None:
    result = CliRunner().invoke(cli, ["gateway", "run", "--help"])
    assert result.exit_code == 0
    assert "mizzen gateway run --name ingress --port 8080" in result.output
