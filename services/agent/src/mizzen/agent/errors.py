"""Errors of the agent.

::

    AgentError                  base of everything the agent raises
    ├── WorkloadSpecError       the workload as given is invalid (a --port that is not
    │                           PORT:APP_PORT[:PROTOCOL], a bad name or label); ``option``
    │                           names the flag, the message what would be valid
    ├── AddressError            no loopback address could be taken (all taken, or the forced
    │                           one is held by another agent or is not a loopback address)
    ├── ProxyError              Envoy could not be started: binary missing, exited early, or
    │                           not ready (no config from xds) before its deadline
    ├── AppStartError           the app's command could not be executed; ``exit_status`` is
    │                           the shell's convention (127 not found, 126 not executable)
    └── RegistrationError       discovery refused the workload (INVALID_ARGUMENT...), or no
                                discovery replica answered before the registration deadline

Every error carries its cause (``raise ... from exc``); the ``mizzen workload run`` command
prints the message and exits non-zero.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises."""


class WorkloadSpecError(AgentError):
    """The workload's description is invalid; ``option`` is the offending flag (e.g. --port)."""

    def __init__(self, message: str, *, option: str) -> None:
        self.option = option
        super().__init__(message)


class AddressError(AgentError):
    """No workload address could be allocated."""


class ProxyError(AgentError):
    """The workload's Envoy could not be started or made ready."""


class AppStartError(AgentError):
    """The app's command could not be executed."""

    def __init__(self, message: str, *, exit_status: int) -> None:
        self.exit_status = exit_status
        super().__init__(message)


class RegistrationError(AgentError):
    """The workload could not be registered with discovery."""
