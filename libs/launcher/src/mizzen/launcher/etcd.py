"""etcd as a child process."""

from __future__ import annotations

import json
from pathlib import Path

from mizzen.launcher.binaries import find_binary
from mizzen.launcher.ports import PortAllocator
from mizzen.launcher.probe import http_get
from mizzen.launcher.process import ChildProcess


class EtcdProcess(ChildProcess):
    """A single-member etcd with its data in ``data_dir``.

    ``fast=True`` shortens raft timings (heartbeat 10 ms, election 100 ms: ready in ~0.1 s)
    and skips fsync. Skipping fsync loses nothing when the *process* is killed (the page cache
    survives it); only a machine crash could lose writes, which is why it is for tests only.
    Ports stay the same across :meth:`restart`, so clients can reconnect to the same endpoint.
    ``history_retention`` (etcd's duration syntax, e.g. ``"5m"``) compacts revisions older than
    that, periodically; without it etcd keeps every revision.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: PortAllocator | None = None,
        client_port: int | None = None,
        peer_port: int | None = None,
        host: str = "127.0.0.1",
        fast: bool = True,
        name: str = "etcd",
        history_retention: str | None = None,
    ) -> None:
        allocator = ports or PortAllocator(host)
        self.host = host
        self.client_port = client_port or allocator.take()
        self.peer_port = peer_port or allocator.take()
        self.data_dir = data_dir
        client_url = f"http://{host}:{self.client_port}"
        peer_url = f"http://{host}:{self.peer_port}"
        argv = [
            str(find_binary("etcd")),
            "--name", name,
            "--data-dir", str(data_dir / "data"),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{name}={peer_url}",
            "--log-level", "warn",
            # One config apply is one transaction of ~4 operations per resource; etcd's default
            # of 128 operations would cap an apply at ~30 resources.
            "--max-txn-ops", "10000",
        ]  # fmt: skip
        if fast:
            argv += ["--heartbeat-interval", "10", "--election-timeout", "100", "--unsafe-no-fsync"]
        if history_retention:
            # etcd keeps every revision until compacted: without it the database only grows.
            # Mizzen's watchers resume across a compaction (they re-list), and config history
            # is kept in keys of its own, so old revisions can go.
            argv += ["--auto-compaction-mode", "periodic",
                     "--auto-compaction-retention", history_retention]  # fmt: skip
        super().__init__(name, argv, log_path=data_dir / f"{name}.log")

    @property
    def endpoint(self) -> str:
        """``host:port`` of the client API."""
        return f"{self.host}:{self.client_port}"

    async def is_ready(self) -> bool:
        """Ready when ``/health`` reports a healthy member (it has a leader)."""
        status, body = await http_get(self.host, self.client_port, "/health")
        return status == 200 and json.loads(body).get("health") == "true"
