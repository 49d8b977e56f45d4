"""SizedLru: bounded by the total size of its values, least recently used out first."""

from __future__ import annotations

from mizzen.snapshots.cache import SizedLru


def test_the_least_recently_used_go_first_once_the_sizes_exceed_the_bound() -> None:
    cache: SizedLru[str, bytes] = SizedLru(10, len)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # "a" is now the most recently used
    cache.put("c", b"1234")  # 12 > 10: "b" goes
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"1234", b"1234")
    assert (len(cache), cache.size) == (2, 8)

    cache.put("a", b"12")  # replacing counts the new size only
    assert cache.size == 6
    cache.put("huge", b"x" * 11)  # larger than the bound: not kept, nothing evicted
    assert cache.get("huge") is None
    assert (len(cache), cache.size) == (2, 6)
