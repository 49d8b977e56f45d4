"""Agent settings and errors for ``mizzen workload run`` and ``mizzen gateway run``."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import click

from mizzen.agent import AgentError, AgentSettings, WorkloadSpecError, load_agent_settings
from mizzen.cli.mesh.control import environment_with_mesh_defaults
from mizzen.runtime import SettingsError


def agent_settings(**overrides: Any) -> AgentSettings:
    """The agent's settings from the environment over the running mesh's defaults, with every
    flag that was given (not ``None``) on top. Raises ``SettingsError`` for a bad value."""
    settings = load_agent_settings(environment_with_mesh_defaults())
    given = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(settings, **given)


@contextlib.contextmanager
def agent_errors() -> Iterator[None]:
    """The agent's errors as the command line reports them: a bad spec or setting is a usage
    error (exit 2), any other agent failure an error (exit 1)."""
    try:
        yield
    except (WorkloadSpecError, SettingsError) as exc:
        raise click.UsageError(str(exc)) from exc
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
