"""``mizzen up --all-in-one``: every service inside the supervisor's process.

Each service runs in its own :class:`~mizzen.runtime.ServiceRuntime` (its own gRPC server,
ports, metrics, health and shutdown) from its own ``setup(runtime)``, exactly as
``python -m mizzen.<service>`` would, so clients see the same contracts. They share one
:class:`~mizzen.store.MemoryServer` instead of etcd; each gets its own client of it, as
separate processes would of one etcd. There is no NATS: no service needs the bus yet.

How the shared store reaches a service: its store URL is ``memory://<name>``, which
:func:`mizzen.store.open_store` resolves to one process-wide named in-memory server; the
supervisor holds that server for the mesh's lifetime.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog

from mizzen.cli.mesh.components import SERVICES, probe_health
from mizzen.cli.mesh.config import MeshConfig
from mizzen.cli.mesh.errors import StartError
from mizzen.cli.mesh.home import MeshHome
from mizzen.runtime import ServiceRuntime, load_settings
from mizzen.store import MemoryServer, named_memory_server

log = structlog.get_logger(__name__)

# Every in-process service opens this store: one shared in-memory server (see open_store).
SHARED_STORE_URL = f"memory://mizzen-all-in-one-{os.getpid()}"
# service -> (its app module, its settings module and class)
_MODULES: dict[str, tuple[str, str, str]] = {
    "translator": ("mizzen.translator.app", "mizzen.translator.config", "TranslatorSettings"),
    "discovery": ("mizzen.discovery.app", "mizzen.discovery.config", "DiscoverySettings"),
    "xds": ("mizzen.xds.app", "mizzen.xds.config", "XdsSettings"),
}
Setup = Callable[[ServiceRuntime[Any]], Awaitable[None]]


class InProcessService:
    """A :class:`~mizzen.cli.mesh.components.Component` that is one service's runtime in
    this process. Its pid is this process's."""

    kind = "in-process"

    def __init__(self, name: str, *, config: MeshConfig, home: MeshHome,
                 server: MemoryServer) -> None:  # fmt: skip
        self.name = name
        self._server = server  # keeps the shared store alive while this service runs
        host = config.host
        self._grpc_port = config.ports.of(f"{name}_grpc")
        self._metrics_port = config.ports.of(f"{name}_metrics")
        self.address = f"{host}:{self._grpc_port}"
        self.ports = {"grpc": self._grpc_port, "metrics": self._metrics_port}
        self.health_url = f"http://{host}:{self._metrics_port}/readyz"
        self.log_path: Path = home.log_path("supervisor")
        prefix = f"MIZZEN_{name.upper()}_"
        self._environ = {
            f"{prefix}GRPC_HOST": host,
            f"{prefix}GRPC_PORT": str(self._grpc_port),
            f"{prefix}METRICS_HOST": host,
            f"{prefix}METRICS_PORT": str(self._metrics_port),
            f"{prefix}STORE_URL": SHARED_STORE_URL,
            f"{prefix}SHUTDOWN_GRACE_SECONDS": str(config.stop_grace_seconds),
        }
        self._runtime: ServiceRuntime[Any] | None = None

    @property
    def pid(self) -> int | None:
        """This process's pid while the service runs."""
        return os.getpid() if self._runtime is not None else None

    def _load(self) -> tuple[ModuleType, Setup, Any]:
        app_name, config_name, settings_name = _MODULES[self.name]
        try:
            app = importlib.import_module(app_name)
            settings_type = getattr(importlib.import_module(config_name), settings_name)
        except (ImportError, AttributeError) as exc:
            raise StartError(self.name, f"cannot load it in-process: {exc}") from exc
        setup = getattr(app, "setup", None)
        if setup is None:
            raise StartError(self.name, "this service does not support --all-in-one yet "
                             "(its app module has no setup(runtime))")  # fmt: skip
        settings = load_settings(settings_type, argv=[], environ=self._environ)
        return app, setup, settings

    async def start(self) -> None:
        """Set the service up and start its servers; raises :class:`StartError`."""
        _, setup, settings = self._load()
        runtime: ServiceRuntime[Any] = ServiceRuntime.create(settings)
        try:
            await setup(runtime)
            await runtime.start()
        except StartError:
            await runtime.shutdown()
            raise
        except Exception as exc:
            await runtime.shutdown()
            raise StartError(self.name, f"{type(exc).__name__}: {exc}") from exc
        if not await probe_health(self.health_url):
            await runtime.shutdown()
            raise StartError(self.name, f"{self.health_url} does not answer 200")
        self._runtime = runtime

    async def wait(self) -> int:
        """Return the runtime's exit code once it has shut down (a failed background task
        shuts it down, which the supervisor treats as a crash)."""
        runtime = self._runtime
        if runtime is None:
            return -1
        await runtime.wait_shutdown_requested()
        code = await runtime.shutdown()
        if self._runtime is runtime:
            self._runtime = None
        return code

    async def stop(self) -> None:
        """Shut the service's runtime down gracefully."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.request_shutdown("mesh stopping")
            await runtime.shutdown()


def build_in_process_components(config: MeshConfig, home: MeshHome) -> list[InProcessService]:
    """The services of an all-in-one mesh, in start order, on one new shared store."""
    # The components hold the named server, so it lives exactly as long as the mesh.
    server = named_memory_server(SHARED_STORE_URL.removeprefix("memory://"))
    return [InProcessService(name, config=config, home=home, server=server) for name in SERVICES]
