"""Envoy as a child process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mizzen.launcher.binaries import find_binary
from mizzen.launcher.probe import http_get
from mizzen.launcher.process import ChildProcess


class EnvoyProcess(ChildProcess):
    """An Envoy run from a bootstrap document (written as JSON into ``work_dir``).

    The bootstrap must define ``admin.address.socket_address`` on ``admin_host:admin_port``;
    readiness is the admin ``/ready`` endpoint. Every instance gets its own shared-memory base id
    so that many Envoys run side by side.
    """

    def __init__(
        self,
        work_dir: Path,
        bootstrap: dict[str, Any],
        *,
        admin_port: int,
        admin_host: str = "127.0.0.1",
        name: str = "envoy",
        concurrency: int = 1,
        log_level: str = "warning",
        extra_args: list[str] | None = None,
    ) -> None:
        self.admin_host = admin_host
        self.admin_port = admin_port
        self.work_dir = work_dir
        self.bootstrap_path = work_dir / f"{name}-bootstrap.json"
        work_dir.mkdir(parents=True, exist_ok=True)
        self.bootstrap_path.write_text(json.dumps(bootstrap, indent=2))
        argv = [
            str(find_binary("envoy")),
            "--config-path", str(self.bootstrap_path),
            "--use-dynamic-base-id",
            "--disable-hot-restart",
            "--concurrency", str(concurrency),
            "--log-level", log_level,
            *(extra_args or []),
        ]  # fmt: skip
        super().__init__(name, argv, log_path=work_dir / f"{name}.log")

    async def is_ready(self) -> bool:
        """Ready when the admin ``/ready`` endpoint answers 200 (state LIVE)."""
        status, _ = await http_get(self.admin_host, self.admin_port, "/ready")
        return status == 200

    async def admin_get(self, path: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET an admin endpoint, e.g. ``/config_dump`` or ``/stats?format=json``."""
        return await http_get(self.admin_host, self.admin_port, path, timeout=timeout)

    async def config_dump(self, resource: str | None = None) -> dict[str, Any]:
        """The parsed admin ``/config_dump`` (optionally ``?resource=...``)."""
        path = "/config_dump" + (f"?resource={resource}" if resource else "")
        status, body = await self.admin_get(path)
        if status != 200:
            raise ValueError(f"config_dump answered {status}: {body[:200]!r}")
        result: dict[str, Any] = json.loads(body)
        return result

    async def stats(self) -> dict[str, int]:
        """Counter and gauge values from the admin ``/stats`` endpoint, by name.

        Text readouts (``control_plane.identifier``, version texts) are left out.
        """
        status, body = await self.admin_get("/stats?format=json")
        if status != 200:
            raise ValueError(f"stats answered {status}")
        values: dict[str, int] = {}
        for stat in json.loads(body).get("stats", []):
            value = stat.get("value")
            if isinstance(value, int):
                values[stat["name"]] = value
        return values
