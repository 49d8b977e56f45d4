"""A multi-key transaction: compares, then writes, else other writes; applied atomically.

Build one with the fluent methods and hand it to :meth:`~mizzen.store.Store.commit`::

    txn = (
        Txn()
        .when_mod_revision("/a", "==", 7)
        .when_missing("/b")
        .then_put("/a", b"1")
        .then_put("/b", b"2", lease=lease)
        .else_delete("/c")
    )
    result = await store.commit(txn)  # result.succeeded, result.revision

Semantics (etcd's): every compare is evaluated against the same revision; if all hold, the
``then`` writes are applied, else the ``else`` writes; either branch is applied entirely or
not at all, at one new revision (no new revision when the branch changes nothing). A key
that does not exist compares as version 0, create/mod revision 0 and an empty value. A key
may be put at most once per branch, and not put and deleted in the same branch
(:class:`~mizzen.store.InvalidRequest`). A ``Txn`` is a plain value being built: do not
mutate it while a commit of it is in flight.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, Self

from mizzen.store.errors import InvalidRequest
from mizzen.store.model import Key, LeaseArg, encode_key, encode_prefix, lease_id, prefix_range

Operator = Literal["==", "!=", "<", ">"]
_OPERATORS: tuple[str, ...] = ("==", "!=", "<", ">")


class Target(enum.Enum):
    """The field of a key a compare looks at."""

    VALUE = "value"
    VERSION = "version"
    CREATE_REVISION = "create_revision"
    MOD_REVISION = "mod_revision"


@dataclass(frozen=True, slots=True)
class Compare:
    """``key``'s ``target`` ``op`` ``operand`` (an int for revisions/version, bytes for value)."""

    key: bytes
    target: Target
    op: Operator
    operand: int | bytes

    def holds(self, actual: int | bytes) -> bool:
        """Evaluate the compare against the key's actual field value."""
        if isinstance(actual, bytes) != isinstance(self.operand, bytes):
            raise InvalidRequest(f"compare on {self.target.value} needs a matching operand type")
        a, b = actual, self.operand
        if self.op == "==":
            return a == b
        if self.op == "!=":
            return a != b
        if self.op == "<":
            return a < b  # type: ignore[operator]  # same type checked above
        return a > b  # type: ignore[operator]  # same type checked above


@dataclass(frozen=True, slots=True)
class PutOp:
    """Write ``value`` at ``key``, attached to lease ``lease`` (0: none)."""

    key: bytes
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Delete the keys in etcd's ``[key, range_end)``; ``range_end`` empty: just ``key``."""

    key: bytes
    range_end: bytes = b""


WriteOp = PutOp | DeleteOp


@dataclass(slots=True)
class Txn:
    """A transaction being built; see the module docstring for its semantics."""

    compares: list[Compare] = field(default_factory=list)
    then_ops: list[WriteOp] = field(default_factory=list)
    else_ops: list[WriteOp] = field(default_factory=list)

    def _when(self, key: Key, target: Target, op: Operator, operand: int | bytes) -> Self:
        if op not in _OPERATORS:
            raise InvalidRequest(f"unknown compare operator {op!r}; use one of {_OPERATORS}")
        self.compares.append(Compare(encode_key(key), target, op, operand))
        return self

    def when_mod_revision(self, key: Key, op: Operator, revision: int) -> Self:
        """Require ``key``'s mod_revision ``op`` ``revision`` (0 for a missing key)."""
        return self._when(key, Target.MOD_REVISION, op, int(revision))

    def when_create_revision(self, key: Key, op: Operator, revision: int) -> Self:
        """Require ``key``'s create_revision ``op`` ``revision`` (0 for a missing key)."""
        return self._when(key, Target.CREATE_REVISION, op, int(revision))

    def when_version(self, key: Key, op: Operator, version: int) -> Self:
        """Require ``key``'s version ``op`` ``version`` (0 for a missing key)."""
        return self._when(key, Target.VERSION, op, int(version))

    def when_value(self, key: Key, op: Operator, value: bytes) -> Self:
        """Require ``key``'s value ``op`` ``value`` (bytewise; a missing key never matches).

        etcd evaluates a value compare on a missing key as false whatever the operator,
        so combine with :meth:`when_exists` only for clarity, not for correctness.
        """
        return self._when(key, Target.VALUE, op, bytes(value))

    def when_exists(self, key: Key) -> Self:
        """Require that ``key`` exists."""
        return self.when_version(key, ">", 0)

    def when_missing(self, key: Key) -> Self:
        """Require that ``key`` does not exist."""
        return self.when_version(key, "==", 0)

    def then_put(self, key: Key, value: bytes, *, lease: LeaseArg = None) -> Self:
        """On success, put ``value`` at ``key`` (with ``lease``)."""
        self.then_ops.append(PutOp(encode_key(key), bytes(value), lease_id(lease)))
        return self

    def then_delete(self, key: Key) -> Self:
        """On success, delete ``key`` (a no-op if it does not exist)."""
        self.then_ops.append(DeleteOp(encode_key(key)))
        return self

    def then_delete_prefix(self, prefix: Key) -> Self:
        """On success, delete every key under ``prefix``."""
        self.then_ops.append(DeleteOp(*prefix_range(encode_prefix(prefix))))
        return self

    def else_put(self, key: Key, value: bytes, *, lease: LeaseArg = None) -> Self:
        """On failure, put ``value`` at ``key`` (with ``lease``)."""
        self.else_ops.append(PutOp(encode_key(key), bytes(value), lease_id(lease)))
        return self

    def else_delete(self, key: Key) -> Self:
        """On failure, delete ``key``."""
        self.else_ops.append(DeleteOp(encode_key(key)))
        return self

    def else_delete_prefix(self, prefix: Key) -> Self:
        """On failure, delete every key under ``prefix``."""
        self.else_ops.append(DeleteOp(*prefix_range(encode_prefix(prefix))))
        return self
