"""Domain values ↔ the ``mizzen.config.v1`` messages."""

from __future__ import annotations

import json

from mizzen.api import FieldError, Resource
from mizzen.configstore import Change, ConfigEvent, EventType, HistoryEntry, ResourceKey
from mizzen.protos.config.v1 import config_pb2 as pb

_CHANGES = {
    Change.CREATED: pb.CHANGE_TYPE_CREATED,
    Change.CONFIGURED: pb.CHANGE_TYPE_CONFIGURED,
    Change.UNCHANGED: pb.CHANGE_TYPE_UNCHANGED,
    Change.DELETED: pb.CHANGE_TYPE_DELETED,
}
_EVENTS = {
    EventType.ADDED: pb.WatchEvent.TYPE_ADDED,
    EventType.MODIFIED: pb.WatchEvent.TYPE_MODIFIED,
    EventType.DELETED: pb.WatchEvent.TYPE_DELETED,
    EventType.SYNCED: pb.WatchEvent.TYPE_SYNCED,
}


def resource_to_pb(resource: Resource) -> pb.Resource:
    """A stored resource as a message (its whole document as JSON)."""
    return pb.Resource(
        api_version=resource.api_version,
        kind=resource.kind,
        namespace=resource.namespace,
        name=resource.name,
        resource_version=resource.metadata.resource_version or "",
        generation=resource.metadata.generation or 0,
        document=json.dumps(resource.to_dict(), separators=(",", ":")).encode(),
    )


def key_to_pb(key: ResourceKey) -> pb.ResourceKey:
    """A resource key as a message."""
    return pb.ResourceKey(kind=key.kind, namespace=key.namespace, name=key.name)


def change_to_pb(change: Change) -> pb.ChangeType.ValueType:
    """A change as its enum value."""
    return _CHANGES[change]


def field_error_to_pb(error: FieldError) -> pb.FieldError:
    """A validation problem as a message."""
    return pb.FieldError(
        source=error.source,
        document_index=error.document_index,
        kind=error.kind,
        namespace=error.namespace,
        name=error.name,
        path=error.path,
        message=error.message,
    )


def history_to_pb(entry: HistoryEntry, key: ResourceKey) -> pb.HistoryEntry:
    """A history entry as a message (a deletion carries only the key)."""
    message = pb.HistoryEntry(
        revision=entry.revision, applied_by=entry.applied_by, change=_CHANGES[entry.change]
    )
    message.time.FromDatetime(entry.time)
    if entry.resource is not None:
        message.resource.CopyFrom(resource_to_pb(entry.resource))
    else:
        message.resource.CopyFrom(pb.Resource(kind=key.kind, namespace=key.namespace,
                                              name=key.name))  # fmt: skip
    return message


def event_to_pb(event: ConfigEvent) -> pb.WatchEvent:
    """A config event as a message."""
    message = pb.WatchEvent(type=_EVENTS[event.type], revision=event.revision)
    if event.resource is not None:
        message.resource.CopyFrom(resource_to_pb(event.resource))
    elif event.key is not None:
        message.resource.CopyFrom(pb.Resource(kind=event.key.kind, namespace=event.key.namespace,
                                              name=event.key.name))  # fmt: skip
    return message
