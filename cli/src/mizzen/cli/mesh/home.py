"""The mesh's state directory (``MIZZEN_HOME``) and the lock that makes one ``up`` per home.

Layout::

    <home>/up.lock      flock held by the live supervisor; holds its pid
    <home>/state.json   what runs where (see mizzen.cli.mesh.state)
    <home>/logs/        one log per component, plus supervisor.log
    <home>/etcd/        etcd's data
    <home>/nats/        NATS JetStream's data

The lock is an ``flock``: the kernel drops it when its holder dies, however it dies, so a
stale lock needs no cleaning: the next ``mizzen up`` simply gets it. ``mizzen up --detach``
takes the lock and hands the open descriptor to the supervisor daemon, so there is no moment
in which the home is unlocked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path

from mizzen.cli.mesh.errors import AlreadyRunningError, HomeError

DEFAULT_HOME = "~/.mizzen"
HOME_VARIABLE = "MIZZEN_HOME"
# How long `up` retries a busy lock: `status` and `down` hold it shared for a moment.
_LOCK_RETRY_SECONDS = 0.5


def resolve_home(explicit: Path | str | None = None, environ: Mapping[str, str] | None = None
                 ) -> Path:  # fmt: skip
    """The home to use: ``explicit``, else ``$MIZZEN_HOME``, else ``~/.mizzen``; absolute,
    with ``~`` expanded."""
    env = os.environ if environ is None else environ
    raw = explicit if explicit not in (None, "") else env.get(HOME_VARIABLE) or DEFAULT_HOME
    return Path(raw).expanduser().absolute()


class MeshHome:
    """Paths inside one home, and its lock. Cheap to build; touches nothing until asked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock_path = root / "up.lock"
        self.state_path = root / "state.json"
        self.logs_dir = root / "logs"
        self.etcd_dir = root / "etcd"
        self.nats_dir = root / "nats"

    def prepare(self) -> None:
        """Create the directories and prove the home writable; raises :class:`HomeError`."""
        probe = self.root / f".write-test-{os.getpid()}"
        try:
            for directory in (self.root, self.logs_dir, self.etcd_dir, self.nats_dir):
                directory.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise HomeError(self.root, exc.strerror or str(exc)) from exc

    def log_path(self, component: str) -> Path:
        """Where ``component`` writes its output."""
        return self.logs_dir / f"{component}.log"

    def acquire_lock(self) -> HomeLock:
        """Take the home's lock for a new supervisor.

        Raises :class:`AlreadyRunningError` (naming the holder's pid) when a live supervisor
        holds it, and :class:`HomeError` when the lock file cannot be opened.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HomeError(self.root, exc.strerror or str(exc)) from exc
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise AlreadyRunningError(self.root, pid) from None
                time.sleep(0.02)  # a probe holds the lock shared for a moment; retry
        lock = HomeLock(fd)
        lock.record_owner(os.getpid())
        return lock

    def supervisor_pid(self) -> int | None:
        """The pid of the live supervisor holding this home, or ``None`` if there is none.

        Asks the lock itself (a shared, non-blocking flock), so a dead supervisor's leftovers
        never count as running.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd) or -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


class HomeLock:
    """The held lock of a home (an open, flocked descriptor). Released when closed or when
    every process holding the descriptor is gone."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def adopt(cls, fd: int) -> HomeLock:
        """Take over a lock descriptor inherited from ``mizzen up --detach`` and record this
        process as its owner. Raises :class:`OSError` if ``fd`` is not a lock we can hold."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock = cls(fd)
        lock.record_owner(os.getpid())
        return lock

    def record_owner(self, pid: int) -> None:
        """Write ``pid`` into the lock file, for ``status`` and error messages."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{pid}\n".encode(), 0)

    def release(self) -> None:
        """Close this process's descriptor (the lock goes once no process holds it)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
