"""Profiles downloaded before, asked for again with their validators (HTTP revalidation).

The sheet sends the same profile link with every edit. A plain download remembers the last few
answers that carried a strong validator (a strong `ETag`, or a `Last-Modified` at least a second
older than the answer's `Date`, RFC 9110 8.8.2.2) and sends it back (`If-None-Match`,
`If-Modified-Since`); a `304 Not Modified` then stands for the bytes kept, so an unchanged
file is neither sent again nor copied again. Nothing is ever used without the server's 304:
there is no freshness lifetime, every lookup still asks the server (a link that now fails,
redirects elsewhere or answers 200 is treated exactly as without this).

Kept per process, by the URL of the hop that answered 200: at most `count` answers and
`max_bytes` of bodies, least recently used dropped first.
"""

from __future__ import annotations

import email.utils
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

KEPT_ANSWERS = 8
KEPT_BYTES = 64 * 1024 * 1024
_STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]{1,200}"')  # RFC 9110 entity-tag, not weak (W/)
_HTTP_DATE = re.compile(r"[A-Za-z0-9 ,:-]{20,40}")  # IMF-fixdate and the obsolete forms


@dataclass(frozen=True)
class KeptAnswer:
    """A 200 answer's body and content type, and the validator headers to ask with."""

    content: bytes
    content_type: str
    conditions: tuple[tuple[str, str], ...]  # (header, value) sent on the next request


def conditions_of(header: Callable[[str], str | None]) -> tuple[tuple[str, str], ...]:
    """The request headers that revalidate an answer with these headers (`header(name)`),
    empty when it has no strong validator."""
    etag = (header("ETag") or "").strip()
    if _STRONG_ETAG.fullmatch(etag):
        return (("If-None-Match", etag),)
    modified = (header("Last-Modified") or "").strip()
    date = (header("Date") or "").strip()
    if not (_HTTP_DATE.fullmatch(modified) and _HTTP_DATE.fullmatch(date)):
        return ()
    try:
        changed = email.utils.parsedate_to_datetime(modified)
        answered = email.utils.parsedate_to_datetime(date)
        strong = (answered - changed).total_seconds() >= 1.0
    except (TypeError, ValueError, OverflowError):
        return ()
    return (("If-Modified-Since", modified),) if strong else ()


class Revalidation:
    """Answers kept for revalidation (see the module doc); safe to share between threads."""

    def __init__(self, count: int = KEPT_ANSWERS, max_bytes: int = KEPT_BYTES) -> None:
        self.count = count
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, KeptAnswer] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    def get(self, url: str) -> KeptAnswer | None:
        """The answer kept for `url`, if any (now the most recently used)."""
        with self._lock:
            kept = self._kept.get(url)
            if kept is not None:
                self._kept.move_to_end(url)
            return kept

    def keep(self, url: str, answer: KeptAnswer | None) -> None:
        """Keep `answer` for `url` (None, or one without validators: forget `url`)."""
        with self._lock:
            self._kept.pop(url, None)
            if answer is None or not answer.conditions or len(answer.content) > self.max_bytes:
                return
            self._kept[url] = answer
            total = sum(len(a.content) for a in self._kept.values())
            while len(self._kept) > self.count or total > self.max_bytes:
                _url, dropped = self._kept.popitem(last=False)
                total -= len(dropped.content)
