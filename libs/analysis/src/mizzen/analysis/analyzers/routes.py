"""Walking the destinations of a VirtualService, with their field paths."""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.api import VirtualService
from mizzen.api.networking.common import Destination

__all__ = ["mirror_destinations", "route_destinations"]


def route_destinations(vs: VirtualService) -> Iterator[tuple[str, Destination]]:
    """(path, destination) of every route of every http, tcp and tls rule."""
    spec = vs.spec
    for i, http in enumerate(spec.http or ()):
        for j, dest in enumerate(http.route or ()):
            yield f"spec.http[{i}].route[{j}].destination", dest.destination
    for i, tcp in enumerate(spec.tcp or ()):
        for j, l4 in enumerate(tcp.route or ()):
            yield f"spec.tcp[{i}].route[{j}].destination", l4.destination
    for i, tls in enumerate(spec.tls or ()):
        for j, l4 in enumerate(tls.route or ()):
            yield f"spec.tls[{i}].route[{j}].destination", l4.destination


def mirror_destinations(vs: VirtualService) -> Iterator[tuple[str, Destination]]:
    """(path, destination) of every mirror of every http rule."""
    for i, http in enumerate(vs.spec.http or ()):
        if http.mirror is not None:
            yield f"spec.http[{i}].mirror", http.mirror
        for k, mirror in enumerate(http.mirrors or ()):
            yield f"spec.http[{i}].mirrors[{k}].destination", mirror.destination
