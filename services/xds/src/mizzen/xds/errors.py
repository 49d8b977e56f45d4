"""Errors of the xds service.

::

    XdsError                  base of everything this package raises
    └── InvalidNodeError      a stream's node cannot be served: no node on the first
                              request, a malformed node id or node metadata

Store failures stay :class:`mizzen.store.StoreError` (they are the store's); the mapping to
gRPC status codes is in :mod:`mizzen.xds.api.errors`.
"""

from __future__ import annotations


class XdsError(Exception):
    """Base of every error the xds service raises."""


class InvalidNodeError(XdsError):
    """The node of a stream cannot be served; ``node_id`` names it (may be empty)."""

    def __init__(self, message: str, *, node_id: str = "") -> None:
        self.node_id = node_id
        super().__init__(f"node {node_id!r}: {message}" if node_id else message)
