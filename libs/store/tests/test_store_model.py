"""The pure helpers: key encoding, prefix ranges, the transaction builder."""

from __future__ import annotations

import pytest

from mizzen.store import InvalidRequest, KeyValue, Reset, Txn
from mizzen.store.model import Event, EventType, encode_key, in_range, prefix_range
from mizzen.store.txn import DeleteOp, PutOp
from mizzen.store.watch import apply_to_view


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"/a/", (b"/a/", b"/a0")),
        (b"a\xff", (b"a\xff", b"b")),
        (b"\xff\xff", (b"\xff\xff", b"\0")),
        (b"", (b"\0", b"\0")),
    ],
)
def test_prefix_range_follows_etcd(prefix: bytes, expected: tuple[bytes, bytes]) -> None:
    assert prefix_range(prefix) == expected


def test_in_range_treats_a_zero_end_as_unbounded() -> None:
    assert in_range(b"\xff\xff\xff", b"\xff\xff", b"\0")
    assert not in_range(b"/a0", b"/a/", b"/a0")


def test_keys_are_utf8_and_never_empty() -> None:
    assert encode_key("/é") == b"/\xc3\xa9"
    with pytest.raises(InvalidRequest):
        encode_key("")


def test_the_txn_builder_records_branches() -> None:
    txn = Txn().when_missing("/a").then_put("/a", b"1", lease=7).else_delete_prefix("/b/")
    assert txn.then_ops == [PutOp(b"/a", b"1", 7)]
    assert txn.else_ops == [DeleteOp(b"/b/", b"/b0")]
    with pytest.raises(InvalidRequest):
        Txn().when_version("/a", "=", 1)  # type: ignore[arg-type]  # the error under test


def test_apply_to_view_replaces_on_reset() -> None:
    a = KeyValue(b"/a", b"1", 2, 2, 1)
    b = KeyValue(b"/b", b"1", 3, 3, 1)
    view = {b"/gone": KeyValue(b"/gone", b"", 1, 1, 1)}
    apply_to_view(view, Reset((a,), 3))
    assert view == {b"/a": a}
    apply_to_view(view, Event(EventType.PUT, b))
    apply_to_view(view, Event(EventType.DELETE, KeyValue(b"/a", b"", 0, 4, 0), a))
    assert view == {b"/b": b}
