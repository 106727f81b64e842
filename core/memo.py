"""A small thread-safe least-recently-used memo, shared by the lookup, the webhook and the
tariff resolution."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


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
        # The key is hashed once per dictionary step (keys of dataclasses hash all fields).
        with self._lock:
            kept = self._values.get(key, _MISSING)
        if kept is not _MISSING and (valid is None or valid(kept)):
            with self._lock:
                try:  # noqa: SIM105 - no context manager's calls on every hit
                    self._values.move_to_end(key)
                except KeyError:  # dropped meanwhile by another thread
                    pass
                self.hits += 1
            return kept
        value = compute()
        with self._lock:
            self.misses += 1
            if self.size > 0:
                if self._values.setdefault(key, value) is not value:  # kept meanwhile by
                    self._values[key] = value  # another thread: replaced, now the newest
                    self._values.move_to_end(key)
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value (and the counts)."""
        with self._lock:
            self._values.clear()
            self.hits = self.misses = 0
