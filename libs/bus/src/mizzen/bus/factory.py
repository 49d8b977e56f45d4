"""``open_bus``: one URL picks the implementation."""

from __future__ import annotations

from urllib.parse import urlsplit

from mizzen.bus.bus import Bus, ConnectionEvent, ConnectionListener
from mizzen.bus.errors import BusUrlError
from mizzen.bus.memory_bus import MemoryBroker, MemoryBus, named_broker
from mizzen.bus.nats_bus import NatsBus

__all__ = ["open_bus", "parse_nats_servers"]

_NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def parse_nats_servers(url: str) -> list[str]:
    """Split ``nats://a:4222,nats://b:4222`` (or ``nats://a:4222,b:4222``) into server URLs.

    Raises :class:`BusUrlError` for an empty entry, an unknown scheme or a missing host.
    """
    servers = []
    for part in url.split(","):
        entry = part.strip()
        if not entry:
            raise BusUrlError(f"empty server in bus URL {url!r}", url=url)
        if "://" not in entry:
            entry = f"nats://{entry}"
        parsed = urlsplit(entry)
        if parsed.scheme not in _NATS_SCHEMES or not parsed.hostname:
            raise BusUrlError(
                f"bad server {part!r} in bus URL {url!r}: expected nats://host:port", url=url
            )
        servers.append(entry)
    return servers


async def open_bus(
    url: str,
    *,
    name: str = "mizzen",
    connect_timeout: float | None = 10.0,
    reconnect_wait: float = 0.5,
    ping_interval: float = 10.0,
    api_timeout: float = 5.0,
    on_connection: ConnectionListener | None = None,
) -> Bus:
    """Open a bus and return it connected.

    ``url`` is ``nats://host:port[,host:port...]`` (also ``tls://``) for NATS, or
    ``memory://`` for a private in-memory broker, ``memory://<name>`` for the in-process
    broker of that name (shared by every bus opened with the same URL).

    ``name`` labels the connection (NATS monitoring, logs). For NATS: ``connect_timeout``
    bounds the first connection (``None``: wait forever) and raises :class:`BusUnavailable`;
    afterwards the bus reconnects forever, retrying every ``reconnect_wait`` seconds;
    ``ping_interval`` is the keepalive period; ``api_timeout`` bounds JetStream API calls.
    ``on_connection`` is added as a connection listener before connecting, so it also sees
    ``CONNECTED``. Raises :class:`BusUrlError` for a malformed URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise BusUrlError(f"bus URL {url!r} has no scheme: use nats:// or memory://", url=url)
    if scheme == "memory":
        if "/" in rest or "," in rest:
            raise BusUrlError(f"bad memory bus URL {url!r}: use memory://[name]", url=url)
        broker = named_broker(rest) if rest else MemoryBroker()
        bus = MemoryBus(broker, name=name)
        if on_connection is not None:
            bus.add_connection_listener(on_connection)
        bus._emit(ConnectionEvent.CONNECTED)
        return bus
    if scheme in _NATS_SCHEMES:
        return await NatsBus.connect(
            parse_nats_servers(url),
            name=name,
            connect_timeout=connect_timeout,
            reconnect_wait=reconnect_wait,
            ping_interval=ping_interval,
            api_timeout=api_timeout,
            listeners=[on_connection] if on_connection is not None else [],
        )
    raise BusUrlError(f"unknown bus URL scheme {scheme!r} in {url!r}", url=url)
