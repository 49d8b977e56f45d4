"""nats-server as a child process."""

from __future__ import annotations

from pathlib import Path

from mizzen.launcher.binaries import find_binary
from mizzen.launcher.ports import PortAllocator
from mizzen.launcher.probe import http_get
from mizzen.launcher.process import ChildProcess


class NatsProcess(ChildProcess):
    """A nats-server with JetStream enabled, storing streams under ``data_dir``.

    Ports stay the same across :meth:`restart`; JetStream data survives it.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: PortAllocator | None = None,
        port: int | None = None,
        monitor_port: int | None = None,
        host: str = "127.0.0.1",
        name: str = "nats",
    ) -> None:
        allocator = ports or PortAllocator(host)
        self.host = host
        self.port = port or allocator.take()
        self.monitor_port = monitor_port or allocator.take()
        self.data_dir = data_dir
        argv = [
            str(find_binary("nats-server")),
            "--name", name,
            "--addr", host,
            "--port", str(self.port),
            "--http_port", str(self.monitor_port),
            "--jetstream",
            "--store_dir", str(data_dir / "jetstream"),
        ]  # fmt: skip
        super().__init__(name, argv, log_path=data_dir / f"{name}.log")

    @property
    def url(self) -> str:
        """The client URL, ``nats://host:port``."""
        return f"nats://{self.host}:{self.port}"

    async def is_ready(self) -> bool:
        """Ready when the monitoring ``/healthz`` (which covers JetStream) answers 200."""
        status, _ = await http_get(self.host, self.monitor_port, "/healthz")
        return status == 200
