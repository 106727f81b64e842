"""The CPU-bound part of a lookup (parse the profile, compute, build the answer), and where it
runs.

`answer_job` runs in the request thread, or in a worker process of `ComputePool` so that one
server process (which holds the replay cache and the sheet ordering) uses every core. It hands
back a `LookupAnswer`: the JSON body and the sheet's cells already built, so the server process
neither walks the result nor receives it (only plain values cross the process boundary).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from bess_duos.core.lookup import LookupInputs, LookupResult, run_lookup
from bess_duos.core.profile_loader import ProfileCache
from bess_duos.core.site_area import SiteArea
from bess_duos.webhook.json_safe import json_safe
from bess_duos.webhook.layout import SheetLayout, default_layout, result_fields, result_json
from bess_duos.webhook.profile_links import FetchedProfile, cached_profile_of, profile_of

# a profile this large goes to a worker as its digest first (the worker may have it parsed)
DIGEST_FIRST_BYTES = 64 * 1024


def lookup_job(
    fetched: FetchedProfile | None,
    inputs: LookupInputs,
    site: SiteArea,
    on: dt.date,
    request_id: str,
    digest: str | None = None,
) -> LookupResult | None:
    """Parse the profile and compute one lookup. `digest` (`ProfileCache.digest` of the
    profile's bytes): with `fetched.content` empty, the profile parsed already in this process
    is used, and None is answered when there is none (then the caller sends the bytes)."""
    profile = None
    if fetched is not None:
        if digest is not None and not fetched.content:
            profile = cached_profile_of(fetched, digest, inputs.profile_options)
            if profile is None:
                return None
        else:
            profile = profile_of(fetched, inputs.profile_options, digest=digest)
    return run_lookup(inputs, profile=profile, on=on, site=site, request_id=request_id)


@dataclass(frozen=True)
class LookupAnswer:
    """What the route needs of a lookup: the JSON body (`result_json`, plain JSON values), the
    cells for the sheet's layout, and the few values it logs."""

    body: dict[str, Any]
    sheet_fields: dict[str, object]
    status: str
    masked_mpan: str | None
    distributor_id: int
    warnings: int


def answer_of(result: LookupResult, layout: SheetLayout | None = None) -> LookupAnswer:
    """The `LookupAnswer` of a result; `layout` is the sheet's (None: the default layout)."""
    body = json_safe(result_json(result))
    fields = body["fields"] if layout is None or layout == default_layout() else \
        json_safe(result_fields(result, layout))
    return LookupAnswer(body, fields, result.status,
                        result.inputs.mpan.masked() if result.inputs.mpan else None,
                        result.distributor.distributor_id, len(result.warnings))


def answer_job(
    fetched: FetchedProfile | None,
    inputs: LookupInputs,
    site: SiteArea,
    on: dt.date,
    request_id: str,
    layout: SheetLayout | None = None,
    digest: str | None = None,
) -> LookupAnswer | None:
    """`lookup_job` and its `LookupAnswer` (`layout`: the sheet's, None for the default); None
    when `lookup_job` answers None (the digest of bytes this process has not parsed)."""
    result = lookup_job(fetched, inputs, site, on, request_id, digest)
    return None if result is None else answer_of(result, layout)


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

    def answer(self, fetched: FetchedProfile | None, inputs: LookupInputs, site: SiteArea,
               on: dt.date, request_id: str, layout: SheetLayout | None = None) -> LookupAnswer:
        """`answer_job` in a worker process, or here when the pool has no workers.

        A worker is sent a large profile's digest first, not its bytes: a worker that has
        parsed the same bytes before (the sheet re-runs a lookup on each edit) answers from
        its cache; else the bytes follow. The digest is worked out here, where the bytes were
        fetched, and the bytes are hashed once."""
        args = (inputs, site, on, request_id, layout)
        if not self.size or fetched is None or len(fetched.content) < DIGEST_FIRST_BYTES:
            return self.call(answer_job, fetched, *args)
        digest = ProfileCache.digest(fetched.content)
        answered = self.call(answer_job, replace(fetched, content=b""), *args, digest)
        if answered is None:
            answered = self.call(answer_job, fetched, *args, digest)
        return answered

    def call(self, job: Any, *args: object) -> Any:
        """`job(*args)` in a worker process, or here when the pool has no workers."""
        if not self.size:
            return job(*args)
        return self.get().submit(job, *args).result()

    def shutdown(self) -> None:
        """Stop the workers (tests; the process's exit does it otherwise)."""
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
