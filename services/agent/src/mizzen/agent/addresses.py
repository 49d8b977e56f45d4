"""Each workload's own loopback address, unique among the agents running on this machine.

An address is held by an exclusive ``flock`` on ``<lock dir>/<address>.lock`` for as
long as the agent lives. The kernel drops the lock when its holder dies, however it dies, so a
crashed agent's address is free again at once; nothing needs cleaning up. Addresses are taken
from 127.1.0.1 upward (never 127.0.0.1, which apps bind for their own ports), skipping ones
whose Envoy ports are already bound by something that is not an agent.

Why a lock file and not a bind: the address must stay reserved across Envoy restarts, while no
socket of ours is bound on it. The lock directory is machine-wide (:func:`machine_lock_dir`),
not per ``MIZZEN_HOME``: loopback addresses are shared by every mesh on the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from mizzen.agent.errors import AddressError
from mizzen.launcher import is_port_free

__all__ = [
    "FIRST_ADDRESS",
    "AddressLease",
    "allocate_address",
    "check_workload_address",
    "machine_lock_dir",
]

FIRST_ADDRESS = ipaddress.IPv4Address("127.1.0.1")
_LAST_ADDRESS = ipaddress.IPv4Address("127.255.255.254")
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_RESERVED = frozenset({ipaddress.IPv4Address("127.0.0.1")})

log = structlog.get_logger(__name__)

PortCheck = Callable[[str], bool]


def machine_lock_dir() -> Path:
    """The machine-wide directory of address locks (``$MIZZEN_ADDRESS_LOCKS`` overrides it),
    created world-writable and sticky like ``/tmp`` so agents of every user share it."""
    configured = os.environ.get("MIZZEN_ADDRESS_LOCKS")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "mizzen-addresses"
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            path.chmod(0o1777)
    return path


class AddressLease:
    """An address this process holds. :meth:`release` (or leaving the ``with`` block, or
    the process dying) frees it. Not shared between processes; the lock fd is not inherited
    by children (close-on-exec)."""

    def __init__(self, address: str, path: Path, fd: int) -> None:
        self.address = address
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """Whether the lease has not been released."""
        return self._fd is not None

    def release(self) -> None:
        """Free the address (idempotent). The file is removed while still locked, so no one
        can lock a file that is about to vanish (see :func:`_try_lock`)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None
        log.debug("address released", address=self.address)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def check_workload_address(text: str) -> str:
    """Validate a forced workload address: an IPv4 loopback address other than 127.0.0.1
    (and not the network or broadcast address). Returns it normalized; raises AddressError."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError as exc:
        raise AddressError(f"--address {text!r} is not an IPv4 address") from exc
    if address not in _LOOPBACK or address in _RESERVED or address.packed[3] in (0, 255):
        raise AddressError(
            f"--address {text}: expected a loopback address 127.x.y.z other than 127.0.0.1 "
            "(last byte 1..254), e.g. 127.1.0.7"
        )
    return str(address)


def _envoy_ports_free(address: str) -> bool:
    # 15000 (admin) and 15001 (outbound proxy) are what the workload's Envoy binds first.
    return is_port_free(address, 15000) and is_port_free(address, 15001)


def _try_lock(path: Path) -> int | None:
    """Lock ``path`` exclusively without blocking; the fd, or ``None`` if someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:  # its holder removed it between our open and our lock: it is not ours
        os.close(fd)
        return None
    return fd


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(path.read_text())
        return f"workload {info.get('workload')!s} (agent pid {info.get('pid')!s})"
    return "another agent"


def _claim(path: Path, address: str, fd: int, owner: str) -> AddressLease:
    info = json.dumps({"address": address, "workload": owner, "pid": os.getpid()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, info.encode() + b"\n", 0)
    log.info("address allocated", address=address, lock=str(path))
    return AddressLease(address, path, fd)


def allocate_address(
    directory: Path,
    *,
    owner: str,
    forced: str | None = None,
    ports_free: PortCheck = _envoy_ports_free,
) -> AddressLease:
    """Take a workload address and return its lease.

    ``forced`` takes that address or fails (:class:`AddressError` naming the agent that
    holds it); otherwise the lowest free address from 127.1.0.1 up. ``owner`` (the workload's
    ``name.namespace``) is written into the lock file for ``forced`` conflicts to name.
    ``ports_free(address)`` tells whether the workload's Envoy could bind there.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if forced is not None:
        address = check_workload_address(forced)
        path = directory / f"{address}.lock"
        fd = _try_lock(path)
        if fd is None:
            raise AddressError(f"address {address} is held by {_holder(path)}")
        if not ports_free(address):
            os.close(fd)
            raise AddressError(
                f"address {address}: port 15000 or 15001 is already bound there by a process "
                "that is not a Mizzen agent"
            )
        return _claim(path, address, fd, owner)
    for address in _candidates():
        path = directory / f"{address}.lock"
        fd = _try_lock(path)
        if fd is None:
            continue
        if not ports_free(address):
            log.warning("address in use outside mizzen", address=address)
            os.close(fd)
            continue
        return _claim(path, address, fd, owner)
    raise AddressError(f"every workload address from {FIRST_ADDRESS} up is taken")


def _candidates() -> Iterator[str]:
    value = int(FIRST_ADDRESS)
    while value <= int(_LAST_ADDRESS):
        address = ipaddress.IPv4Address(value)
        if address.packed[3] not in (0, 255):
            yield str(address)
        value += 1
