"""xDS snapshots in etcd, shared by the translator (writer) and xds (reader).

See :mod:`mizzen.snapshots.layout` for the keys, :mod:`mizzen.snapshots.proxy` for proxy
classes, :class:`SnapshotWriter` for how the translator stores only what changed, and
:class:`SnapshotReader` for how xds follows snapshots and fetches resource bodies.
"""

from mizzen.snapshots.layout import (
    CLASSES_PREFIX,
    RESOURCES_PREFIX,
    SETS_PREFIX,
    XDS_PREFIX,
    ClassSnapshot,
    ResourceSet,
    class_id_of,
    inputs_key,
    resource_key,
    set_key,
    snapshot_key,
)
from mizzen.snapshots.proxy import (
    InboundPort,
    Interception,
    ProxyClass,
    ProxyType,
    format_inbound,
    parse_inbound,
)
from mizzen.snapshots.reader import (
    ClassChangeListener,
    ClassResources,
    MissingResourceError,
    SnapshotReader,
)
from mizzen.snapshots.writer import CollectStats, SnapshotWriter, WriteStats

__all__ = [
    "CLASSES_PREFIX",
    "RESOURCES_PREFIX",
    "SETS_PREFIX",
    "XDS_PREFIX",
    "ClassChangeListener",
    "ClassResources",
    "ClassSnapshot",
    "CollectStats",
    "InboundPort",
    "Interception",
    "MissingResourceError",
    "ProxyClass",
    "ProxyType",
    "ResourceSet",
    "SnapshotReader",
    "SnapshotWriter",
    "WriteStats",
    "class_id_of",
    "format_inbound",
    "inputs_key",
    "parse_inbound",
    "resource_key",
    "set_key",
    "snapshot_key",
]
