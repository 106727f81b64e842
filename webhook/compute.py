"""The CPU-bound part of a lookup (parse the profile, compute, build the answer), and where it
runs.

`answer_job` runs in the request thread, or in a worker process of `ComputePool` so that one
server process (which holds the replay cache and the sheet ordering) uses every core. It hands
back a `LookupAnswer`: the JSON body and the sheet's cells already built, so the server process
neither walks the result nor receives it (only plain values cross the process boundary).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from bess_duos.core.lookup import LookupInputs, LookupResult, run_lookup
from bess_duos.core.profile_loader import ProfileCache
from bess_duos.core.site_area import SiteArea
from bess_duos.core.worker_process import freeze_set_up_objects
from bess_duos.webhook.layout import SheetLayout, default_layout, result_fields, result_json
from bess_duos.webhook.profile_links import FetchedProfile, cached_profile_of, profile_of

# a profile this large goes to a worker as its digest first (the worker may have it parsed)
DIGEST_FIRST_BYTES = 64 * 1024
RECENT_PROFILES = 8  # profiles whose digests are remembered (bytes compared, not hashed again)
RECENT_BYTES = 64 * 1024 * 1024  # ... and their bytes, at most


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
    """What the route needs of a lookup: the JSON body (`result_json`) encoded as Flask's
    `jsonify` encodes it (`body_json`; decoded again only if `body` is asked for), the cells for
    the sheet's layout, and the few values it logs."""

    body_json: bytes
    sheet_fields: dict[str, object]
    status: str
    masked_mpan: str | None
    distributor_id: int
    warnings: int

    @functools.cached_property
    def body(self) -> dict[str, Any]:
        """The JSON body as values."""
        return json.loads(self.body_json)


def encoded(body: dict[str, Any]) -> bytes:
    """Plain JSON values encoded as the app's `jsonify` encodes them outside debug mode (keys
    in their order: `webhook.app` turns Flask's sorting off; compact, ASCII), without its
    final newline."""
    return json.dumps(body, separators=(",", ":")).encode()


def answer_of(result: LookupResult, layout: SheetLayout | None = None) -> LookupAnswer:
    """The `LookupAnswer` of a result; `layout` is the sheet's (None: the default layout).
    `result_json` and `result_fields` give plain JSON values already."""
    body = result_json(result)
    fields = body["fields"] if layout is None or layout == default_layout() else \
        result_fields(result, layout)
    return LookupAnswer(encoded(body), fields, result.status,
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


WARM_MPAN = "1405566778898"  # the warm-up lookup's site (any MPAN with shipped tariffs)


def _warm() -> int:
    """Run one lookup with a small synthetic profile, so that the one-off set-up of a process
    (tariff tables, the profile and flexibility code paths: ~25 ms) is paid at start, not by
    the first requests it serves (a failure here only leaves it for them); then freeze what is
    set up (`freeze_set_up_objects`). Its pid."""
    from bess_duos.core.lookup import decide_area, parse_inputs
    from bess_duos.core.synthetic import generate_profile

    with contextlib.suppress(Exception):
        series = generate_profile("office", 50_000, start="2025-04-01", seed=1)
        content = series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
            date_format="%Y-%m-%dT%H:%M:%SZ").encode()
        inputs = parse_inputs({"mpan": WARM_MPAN})
        fetched = FetchedProfile("warm-up.csv", "https", content, "text/csv", "warm-up.csv")
        answer_job(fetched, inputs, decide_area(inputs), dt.date.today(), "warm-up")
    freeze_set_up_objects()
    return os.getpid()


