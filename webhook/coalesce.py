"""Calls for one key that arrive while such a call runs are joined into one next call.

Request coalescing that never answers with a call begun before its caller arrived: the
first caller for a key runs the call; callers that come while it runs wait, and when it ends
the first of them runs one call for all of them. So every answer comes from a call that
started after its caller asked (a profile changed a moment ago is seen), and the lookups of
one link that ask while a download of it runs share one next download. The sheet sends the
same profile link with every edit, so quick edits overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Batch(Generic[T]):
    """The callers sharing one call: its leader runs it when `go` is set."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    """See the module doc. Safe to share between threads; nothing is kept once a key's calls
    are over (no answer outlives its call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the keys whose call runs, each with the batch waiting for its next call (or None)
        self._keys: dict[Hashable, _Batch[T] | None] = {}

    def call(self, key: Hashable, run: Callable[[], T], wait_seconds: float) -> T:
        """`run()`'s answer (or its exception), shared with the callers joined to it. A
        joined caller waits at most `wait_seconds` (`TimeoutError`); `run` must be bounded in
        time itself, as the next call starts only when the running one ends."""
        with self._lock:
            waiting = self._keys.get(key)
            if key not in self._keys:
                batch: _Batch[T] = _Batch()
                batch.go.set()
                self._keys[key] = None
                lead = True
            elif waiting is None:
                batch = self._keys[key] = _Batch()
                lead = True
            else:
                batch, lead = waiting, False
        if not lead:
            if not batch.done.wait(wait_seconds):
                raise TimeoutError(f"no answer within {wait_seconds:g} s")
            if batch.error is not None:
                raise batch.error
            return batch.result  # type: ignore[return-value]
        batch.go.wait()  # the running call has ended (set at once for the first)
        try:
            batch.result = run()
        except BaseException as exc:
            batch.error = exc
            raise
        finally:
            self._finish(key, batch)
        return batch.result

    def _finish(self, key: Hashable, batch: _Batch[T]) -> None:
        """Hand `batch`'s answer to its callers and start the waiting batch, if any."""
        with self._lock:
            following = self._keys[key]
            if following is None:
                del self._keys[key]
            else:
                self._keys[key] = None  # `following` runs now: later callers wait for the next
        batch.done.set()
        if following is not None:
            following.go.set()
