"""The CPU-bound part of a lookup (parse the profile, compute), and where it runs.

`lookup_job` runs in the request thread, or in a worker process of `ComputePool` so that one
server process (which holds the replay cache and the sheet ordering) uses every core.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

from bess_duos.core.lookup import LookupInputs, LookupResult, run_lookup
from bess_duos.core.site_area import SiteArea
from bess_duos.webhook.profile_links import FetchedProfile, profile_of


def lookup_job(
    fetched: FetchedProfile | None,
    inputs: LookupInputs,
    site: SiteArea,
    on: dt.date,
    request_id: str,
) -> LookupResult:
    """Parse the profile and compute one lookup."""
    profile = profile_of(fetched, inputs.profile_options) if fetched is not None else None
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