def _serve(conn: Connection) -> None:
    """A compute process: run each `(job, args)` received, send back `(True, result)` or
    `(False, exception)`; None (or the pipe closing) ends it."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job, args = message
        try:
            reply: tuple[bool, Any] = (True, job(*args))
        except BaseException as exc:  # handed to the caller, as a process pool does
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # the result or the exception would not pickle
            conn.send((False, RuntimeError(f"the compute process's answer could not be sent: "
                                           f"{type(exc).__name__}: {exc}")))


class ComputeProcessDied(RuntimeError):
    """A compute process ended while running a job (it is replaced for the next one)."""


class _Worker:
    """One spawned compute process and the pipe to it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs,), daemon=True,
                                       name="bess-duos-compute")
        self.process.start()
        theirs.close()
        self.broken = False

    def run(self, job: Any, args: tuple[object, ...]) -> Any:
        """`job(*args)` in this process; its exception re-raised here. `self.broken` is set
        when the pipe may be out of step (the process died, or the wait was interrupted)."""
        self.send(job, args)
        return self.result()

    def send(self, job: Any, args: tuple[object, ...]) -> None:
        """Start `job(*args)` in this process (`result` gives its answer)."""
        self.broken = True  # until its answer is read
        try:
            self.conn.send((job, args))
        except (EOFError, OSError) as exc:
            raise ComputeProcessDied("a compute process ended before it was given a lookup; "
                                     "it is replaced: send the request again") from exc

    def result(self) -> Any:
        """The answer of the job `send` started; its exception re-raised here."""
        try:
            ok, value = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ComputeProcessDied("a compute process ended while running a lookup; it "
                                     "is replaced: send the request again") from exc
        self.broken = False
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class RecentDigests:
    """`ProfileCache.digest` of recently seen bytes: bytes equal to one of the last few
    profiles (compared at memory speed, ~0.03 ms for a one-year CSV) take its digest instead
    of being hashed again (~0.35 ms); the sheet re-sends the same link on every edit."""

    def __init__(self, count: int = RECENT_PROFILES, max_bytes: int = RECENT_BYTES) -> None:
        self.count = count
        self.max_bytes = max_bytes
        self._recent: list[tuple[bytes, str]] = []  # newest first
        self._lock = threading.Lock()

    def of(self, content: bytes) -> str:
        """The digest of `content`."""
        with self._lock:
            for i, (seen, digest) in enumerate(self._recent):
                if len(seen) == len(content) and seen == content:
                    self._recent.insert(0, self._recent.pop(i))
                    return digest
        digest = ProfileCache.digest(content)
        with self._lock:
            self._recent.insert(0, (content, digest))
            kept, total = [], 0
            for seen, known in self._recent[:self.count]:
                total += len(seen)
                if total > self.max_bytes:
                    break
                kept.append((seen, known))
            self._recent = kept
        return digest


class ComputePool:
    """Compute processes (spawn), started lazily and re-made in a forked child; size 0 = none.

    A request thread takes an idle process, sends it the job over its own pipe and waits for
    the answer on it: no manager or feeder thread stands between them (a process pool's two
    extra thread hops cost the request about 0.5 ms of latency on a loaded 2-core machine).
    A process that dies is replaced; the job it ran fails with `ComputeProcessDied`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        self._pid = 0
        self._lock = threading.Lock()
        self._digests = RecentDigests()

    def get(self) -> ComputePool:
        """This pool, its processes started (and warmed: every one imported) on first use."""
        with self._lock:
            if self._pid != os.getpid():
                self._idle = queue.SimpleQueue()
                self._workers = [_Worker() for _ in range(self.size)]
                self._pid = os.getpid()
                for worker in self._workers:  # warmed side by side
                    worker.send(_warm, ())
                for worker in self._workers:
                    worker.result()
                    self._idle.put(worker)
            return self

    def answer(self, fetched: FetchedProfile | None, inputs: LookupInputs, site: SiteArea,
               on: dt.date, request_id: str, layout: SheetLayout | None = None) -> LookupAnswer:
        """`answer_job` in a worker process, or here when the pool has no workers.

        A worker is sent a large profile's digest first, not its bytes: a worker that has
        parsed the same bytes before (the sheet re-runs a lookup on each edit) answers from
        its cache; else the bytes follow, to the same process (which then has them: a burst
        of lookups of a new profile parses it once per process). The digest is worked out
        here, where the bytes were fetched (bytes seen lately are not hashed again:
        `RecentDigests`)."""
        args = (inputs, site, on, request_id, layout)
        if not self.size or fetched is None or len(fetched.content) < DIGEST_FIRST_BYTES:
            return self.call(answer_job, fetched, *args)
        digest = self._digests.of(fetched.content)
        with self._worker() as worker:  # the bytes follow to the same process, which keeps them
            answered = worker.run(answer_job, (replace(fetched, content=b""), *args, digest))
            if answered is None:
                answered = worker.run(answer_job, (fetched, *args, digest))
        return answered

    def call(self, job: Any, *args: object) -> Any:
        """`job(*args)` in an idle worker process (waiting for one), or here when the pool has
        no workers."""
        if not self.size:
            return job(*args)
        with self._worker() as worker:
            return worker.run(job, args)

    @contextlib.contextmanager
    def _worker(self) -> Iterator[_Worker]:
        """An idle worker process, this thread's until the block ends."""
        idle = self.get()._idle
        worker = idle.get()
        try:
            yield worker
        finally:
            if worker.broken:  # replaced, so no later job reads this one's answer
                worker = self._replace(worker)
            idle.put(worker)

    def _replace(self, dead: _Worker) -> _Worker:
        dead.stop()
        fresh = _Worker()
        with self._lock:
            self._workers = [fresh if w is dead else w for w in self._workers]
        return fresh

    def shutdown(self) -> None:
        """Stop the workers (tests; the process's exit does it otherwise)."""
        with self._lock:
            if self._pid == os.getpid():
                for worker in self._workers:
                    worker.stop()
            self._workers = []
            self._pid = 0
