"""Agent settings for ``mizzen workload run`` and ``mizzen gateway run``."""

from __future__ import annotations

import dataclasses
from typing import Any

from mizzen.agent import AgentSettings, load_agent_settings
from mizzen.cli.mesh.control import environment_with_mesh_defaults


def agent_settings(**overrides: Any) -> AgentSettings:
    """The agent's settings from the environment over the running mesh's defaults, with every
    flag that was given (not ``None``) on top. Raises ``SettingsError`` for a bad value."""
    settings = load_agent_settings(environment_with_mesh_defaults())
    given = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(settings, **given)
