"""`core.memo.LruMemo`: least recently used kept, errors not kept, `valid` rejecting a value."""

from __future__ import annotations

import pytest
from bess_duos.core.memo import LruMemo


def test_keeps_the_most_recently_used_and_counts() -> None:
    memo = LruMemo(2)
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return key.upper()

    assert [memo.get(k, lambda k=k: compute(k)) for k in "abab"] == ["A", "B", "A", "B"]
    memo.get("c", lambda: compute("c"))  # "a" is the least recently used: dropped
    assert memo.get("a", lambda: compute("a")) == "A"
    assert calls == ["a", "b", "c", "a"]
    assert (memo.hits, memo.misses) == (2, 4)


def test_an_error_is_not_kept() -> None:
    memo = LruMemo(4)

    def fail() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError):
        memo.get("k", fail)
    assert memo.get("k", lambda: 7) == 7


def test_a_value_valid_rejects_is_computed_again_and_kept() -> None:
    memo = LruMemo(4)
    version = [1]
    assert memo.get("k", lambda: ("v", version[0]), valid=lambda v: v[1] == version[0]) == ("v", 1)
    assert memo.get("k", lambda: ("v", 99), valid=lambda v: v[1] == version[0]) == ("v", 1)
    version[0] = 2
    assert memo.get("k", lambda: ("v", version[0]), valid=lambda v: v[1] == version[0]) == ("v", 2)
    assert memo.get("k", lambda: ("v", 99), valid=lambda v: v[1] == version[0]) == ("v", 2)
    assert (memo.hits, memo.misses) == (2, 2)
