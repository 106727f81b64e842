"""Engines that run `core.portfolio.run_batch` over a stream of site batches.

A batch that fails as a whole (a bug rather than a site's data) does not stop the run: its
sites are listed in the errors with stage ``internal`` (`core.portfolio.run_batch_safely`).

- ``local``: a `concurrent.futures.ProcessPoolExecutor` (default: one process per CPU
  core; `run_batch` uses one BLAS thread, so the processes do not oversubscribe the cores;
  each keeps freed memory for its next batches and leaves what it inherited out of the
  garbage collector's walks, `core.worker_process.set_up_batch_worker`);
  at most `max_pending` batches (default 2 per worker) are in flight, so memory is bounded
  by the batch size, not the portfolio size. One worker runs in this process. With a
  `SpoolSink` the worker processes write their batches' files themselves and send back only
  the counts (`spool_batch`), so the main process only reads SITES and hands out batches.
- ``dask``: the same function on a dask.distributed cluster (`scheduler` is an address such as
  ``tcp://10.0.0.5:8786`` or a `distributed.Client`). Only the batches' SITES rows travel to
  the workers, pickled, `DASK_BATCHES_PER_TASK` batches a task (`dask_batches`); each worker
  reads the sites' profile files itself (Parquet partitions are read where the workers are,
  so the files must be on a path every worker can see).

Both hand each finished batch to a sink (`MemorySink` by default; `SpoolSink` writes each
batch to Parquet files so that not even the results pile up in memory: written by the worker
processes themselves where they share this machine's files, i.e. local workers and Dask workers
on loopback; remote Dask workers send the frames back) and return the same
`PortfolioOutcome`; results and errors come back in SITES row order, so the engines' outputs
are equal site by site.
"""

from __future__ import annotations

import collections
import functools
import itertools
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from bess_duos.core.portfolio import (
    DEFAULT_BATCH_SIZE,
    empty_errors,
    empty_results,
    iter_site_batches,
    run_batch_safely,
)
from bess_duos.core.worker_process import freeze_after_first_batch, set_up_batch_worker

ENGINES: tuple[str, ...] = ("local", "dask")
# Batches a Dask task runs one after another: 4 of 100 full-year sites are ~0.25 s of work,
# against Dask's ~8 ms of CPU a task (10,000 sites on a 2-worker LocalCluster, medians of 4
# alternated runs: 3.8-3.9 s with a batch a task, 3.5 s with 4; docs/portfolio.md).
DASK_BATCHES_PER_TASK = 4
ProgressFn = Callable[[int], None]


class MemorySink:
    """Keeps each batch's results and errors in memory (fine for thousands of sites)."""

    def __init__(self) -> None:
        self._parts: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.n_results = 0
        self.n_errors = 0

    def add(self, index: int, results: pd.DataFrame, errors: pd.DataFrame) -> None:
        """Keep batch `index`'s frames."""
        self._parts[index] = (results, errors)
        self.n_results += len(results)
        self.n_errors += len(errors)

    def iter_results(self) -> Iterator[pd.DataFrame]:
        """Each batch's results, in batch (so SITES row) order."""
        for index in sorted(self._parts):
            if len(self._parts[index][0]):
                yield self._parts[index][0]

    def iter_errors(self) -> Iterator[pd.DataFrame]:
        """Each batch's errors, in batch order."""
        for index in sorted(self._parts):
            if len(self._parts[index][1]):
                yield self._parts[index][1]

    def read_results_columns(self, columns: list[str]) -> pd.DataFrame:
        """Some columns of every result, in SITES order (for clustering)."""
        return _concat((part[columns] for part in self.iter_results()),
                       empty_results()[columns])


