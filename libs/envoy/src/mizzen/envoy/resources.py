"""Envoy resources serialized once, addressed by content, grouped into snapshots.

An :class:`EnvoyResource` holds the bytes of the ``google.protobuf.Any`` that packs the
resource message (not the bare message bytes). Two reasons:

- the xds tier puts exactly those bytes into ``DiscoveryResponse.resources`` and
  ``Resource.resource`` (both ``Any``) without parsing or re-serializing anything;
- the type URL is part of the hashed bytes, so a Cluster and a Listener whose message bytes
  happen to be equal (``name: "x"`` is the same first field in both) never share a hash in a
  content-addressed store.

``hash`` is the hex SHA-256 of those bytes. The message is serialized with
``deterministic=True`` (map fields in key order), so equal messages give equal bytes however
their maps were filled. Messages packed *inside* a resource (``typed_config`` and friends)
are bytes already by the time the resource is serialized: pack them with :func:`pack`,
never with ``Any.Pack`` alone, or their maps keep insertion order and equal configs hash
differently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from mizzen.envoy.errors import DuplicateResourceError, ResourceError
from mizzen.envoy.types import PUSH_ORDER, message_class, type_url_of

__all__ = [
    "EnvoyResource",
    "ResourceDiff",
    "Snapshot",
    "TypeSnapshot",
    "decode",
    "diff_hashes",
    "make_resource",
    "pack",
    "version_of",
]


def pack(message: Message) -> any_pb2.Any:
    """``message`` packed into a new ``Any`` with deterministic bytes (map fields sorted)."""
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


@dataclass(frozen=True, slots=True)
class EnvoyResource:
    """One named xDS resource, serialized once.

    ``body`` is the deterministic serialization of the ``Any`` packing the message;
    ``hash`` is the hex SHA-256 of ``body``. Instances are immutable and safe to share
    between tasks, snapshots and proxy classes. Build them with :func:`make_resource`
    (or :meth:`from_body` for bytes read back from storage).
    """

    name: str
    type_url: str
    body: bytes = field(repr=False)
    hash: str

    @classmethod
    def from_body(cls, name: str, body: bytes) -> EnvoyResource:
        """A resource from stored ``Any`` bytes: the type URL is read from them and the hash
        recomputed, so a corrupted store cannot pass off wrong bytes under a right hash.
        Raises :class:`ResourceError` when ``body`` is not an ``Any``."""
        try:
            packed = any_pb2.Any.FromString(body)
        except DecodeError as exc:
            raise ResourceError(f"resource {name!r} is not a packed Any", name=name) from exc
        return cls(name, packed.type_url, body, hashlib.sha256(body).hexdigest())

    def to_any(self) -> any_pb2.Any:
        """The packed ``Any`` (a new object each call; the caller may mutate it)."""
        return any_pb2.Any.FromString(self.body)


def make_resource(message: Message, name: str | None = None) -> EnvoyResource:
    """Serialize ``message`` once (deterministically), pack it and hash it.

    ``name`` defaults to the message's ``name`` field, or ``cluster_name`` for a
    ClusterLoadAssignment; a message with neither needs an explicit name. Raises
    :class:`ResourceError` when no name can be found.
    """
    if name is None:
        name = _name_of(message)
    packed = any_pb2.Any(
        type_url=type_url_of(message), value=message.SerializeToString(deterministic=True)
    )
    body = packed.SerializeToString(deterministic=True)
    return EnvoyResource(name, packed.type_url, body, hashlib.sha256(body).hexdigest())


def _name_of(message: Message) -> str:
    fields = message.DESCRIPTOR.fields_by_name
    for field_name in ("name", "cluster_name"):
        if field_name in fields:
            value = getattr(message, field_name)
            if isinstance(value, str) and value:
                return value
    raise ResourceError(
        f"{message.DESCRIPTOR.full_name} has no name; pass one", type_url=type_url_of(message)
    )


def decode(resource: EnvoyResource) -> Message:
    """The message ``resource`` holds, as a new object of its type's generated class.

    Raises :class:`~mizzen.envoy.errors.UnknownTypeError` for a type this package does not
    serve and :class:`ResourceError` for bytes that do not parse."""
    cls = message_class(resource.type_url)
    try:
        packed = any_pb2.Any.FromString(resource.body)
        return cls.FromString(packed.value)
    except DecodeError as exc:
        raise ResourceError(
            f"resource {resource.name!r} does not decode as {resource.type_url}",
            name=resource.name,
            type_url=resource.type_url,
        ) from exc


def version_of(hashes: Mapping[str, str]) -> str:
    """A version string for a name→hash map: equal maps give equal versions whatever their
    order, different maps (practically) never do. 16 hex digits of a SHA-256 over the sorted
    pairs: short enough to read in a config dump, 64 bits against accidental equality."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(name.encode())
        digest.update(b"\x00")
        digest.update(hashes[name].encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ResourceDiff:
    """What changed between two name→hash maps of one type, each tuple sorted by name.

    ``added``: names only in the new map; ``changed``: in both with different hashes;
    ``removed``: names only in the old map. A delta xDS response carries ``added`` and
    ``changed`` as resources and ``removed`` as ``removed_resources``.
    """

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """Whether nothing changed."""
        return not (self.added or self.changed or self.removed)

    @property
    def updated(self) -> tuple[str, ...]:
        """``added`` and ``changed`` together, sorted: the resources to send."""
        return tuple(sorted((*self.added, *self.changed)))


def diff_hashes(old: Mapping[str, str], new: Mapping[str, str]) -> ResourceDiff:
    """Compare two name→hash maps of one resource type (pure; neither map is altered)."""
    return ResourceDiff(
        added=tuple(sorted(new.keys() - old.keys())),
        changed=tuple(sorted(n for n in new.keys() & old.keys() if new[n] != old[n])),
        removed=tuple(sorted(old.keys() - new.keys())),
    )


class TypeSnapshot(Mapping[str, EnvoyResource]):
    """The resources of one type, by name, with their version. Immutable."""

    __slots__ = ("_by_name", "_hashes", "type_url", "version")

    def __init__(self, type_url: str, resources: Iterable[EnvoyResource] = ()) -> None:
        by_name: dict[str, EnvoyResource] = {}
        for resource in resources:
            if resource.type_url != type_url:
                raise ResourceError(
                    f"resource {resource.name!r} is a {resource.type_url}, not a {type_url}",
                    name=resource.name,
                    type_url=resource.type_url,
                )
            if resource.name in by_name:
                raise DuplicateResourceError(resource.name, type_url)
            by_name[resource.name] = resource
        self.type_url = type_url
        self._by_name: Mapping[str, EnvoyResource] = MappingProxyType(by_name)
        self._hashes: Mapping[str, str] = MappingProxyType(
            {name: resource.hash for name, resource in by_name.items()}
        )
        self.version = version_of(self._hashes)

    @property
    def hashes(self) -> Mapping[str, str]:
        """name → content hash (read-only view)."""
        return self._hashes

    def __getitem__(self, name: str) -> EnvoyResource:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"TypeSnapshot({self.type_url!r}, {len(self)} resources, version={self.version})"


class Snapshot(Mapping[str, TypeSnapshot]):
    """An internally consistent set of resources for one proxy class: type URL →
    :class:`TypeSnapshot`. Immutable; iteration follows :data:`~mizzen.envoy.types.PUSH_ORDER`
    for known types, then any others by type URL. A type with no resources is absent (a plain
    ``Mapping``: ``snapshot[type_url]`` raises ``KeyError``); :meth:`of_type` answers with an
    empty :class:`TypeSnapshot` instead, since "no listeners" is a valid answer to a proxy."""

    __slots__ = ("_types",)

    def __init__(self, resources: Iterable[EnvoyResource] = ()) -> None:
        grouped: dict[str, list[EnvoyResource]] = {}
        for resource in resources:
            grouped.setdefault(resource.type_url, []).append(resource)
        order = {url: i for i, url in enumerate(PUSH_ORDER)}
        urls = sorted(grouped, key=lambda url: (order.get(url, len(order)), url))
        self._types: Mapping[str, TypeSnapshot] = MappingProxyType(
            {url: TypeSnapshot(url, grouped[url]) for url in urls}
        )

    def __getitem__(self, type_url: str) -> TypeSnapshot:
        return self._types[type_url]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def of_type(self, type_url: str) -> TypeSnapshot:
        """The resources of one type; an empty :class:`TypeSnapshot` when there are none."""
        found = self._types.get(type_url)
        return found if found is not None else TypeSnapshot(type_url)

    def version(self, type_url: str) -> str:
        """The version of one type (that of the empty map when the type has no resources)."""
        return self.of_type(type_url).version

    def hashes(self, type_url: str) -> Mapping[str, str]:
        """name → hash for one type (empty when the type has no resources)."""
        return self.of_type(type_url).hashes

    def resources(self) -> Iterator[EnvoyResource]:
        """Every resource, types in push order, names in insertion order."""
        for type_snapshot in self._types.values():
            yield from type_snapshot.values()

    def __repr__(self) -> str:
        counts = ", ".join(f"{url.rsplit('.', 1)[-1]}={len(t)}" for url, t in self._types.items())
        return f"Snapshot({counts})"
