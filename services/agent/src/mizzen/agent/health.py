"""Is the app serving? A TCP probe of its ports where its Envoy forwards (127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

__all__ = ["AppProbe"]

log = structlog.get_logger(__name__)


async def _accepts(host: str, port: int, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):  # we hang up at once; a reset here is expected
        await writer.wait_closed()
    return True


class AppProbe:
    """Checks that every app port accepts TCP connections at 127.0.0.1.

    When a port is closed there but open on the workload's own address, the app bound the
    wrong address (its Envoy forwards to 127.0.0.1); that is logged once, as a warning that
    says what to change.
    """

    def __init__(self, app_ports: Sequence[int], address: str, *, timeout: float = 0.5) -> None:
        self._ports = tuple(app_ports)
        self._address = address
        self._timeout = timeout
        self._warned: set[int] = set()

    async def check(self) -> bool:
        """Whether every app port accepts connections (``True`` when there are none)."""
        results = await asyncio.gather(
            *(_accepts("127.0.0.1", port, self._timeout) for port in self._ports)
        )
        for port, ok in zip(self._ports, results, strict=True):
            if ok or port in self._warned:
                continue
            if await _accepts(self._address, port, self._timeout):
                self._warned.add(port)
                log.warning("app listens on the wrong address", port=port,
                            listening=f"{self._address}:{port}",
                            expected=f"127.0.0.1:{port} or 0.0.0.0:{port}")  # fmt: skip
        return all(results)
