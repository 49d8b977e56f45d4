"""The etcd key layout of config and its history (see docs/state.md)."""

from __future__ import annotations

from dataclasses import dataclass

CONFIG_PREFIX = "/mizzen/config/"
HISTORY_PREFIX = "/mizzen/history/"


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    """Identifies one resource: its kind (``VirtualService``), namespace and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def config_key(self) -> str:
        """Where the resource's current version is stored."""
        return f"{CONFIG_PREFIX}{self.kind}/{self.namespace}/{self.name}"

    @property
    def history_prefix(self) -> str:
        """Under which the resource's history entries are stored."""
        return f"{HISTORY_PREFIX}{self.kind}/{self.namespace}/{self.name}/"

    def history_key(self, sequence: int) -> str:
        """The history entry for the change based on store revision ``sequence``.

        Zero-padded so keys sort in the order of the changes.
        """
        return f"{self.history_prefix}{sequence:020d}"


def config_prefix(kind: str = "", namespace: str = "") -> str:
    """The prefix holding every resource of ``kind`` (all kinds if empty) in ``namespace``."""
    if not kind:
        return CONFIG_PREFIX
    if not namespace:
        return f"{CONFIG_PREFIX}{kind}/"
    return f"{CONFIG_PREFIX}{kind}/{namespace}/"


def parse_config_key(key: bytes) -> ResourceKey:
    """The :class:`ResourceKey` of a stored config key (``ValueError`` if it is not one)."""
    text = key.decode("utf-8")
    if not text.startswith(CONFIG_PREFIX):
        raise ValueError(f"not a config key: {text}")
    parts = text[len(CONFIG_PREFIX) :].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a config key: {text}")
    return ResourceKey(*parts)
