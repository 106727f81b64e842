"""The CPU-bound part of a lookup (parse the profile, compute), and where it runs.

`lookup_job` runs in the request thread, or in a worker process of `ComputePool` so that one
server process (which holds the replay cache and the sheet ordering) uses every core.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bess_duos.core.lookup import LookupInputs, LookupResult, read_profile, run_lookup
from bess_duos.core.memo import LruMemo
from bess_duos.core.profiles import Profile, default_timestamp_convention
from bess_duos.core.site_area import SiteArea
from bess_duos.webhook.profile_links import FetchedProfile

PROFILE_CACHE_SIZE = 8  # parsed profiles kept per process (a one-year profile is ~0.3 MB)
_EXCEL_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
}


class ProfileCache:
    """The last few parsed profiles, keyed by the SHA-256 of the fetched bytes (least recently
    used dropped first). The sheet re-runs a lookup on every input edit with the same profile
    link: the link is still fetched every time, so a changed file has a new hash and is parsed
    again; only identical bytes reuse the parse. Cached profiles are shared: never modify one.
    """

    def __init__(self, size: int = PROFILE_CACHE_SIZE) -> None:
        self._memo = LruMemo(size)

    @property
    def size(self) -> int:
        """How many parsed profiles are kept (0: none)."""
        return self._memo.size

    @property
    def hits(self) -> int:
        """Answers from the cache since the last `clear()`."""
        return self._memo.hits

    @property
    def misses(self) -> int:
        """Profiles parsed (successfully) since the last `clear()`."""
        return self._memo.misses

    def get(self, fetched: FetchedProfile) -> Profile:
        """The parsed profile of these bytes: from the cache, else parsed and kept."""
        suffix = ".xlsx" if fetched.content_type in _EXCEL_TYPES else ".csv"
        # The convention default (config/defaults.yaml) changes how the same bytes read.
        key = (hashlib.sha256(fetched.content).hexdigest(), suffix,
               default_timestamp_convention())
        # errors are not cached
        return self._memo.get(key, lambda: _parse_profile(fetched.content, suffix))

    def clear(self) -> None:
        """Forget every profile (and the counts)."""
        self._memo.clear()


def _parse_profile(content: bytes, suffix: str) -> Profile:
    with tempfile.TemporaryDirectory(prefix="bess-duos-profile-") as folder:
        path = Path(folder) / f"profile{suffix}"
        path.write_bytes(content)
        return read_profile(path)


PROFILE_CACHE = ProfileCache()


def profile_from_bytes(fetched: FetchedProfile) -> Profile:
    """Parse fetched bytes with `core.lookup.read_profile` (UTC or hourly data noted); the
    same bytes parse once (`PROFILE_CACHE`, keyed by their SHA-256)."""
    return PROFILE_CACHE.get(fetched)


def lookup_job(
    fetched: FetchedProfile | None,
    inputs: LookupInputs,
    site: SiteArea,
    on: dt.date,
    request_id: str,
) -> LookupResult:
    """Parse the profile and compute one lookup."""
    profile = profile_from_bytes(fetched) if fetched is not None else None
    return run_lookup(inputs, profile=profile, on=on, site=site, request_id=request_id)


def _warm() -> int:
    return os.getpid()


class ComputePool:
    """A lazily started process pool (spawn), re-made in a forked child; size 0 = no pool."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> ProcessPoolExecutor:
        """The pool of this process, started (and warmed: every worker imported) on first use."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ProcessPoolExecutor(
                    self.size, mp_context=multiprocessing.get_context("spawn"))
                self._pid = os.getpid()
                warm = [self._pool.submit(_warm) for _ in range(self.size)]
                for future in warm:
                    future.result()
            return self._pool

    def run(self, *args: object) -> LookupResult:
        """`lookup_job(*args)` in a worker process, or here when the pool has no workers."""
        if not self.size:
            return lookup_job(*args)  # type: ignore[arg-type]
        return self.get().submit(lookup_job, *args).result()

    def shutdown(self) -> None:
        """Stop the workers (tests; the process's exit does it otherwise)."""
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
