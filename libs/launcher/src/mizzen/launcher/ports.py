"""Free loopback ports for child processes."""

from __future__ import annotations

import socket


def is_port_free(host: str, port: int) -> bool:
    """Return whether ``host:port`` can be bound for listening right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out ports that were free when asked and never the same one twice.

    The kernel may give a just-closed ephemeral port to someone else; remembering what we
    handed out at least keeps two of our own children from colliding. Not thread-safe; use
    one per event loop.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._given: set[int] = set()

    def take(self) -> int:
        """Return a port that was free a moment ago and that this allocator never gave out."""
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((self.host, 0))
                port = int(sock.getsockname()[1])
            if port not in self._given:
                self._given.add(port)
                return port
        raise RuntimeError("no free port found after 100 attempts")
