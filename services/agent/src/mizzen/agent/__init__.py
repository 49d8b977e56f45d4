"""Mizzen's agent: runs one workload beside its Envoy, outside Kubernetes.

``mizzen workload run`` builds a :class:`WorkloadSpec` from its flags and calls
:func:`run_workload` with :class:`AgentSettings`::

    spec = WorkloadSpec(
        name="reviews-v2",
        command=("python", "app.py"),
        services=build_services(["reviews"], ["9080:19080"]),
        labels=parse_labels(["app=reviews,version=v2"]),
    )
    status = run_workload(spec, load_agent_settings())  # the app's exit status

The agent takes a loopback address of its own (:func:`allocate_address`), starts and
supervises Envoy (:class:`ProxySupervisor`), keeps the workload registered with discovery
(:class:`Registrar`), runs the app (:class:`AppProcess`) and cleans everything up when the app
exits or a stop signal arrives (:class:`Agent`). :mod:`mizzen.agent.domain.proxy_config`
turns an Envoy config dump into ``mizzen proxy-config`` tables. Errors: :mod:`mizzen.agent.errors`.
"""

from mizzen.agent.addresses import AddressLease, allocate_address
from mizzen.agent.app import Agent, run_workload, serve_workload
from mizzen.agent.app_process import AppProcess
from mizzen.agent.config import AgentSettings, load_agent_settings
from mizzen.agent.domain.bootstrap import ADMIN_PORT, bootstrap_config, parse_server_address
from mizzen.agent.domain.environment import OUTBOUND_PROXY_PORT, app_environment
from mizzen.agent.domain.workload import (
    PortSpec,
    ServiceSpec,
    WorkloadSpec,
    build_services,
    exit_status_of,
    parse_labels,
    parse_port,
)
from mizzen.agent.errors import (
    AddressError,
    AgentError,
    AppStartError,
    ProxyError,
    RegistrationError,
    WorkloadSpecError,
)
from mizzen.agent.proxy import ProxySupervisor
from mizzen.agent.registration import workload_message
from mizzen.registration import Registrar

__all__ = [
    "ADMIN_PORT",
    "OUTBOUND_PROXY_PORT",
    "AddressError",
    "AddressLease",
    "Agent",
    "AgentError",
    "AgentSettings",
    "AppProcess",
    "AppStartError",
    "PortSpec",
    "ProxyError",
    "ProxySupervisor",
    "Registrar",
    "RegistrationError",
    "ServiceSpec",
    "WorkloadSpec",
    "WorkloadSpecError",
    "allocate_address",
    "app_environment",
    "bootstrap_config",
    "build_services",
    "exit_status_of",
    "load_agent_settings",
    "parse_labels",
    "parse_port",
    "parse_server_address",
    "run_workload",
    "serve_workload",
    "workload_message",
]
