"""The local mesh supervisor behind ``mizzen up``, ``mizzen down`` and ``mizzen status``.

A small public surface over private modules::

    config = MeshConfig(home=resolve_home(), ports=MeshPorts.build(offset=100))
    prepared = preflight(config)               # home, lock, binaries, ports: or a MeshError
    run_mesh(config, prepared, display)        # foreground, until SIGINT/SIGTERM
    launch_detached(config, prepared, display, timeout=60)   # or as a daemon
    mesh_status(home) / stop_mesh(home)        # from any other process
    mesh_server_address()                      # the running mesh's config API, or None

Modules: :mod:`.config` (ports and options), :mod:`.home` (state directory and lock),
:mod:`.state` (the state file), :mod:`.components` (what runs), :mod:`.all_in_one`
(services in-process), :mod:`.supervisor` (start, restart, stop), :mod:`.display`
(progress), :mod:`.runner` (this process runs the mesh), :mod:`.control` (another one does).
"""

from mizzen.cli.mesh.config import PORT_ROLES, MeshConfig, MeshPorts, PortRole, check_ports
from mizzen.cli.mesh.control import (
    StatusReport,
    StopReport,
    launch_detached,
    mesh_server_address,
    mesh_status,
    running_mesh_environment,
    stop_mesh,
)
from mizzen.cli.mesh.display import make_display, render_environment, render_table
from mizzen.cli.mesh.errors import (
    AlreadyRunningError,
    HomeError,
    MeshError,
    MissingBinaryError,
    NotRunningError,
    PortInUseError,
    StartError,
)
from mizzen.cli.mesh.home import MeshHome, resolve_home
from mizzen.cli.mesh.runner import Prepared, preflight, run_mesh
from mizzen.cli.mesh.state import ComponentState, MeshState, Phase, Status, read_state

__all__ = [
    "PORT_ROLES",
    "AlreadyRunningError",
    "ComponentState",
    "HomeError",
    "MeshConfig",
    "MeshError",
    "MeshHome",
    "MeshPorts",
    "MeshState",
    "MissingBinaryError",
    "NotRunningError",
    "Phase",
    "PortInUseError",
    "PortRole",
    "Prepared",
    "StartError",
    "Status",
    "StatusReport",
    "StopReport",
    "check_ports",
    "launch_detached",
    "make_display",
    "mesh_server_address",
    "mesh_status",
    "preflight",
    "read_state",
    "render_environment",
    "render_table",
    "resolve_home",
    "run_mesh",
    "running_mesh_environment",
    "stop_mesh",
]
