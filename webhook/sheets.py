"""The sheet writer/reader interface, and the ordering guard both back ends share.

A back end reads the input cells as displayed strings and writes the layout's output blocks whole.
`GuardedSheet` implements the concurrency rule once, for both back ends:

* writes to the same sheet are serialised (a per-sheet lock in this process; the workbook adds
  its file lock, which also covers other processes);
* each write carries a `RequestOrder` (the request's `X-Timestamp`, then arrival time); a write
  older than the newest one already written to that sheet is dropped, so the newest wins whole.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bess_duos.webhook.layout import SheetLayout, default_layout

_arrival_lock = threading.Lock()
_last_arrival_ns = 0


@dataclass(frozen=True, order=True)
class RequestOrder:
    """Sort key of a request: its signed `X-Timestamp` (s), then arrival (ns, unique per process).

    Take one when the request arrives (`RequestOrder.arrived(ts)`), not when it writes.
    """

    timestamp: float
    arrival_ns: int

    @classmethod
    def arrived(cls, timestamp: float | None = None) -> RequestOrder:
        """The order of a request arriving now; `timestamp` defaults to the wall clock and is
        never later than it (a request dated ahead cannot hold a sheet's newest slot)."""
        global _last_arrival_ns
        with _arrival_lock:
            now = max(time.time_ns(), _last_arrival_ns + 1)
            _last_arrival_ns = now
        if timestamp is None:
            return cls(now / 1e9, now)
        return cls(min(float(timestamp), float(now // 1_000_000_000)), now)  # whole seconds

    def bounded(self) -> RequestOrder:
        """This order, or, when it lies ahead of the clock (read back from storage after a
        clock jump), one second ago: then any request signed from now on is newer."""
        now_ns = time.time_ns()
        if self.timestamp <= now_ns // 1_000_000_000 and self.arrival_ns <= now_ns:
            return self
        return RequestOrder(float(now_ns // 1_000_000_000 - 1), 0)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RequestOrder:
        """Inverse of `as_dict`."""
        return cls(float(raw["timestamp"]), int(raw["arrival_ns"]))

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready form (kept in the workbook)."""
        return {"timestamp": self.timestamp, "arrival_ns": self.arrival_ns}


@dataclass(frozen=True)
class WriteReport:
    """What a write did: which ranges went to which sheet, or why it was dropped."""

    sheet: str
    ranges: tuple[str, ...] = ()
    written: bool = True
    dropped_reason: str | None = None
    attempts: int = 1
    order: RequestOrder | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the webhook's response."""
        return {
            "sheet": self.sheet,
            "ranges": list(self.ranges),
            "written": self.written,
            "dropped_reason": self.dropped_reason,
            "attempts": self.attempts,
        }


class SheetError(RuntimeError):
    """A sheet could not be read or written; the message says which sheet and why.

    `public` is the message for a caller (no local paths, no credentials' locations);
    `field` names the caller's input at fault (e.g. ``worksheet``: a 400, not a 502);
    `outcome_unknown` is True when the write may have landed (a timeout after sending).
    """

    def __init__(self, message: str, *, public: str | None = None, field: str | None = None,
                 outcome_unknown: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.public = public or message
        self.field = field
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after  # seconds: the sheet is busy, try again then


@runtime_checkable
class SheetBackend(Protocol):
    """What the webhook and the CLI need from a sheet."""

    @property
    def sheet_key(self) -> str:
        """Identifies the sheet (e.g. `google:<id>/<tab>`, `xlsx:/abs/path.xlsx`)."""
        ...

    def read_inputs(self) -> dict[str, str]:
        """The input cells as displayed strings, by field name ("" when blank)."""
        ...

    def write(
        self, fields: Mapping[str, object], *, order: RequestOrder | None = None
    ) -> WriteReport:
        """Write every output block whole (one API call / one save)."""
        ...

    def write_status(
        self, status: str, message: str, request_id: str, *, order: RequestOrder | None = None
    ) -> WriteReport:
        """Write only the status block (a failed lookup)."""
        ...

    def write_inputs(self, values: Mapping[str, object]) -> WriteReport:
        """Fill input cells (demo/CLI); strings, MPANs included, are written as text."""
        ...


_registry_lock = threading.Lock()
_sheet_locks: dict[str, threading.Lock] = {}
_newest: dict[str, RequestOrder] = {}
_unsettled: dict[str, float] = {}  # sheet key -> monotonic time until which writes wait


def mark_unsettled(key: str, seconds: float) -> None:
    """A write to `key` may still land: refuse newer writes there for `seconds`, so the
    older one cannot land over them."""
    with _registry_lock:
        _unsettled[key] = time.monotonic() + seconds


def _unsettled_for(key: str) -> float:
    with _registry_lock:
        return max(0.0, _unsettled.get(key, 0.0) - time.monotonic())


def sheet_lock(key: str) -> threading.Lock:
    """The in-process lock serialising writes to the sheet `key`."""
    with _registry_lock:
        return _sheet_locks.setdefault(key, threading.Lock())


def now_text() -> str:
    """The time written to the status block: UTC, ISO 8601, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class GuardedSheet(ABC):
    """Base of both back ends: builds blocks from the layout and applies the ordering rule."""

    def __init__(self, layout: SheetLayout | None = None) -> None:
        self.layout = layout or default_layout()

    @property
    @abstractmethod
    def sheet_key(self) -> str:
        """Identifies the sheet across instances (the lock and ordering key)."""

    @abstractmethod
    def read_inputs(self) -> dict[str, str]:
        """The input cells as displayed strings."""

    @abstractmethod
    def _put_blocks(self, blocks: list[dict[str, Any]], order: RequestOrder | None) -> int:
        """Write the blocks in one go (inside the locks); return the number of attempts.

        `order` is None for input writes, which take no part in the ordering rule.
        """

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Extra exclusion held while writing (the workbook's file lock); none by default."""
        yield

    def _newest_written(self) -> RequestOrder | None:
        """The newest order already written to this sheet (inside the locks)."""
        return _newest.get(self.sheet_key)

    def write(
        self, fields: Mapping[str, object], *, order: RequestOrder | None = None
    ) -> WriteReport:
        """Write every output block whole; `time` defaults to now. Drops an out-of-date write."""
        values = dict(fields)
        if values.get("time") is None:
            values["time"] = now_text()
        return self._guarded(self.layout.output_blocks(values), order)

    def write_status(
        self, status: str, message: str, request_id: str, *, order: RequestOrder | None = None
    ) -> WriteReport:
        """Write only the status block (status, message, time, request id)."""
        blocks = self.layout.status_blocks(status, message, request_id, now_text())
        return self._guarded(blocks, order)

    def write_inputs(self, values: Mapping[str, object]) -> WriteReport:
        """Fill input cells (demo/CLI), serialised with other writes; strings stay text."""
        blocks = self.layout.input_blocks(values)
        with sheet_lock(self.sheet_key), self._exclusive():
            attempts = self._put_blocks(blocks, None)
        return WriteReport(self.sheet_key, tuple(b["range"] for b in blocks), attempts=attempts)

    def _guarded(self, blocks: list[dict[str, Any]], order: RequestOrder | None) -> WriteReport:
        order = order or RequestOrder.arrived()
        ranges = tuple(b["range"] for b in blocks)
        with sheet_lock(self.sheet_key), self._exclusive():
            wait = _unsettled_for(self.sheet_key)
            if wait:
                raise SheetError(
                    f"{self.sheet_key}: an earlier write's outcome is unknown for {wait:.0f} s",
                    public=f"an earlier write to this sheet may still land; try again in "
                    f"{wait:.0f} s", retry_after=wait)
            newest = self._newest_written()
            if newest is not None and order < newest:
                return WriteReport(
                    self.sheet_key,
                    written=False,
                    dropped_reason=(
                        f"a newer request (X-Timestamp {newest.timestamp:.0f}) was already "
                        "written to this sheet; this older one was dropped"
                    ),
                    attempts=0,
                    order=order,
                )
            attempts = self._put_blocks(blocks, order)
            with _registry_lock:
                current = _newest.get(self.sheet_key)
                if current is None or current < order:
                    _newest[self.sheet_key] = order
        return WriteReport(self.sheet_key, ranges, attempts=attempts, order=order)


def reset_ordering_state() -> None:
    """Forget the newest orders seen in this process (tests)."""
    with _registry_lock:
        _newest.clear()
        _unsettled.clear()
