"""A small thread-safe least-recently-used memo, shared by the lookup, the webhook and the
tariff resolution."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LruMemo:
    """Key -> value computed once and kept for the `size` most recently used keys.

    Errors are not kept (the next call computes again). `size` 0 keeps nothing. `hits` and
    `misses` count answers from the memo and successful computations. Values are shared between
    callers: never modify one.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any],
            valid: Callable[[Any], bool] | None = None) -> Any:
        """The value kept for `key`, else `compute()` (outside the lock), kept. With `valid`,
        a kept value it rejects (checked outside the lock) is computed again."""
        with self._lock:
            found = key in self._values
            kept = self._values.get(key)
        if found and (valid is None or valid(kept)):
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                self.hits += 1
            return kept
        value = compute()
        with self._lock:
            self.misses += 1
            if self.size > 0:
                self._values[key] = value
                self._values.move_to_end(key)
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value (and the counts)."""
        with self._lock:
            self._values.clear()
            self.hits = self.misses = 0
