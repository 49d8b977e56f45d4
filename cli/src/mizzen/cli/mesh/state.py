"""The state file: what the supervisor runs, where, and how it is doing.

Written only by the supervisor holding the home's lock (atomically: a reader never sees half
a file); read by ``mizzen up --detach`` while it waits, by ``mizzen status``, ``mizzen down``
and by the CLI to find the config API. JSON::

    {"version": 1, "home": ..., "supervisor_pid": 123, "mode": "processes", "phase": "ready",
     "started_at": 1700000000.0, "error": "", "env": {"MIZZEN_SERVER": "127.0.0.1:15011"},
     "components": {"etcd": {"name": "etcd", "kind": "etcd", "address": "127.0.0.1:2379",
                             "ports": {"client": 2379, "peer": 2380}, "pid": 124,
                             "status": "healthy", "restarts": 0, "since": 1700000000.5,
                             "health_url": "http://127.0.0.1:2379/health",
                             "log": ".../logs/etcd.log", "detail": ""}, ...}}
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_VERSION = 1


class Phase(enum.StrEnum):
    """Where the whole mesh is in its life."""

    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Status(enum.StrEnum):
    """Where one component is, as the supervisor last saw it."""

    PENDING = "pending"
    STARTING = "starting"
    HEALTHY = "healthy"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(slots=True, kw_only=True)
class ComponentState:
    """One component's record. Mutated only by the supervisor that owns it."""

    name: str
    kind: str
    address: str
    ports: dict[str, int]
    health_url: str
    log: str
    pid: int | None = None
    status: Status = Status.PENDING
    restarts: int = 0
    since: float = 0.0
    detail: str = ""


@dataclass(slots=True, kw_only=True)
class MeshState:
    """The whole mesh's record; ``components`` are in start order."""

    home: str
    supervisor_pid: int
    mode: str
    phase: Phase = Phase.STARTING
    started_at: float = 0.0
    error: str = ""
    env: dict[str, str] = field(default_factory=dict)
    components: dict[str, ComponentState] = field(default_factory=dict)

    def pids(self) -> set[int]:
        """Every pid this record names (the supervisor's and the live components')."""
        found = {self.supervisor_pid}
        found.update(c.pid for c in self.components.values() if c.pid)
        return found

    def to_json(self) -> str:
        """This record as the JSON document of the state file."""
        data = dataclasses.asdict(self)
        data = {"version": STATE_VERSION, **data}
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> MeshState:
        """Parse a state file; raises ``ValueError`` (or ``KeyError``/``TypeError``) if it is
        not one this version understands."""
        data: dict[str, Any] = json.loads(text)
        if data.pop("version", None) != STATE_VERSION:
            raise ValueError("unknown state file version")
        components = {
            name: ComponentState(**{**raw, "status": Status(raw["status"])})
            for name, raw in data.pop("components").items()
        }
        return cls(**{**data, "phase": Phase(data["phase"]), "components": components})


def write_state(path: Path, state: MeshState) -> None:
    """Replace the state file at ``path`` with ``state`` atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(state.to_json())
    os.replace(temporary, path)


def read_state(path: Path) -> MeshState | None:
    """The state recorded at ``path``, or ``None`` when there is none (or it is unreadable:
    a state file from another version counts as none)."""
    try:
        return MeshState.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
