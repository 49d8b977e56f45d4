"""A Mizzen service (``python -m mizzen.<service>``) as a child process."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from mizzen.launcher.probe import http_get
from mizzen.launcher.process import ChildProcess


class ServiceProcess(ChildProcess):
    """Runs ``python -m mizzen.<service>`` with the given settings as environment variables.

    Ready when the service's ``/readyz`` (on ``metrics_port``) answers 200, which the runtime
    only does once every gRPC service is registered and serving. ``env`` holds the settings
    (``MIZZEN_<SERVICE>_<FIELD>``); the ports must be among them, as the runtime reads them.
    """

    def __init__(
        self,
        service: str,
        work_dir: Path,
        *,
        grpc_port: int,
        metrics_port: int,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.service = service
        self.host = host
        self.grpc_port = grpc_port
        self.metrics_port = metrics_port
        prefix = f"MIZZEN_{service.upper()}_"
        settings = {
            f"{prefix}GRPC_PORT": str(grpc_port),
            f"{prefix}METRICS_PORT": str(metrics_port),
            "MIZZEN_LOG_FORMAT": "json",
            **(env or {}),
        }
        label = name or service
        super().__init__(
            label,
            [sys.executable, "-m", f"mizzen.{service}"],
            log_path=work_dir / f"{label}.log",
            env=settings,
            start_timeout=start_timeout,
        )

    @property
    def grpc_target(self) -> str:
        """``host:port`` of the service's gRPC server."""
        return f"{self.host}:{self.grpc_port}"

    async def is_ready(self) -> bool:
        """Ready when ``/readyz`` answers 200."""
        status, _ = await http_get(self.host, self.metrics_port, "/readyz")
        return status == 200