class SpoolSink(MemorySink):
    """Writes each batch's frames to Parquet files in `folder` as they arrive, so the
    results of millions of sites never sit in memory together."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, index: int, results: pd.DataFrame, errors: pd.DataFrame) -> None:
        """Write batch `index`'s frames (empty frames are not written)."""
        self.add_written(index, *_spool(self.folder, index, results, errors))

    def add_written(self, index: int, n_results: int, n_errors: int) -> None:
        """Count batch `index`, whose frames a worker process has written (`spool_batch`)."""
        self.n_results += n_results
        self.n_errors += n_errors

    def _read(self, kind: str, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        for path in sorted(self.folder.glob(f"{kind}-*.parquet")):
            yield pd.read_parquet(path, columns=columns)

    def iter_results(self) -> Iterator[pd.DataFrame]:
        """Each batch's results, read back in batch order."""
        return self._read("results")

    def iter_errors(self) -> Iterator[pd.DataFrame]:
        """Each batch's errors, read back in batch order."""
        return self._read("errors")

    def read_results_columns(self, columns: list[str]) -> pd.DataFrame:
        """Some columns of every result, in SITES order (for clustering)."""
        parts = list(self._read("results", columns))
        return (pd.concat(parts, ignore_index=True) if parts
                else empty_results()[columns])


def _arrow_column(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A column as `pa.Table.from_pandas` converts it: an extension array's own Arrow data
    (the str columns' Arrow strings, no copy), else the NumPy values with NaN as null."""
    values = column.array
    if hasattr(values, "__arrow_array__"):
        return values.__arrow_array__()
    return pa.array(column.to_numpy(), from_pandas=True)


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """`frame` (a results or errors frame: str, int64 and float64 columns, a RangeIndex) as
    an Arrow table with the columns `pa.Table.from_pandas` makes, built without its per-column
    type inference (under half the time) and without pandas metadata: `pd.read_parquet`
    reads it back as the same frame."""
    return pa.table({name: _arrow_column(column) for name, column in frame.items()})


def _spool(folder: Path, index: int, results: pd.DataFrame, errors: pd.DataFrame
           ) -> tuple[int, int]:
    """Write batch `index`'s non-empty frames to `folder`; (results, errors) rows. Written
    without dictionary encoding or statistics (a spool file is read whole, once or twice):
    about half of `DataFrame.to_parquet`'s time, the same frames read back."""
    for kind, frame in (("results", results), ("errors", errors)):
        if len(frame):
            pq.write_table(_arrow_table(frame), folder / f"{kind}-{index:09d}.parquet",
                           use_dictionary=False, write_statistics=False)
    return len(results), len(errors)


def spool_batch(folder: Path, index: int, batch: pd.DataFrame, **batch_kwargs: Any
                ) -> tuple[int, int]:
    """`run_batch_safely` in a worker process that writes the batch's frames to the spool
    folder itself and sends back only the row counts (no frames pickled back, no Parquet
    writing in the main process)."""
    return _spool(folder, index, *run_batch_safely(batch, **batch_kwargs))


def dask_batches(folder: Path | None, batches: list[tuple[int, bytes]], **batch_kwargs: Any
                 ) -> list[tuple[int, int] | bytes]:
    """One Dask task: `(index, SITES rows)` batches run one after another on a worker, each
    batch's rows pickled by `run_dask` (Dask's own serialisation of a DataFrame, block by
    block, cost ~5 ms a batch between the client, the scheduler and the worker; a pickle
    ~0.2 ms). Per batch, in order: with `folder`, `spool_batch`'s row counts; else
    `run_batch_safely`'s frames, pickled likewise. The worker's first batch ends with
    `freeze_after_first_batch`."""
    done: list[tuple[int, int] | bytes] = []
    for index, batch in batches:
        sites = pickle.loads(batch)
        if folder is not None:
            done.append(spool_batch(folder, index, sites, **batch_kwargs))
        else:
            done.append(pickle.dumps(run_batch_safely(sites, **batch_kwargs), protocol=5))
        freeze_after_first_batch()
    return done


def _written_by_workers(sink: MemorySink) -> SpoolSink | None:
    """`sink` if the workers may write its files themselves (a SpoolSink whose `add` is the
    plain one; a subclass that changes `add` gets the frames)."""
    plain = isinstance(sink, SpoolSink) and type(sink).add is SpoolSink.add
    return sink if plain else None


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _on_this_machine(client: Any) -> bool:
    """Whether every Dask worker listens on loopback (a LocalCluster): then they see this
    machine's files, the spool folder among them."""
    from urllib.parse import urlsplit

    hosts = {urlsplit(address).hostname for address in client.scheduler_info()["workers"]}
    return bool(hosts) and hosts <= _LOOPBACK


def _concat(parts: Iterator[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    frames = list(parts)
    return pd.concat(frames, ignore_index=True) if frames else empty


@dataclass(frozen=True)
class PortfolioOutcome:
    """Every site's result or error (kept by `sink`), and how the run went."""

    sink: MemorySink
    engine: str
    workers: int
    batches: int
    seconds: float

    @functools.cached_property
    def results(self) -> pd.DataFrame:
        """All results in SITES row order (read into memory on first use)."""
        return _concat(self.sink.iter_results(), empty_results())

    @functools.cached_property
    def errors(self) -> pd.DataFrame:
        """All errors (site_id, row, stage, reason) in SITES row order."""
        return _concat(self.sink.iter_errors(), empty_errors())

    @property
    def sites(self) -> int:
        """Sites read (results + errors)."""
        return self.sink.n_results + self.sink.n_errors


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_local(
    batches: Iterable[pd.DataFrame],
    *,
    workers: int | None = None,
    max_pending: int | None = None,
    progress: ProgressFn | None = None,
    sink: MemorySink | None = None,
    **batch_kwargs: Any,
) -> PortfolioOutcome:
    """Run `run_batch` over `batches` in `workers` processes (1: in this process).

    Each batch's frames go to `sink` (default: a `MemorySink`) as the batch finishes.
    """
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    sink = MemorySink() if sink is None else sink
    started = time.perf_counter()
    count = 0

    spool = _written_by_workers(sink) if workers > 1 else None

    def done(index: int, part: tuple[Any, Any]) -> None:
        nonlocal count
        count += 1
        if spool is not None:
            spool.add_written(index, *part)
        else:
            sink.add(index, *part)
        if progress is not None:
            progress(sum(part) if spool is not None else len(part[0]) + len(part[1]))

    if workers == 1:
        for index, batch in enumerate(batches):
            done(index, run_batch_safely(batch, **batch_kwargs))
    else:
        limit = max_pending or 2 * workers
        with ProcessPoolExecutor(max_workers=workers, initializer=set_up_batch_worker) as pool:
            pending: dict[Future, int] = {}
            for index, batch in enumerate(batches):
                future = (pool.submit(spool_batch, spool.folder, index, batch, **batch_kwargs)
                          if spool is not None
                          else pool.submit(run_batch_safely, batch, **batch_kwargs))
                pending[future] = index
                if len(pending) >= limit:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done(pending.pop(future), future.result())
            for future in wait(pending).done:
                done(pending[future], future.result())
    return PortfolioOutcome(sink, "local", workers, count, time.perf_counter() - started)


def _tasks(batches: Iterable[pd.DataFrame], per_task: int, threads: int
           ) -> Iterator[list[tuple[int, pd.DataFrame]]]:
    """The batches, numbered, in tasks of `per_task`; once the stream ends, a task takes at
    most 1/`threads` of the batches left (guided self-scheduling), down to one: the last tasks
    are short, so no worker is left running several batches while the others wait."""
    stream = enumerate(batches)
    room = (threads + 1) * per_task
    ahead = collections.deque(itertools.islice(stream, room))
    while ahead:
        take = max(1, min(per_task, len(ahead) // threads))
        yield [ahead.popleft() for _ in range(take)]
        ahead.extend(itertools.islice(stream, room - len(ahead)))


def run_dask(
    batches: Iterable[pd.DataFrame],
    *,
    scheduler: Any,
    batches_per_task: int = DASK_BATCHES_PER_TASK,
    max_pending: int | None = None,
    progress: ProgressFn | None = None,
    sink: MemorySink | None = None,
    **batch_kwargs: Any,
) -> PortfolioOutcome:
    """Run `run_batch` over `batches` on a dask.distributed cluster.

    `scheduler` is the scheduler address (``tcp://HOST:PORT``) or a `distributed.Client`.
    Each task runs `batches_per_task` batches one after another (`dask_batches`; the last
    tasks fewer, `_tasks`): Dask's cost per task (client, scheduler, the worker's event
    loop: ~8 ms of CPU) is then shared, and the batches, hence the results, are the same. At
    most `max_pending` tasks (default 2 per worker thread) are submitted at a time; each
    batch's frames go to `sink` (default: a `MemorySink`) as its task finishes.
    """
    from distributed import Client, as_completed

    if batches_per_task < 1:
        raise ValueError(f"batches_per_task must be 1 or more, got {batches_per_task}")
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own else scheduler
    except OSError as exc:
        raise ConnectionError(f"could not reach the Dask scheduler at {scheduler!r}: {exc}"
                              ) from exc
    sink = MemorySink() if sink is None else sink
    started = time.perf_counter()
    count = 0
    try:
        threads = sum(client.nthreads().values()) or 1
        limit = max_pending or 2 * threads
        tasks = _tasks(batches, batches_per_task, threads)
        indexes_of: dict[str, list[int]] = {}
        spool = _written_by_workers(sink) if _on_this_machine(client) else None

        def submit() -> Any:
            numbered = next(tasks, None)
            if numbered is None:
                return None
            task = [(index, pickle.dumps(batch, protocol=5)) for index, batch in numbered]
            future = client.submit(dask_batches, None if spool is None else spool.folder, task,
                                   pure=False, **batch_kwargs)
            indexes_of[future.key] = [index for index, _ in task]
            return future

        queue = as_completed([future for future in (submit() for _ in range(limit))
                              if future is not None])
        for future in queue:
            for index, part in zip(indexes_of.pop(future.key), future.result(), strict=True):
                if spool is not None:
                    spool.add_written(index, *part)
                    sites = sum(part)
                else:
                    frames = pickle.loads(part)
                    sink.add(index, *frames)
                    sites = len(frames[0]) + len(frames[1])
                count += 1
                if progress is not None:
                    progress(sites)
            future.release()
            following = submit()
            if following is not None:
                queue.add(following)
    finally:
        if own:
            client.close()
    return PortfolioOutcome(sink, "dask", threads, count, time.perf_counter() - started)


def run_portfolio(
    sites_path: str | Path,
    *,
    engine: str = "local",
    scheduler: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    batches_per_task: int = DASK_BATCHES_PER_TASK,
    progress: ProgressFn | None = None,
    sink: MemorySink | None = None,
    **batch_kwargs: Any,
) -> PortfolioOutcome:
    """Stream a SITES file in batches of `batch_size` through the chosen engine.

    `sink` receives each batch's frames (default: memory; `SpoolSink(folder)` writes them to
    disk so the results of any number of sites never sit in memory together).
    `batches_per_task`: the batches a Dask task runs (dask engine only; see `run_dask`).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    fraction = batch_kwargs.get("flex_fraction")
    if fraction is not None and not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"flex_fraction must be between 0 and 1, got {fraction}")
    batches = iter_site_batches(sites_path, batch_size)
    if engine == "dask":
        if scheduler is None:
            raise ValueError("the dask engine needs --scheduler tcp://HOST:PORT")
        return run_dask(batches, scheduler=scheduler, batches_per_task=batches_per_task,
                        progress=progress, sink=sink, **batch_kwargs)
    return run_local(batches, workers=workers, progress=progress, sink=sink, **batch_kwargs)
