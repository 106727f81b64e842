"""Engines that run `core.portfolio.run_batch` over a stream of site batches.

A batch that fails as a whole (a bug rather than a site's data) does not stop the run: its
sites are listed in the errors with stage ``internal`` (`core.portfolio.run_batch_safely`).

- ``local``: a `concurrent.futures.ProcessPoolExecutor` (default: one process per CPU
  core); at most `max_pending` batches (default 2 per worker) are in flight, so memory is
  bounded by the batch size, not the portfolio size. One worker runs in this process.
- ``dask``: the same function on a dask.distributed cluster (`scheduler` is an address such as
  ``tcp://10.0.0.5:8786`` or a `distributed.Client`). Only the batch's SITES rows travel to
  the workers; each worker reads the sites' profile files itself (Parquet partitions are read
  where the workers are, so the files must be on a path every worker can see).

Both return the same `PortfolioOutcome`; results and errors are ordered by SITES row, so the
engines' outputs are equal site by site.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.portfolio import (
    DEFAULT_BATCH_SIZE,
    ERROR_COLUMNS,
    iter_site_batches,
    result_columns,
    run_batch_safely,
)

ENGINES: tuple[str, ...] = ("local", "dask")
ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class PortfolioOutcome:
    """Every site's result or error, and how the run went."""

    results: pd.DataFrame
    errors: pd.DataFrame
    engine: str
    workers: int
    batches: int
    seconds: float

    @property
    def sites(self) -> int:
        """Sites read (results + errors)."""
        return len(self.results) + len(self.errors)


def _combine(parts: list[tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    results = [r for r, _ in parts if len(r)]
    errors = [e for _, e in parts if len(e)]
    result = (pd.concat(results, ignore_index=True) if results
              else pd.DataFrame(columns=result_columns()))
    error = (pd.concat(errors, ignore_index=True) if errors
             else pd.DataFrame(columns=list(ERROR_COLUMNS)))
    return (result.sort_values("row", kind="stable").reset_index(drop=True),
            error.sort_values("row", kind="stable").reset_index(drop=True))


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
    **batch_kwargs: Any,
) -> PortfolioOutcome:
    """Run `run_batch` over `batches` in `workers` processes (1: in this process)."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def done(part: tuple[pd.DataFrame, pd.DataFrame]) -> None:
        parts.append(part)
        if progress is not None:
            progress(len(part[0]) + len(part[1]))

    if workers == 1:
        for batch in batches:
            done(run_batch_safely(batch, **batch_kwargs))
    else:
        limit = max_pending or 2 * workers
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: set[Future] = set()
            for batch in batches:
                pending.add(pool.submit(run_batch_safely, batch, **batch_kwargs))
                if len(pending) >= limit:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done(future.result())
            for future in wait(pending).done:
                done(future.result())
    results, errors = _combine(parts)
    return PortfolioOutcome(results, errors, "local", workers, len(parts),
                            time.perf_counter() - started)


def run_dask(
    batches: Iterable[pd.DataFrame],
    *,
    scheduler: Any,
    max_pending: int | None = None,
    progress: ProgressFn | None = None,
    **batch_kwargs: Any,
) -> PortfolioOutcome:
    """Run `run_batch` over `batches` on a dask.distributed cluster.

    `scheduler` is the scheduler address (``tcp://HOST:PORT``) or a `distributed.Client`.
    At most `max_pending` batches (default 2 per worker thread) are submitted at a time.
    """
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own else scheduler
    except OSError as exc:
        raise ConnectionError(f"could not reach the Dask scheduler at {scheduler!r}: {exc}"
                              ) from exc
    started = time.perf_counter()
    parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    try:
        threads = sum(client.nthreads().values()) or 1
        limit = max_pending or 2 * threads
        stream: Iterator[pd.DataFrame] = iter(batches)

        def submit(batch: pd.DataFrame) -> Any:
            return client.submit(run_batch_safely, batch, pure=False, **batch_kwargs)

        first = [submit(batch) for _, batch in zip(range(limit), stream, strict=False)]
        queue = as_completed(first)
        for future in queue:
            part = future.result()
            future.release()
            parts.append(part)
            if progress is not None:
                progress(len(part[0]) + len(part[1]))
            following = next(stream, None)
            if following is not None:
                queue.add(submit(following))
    finally:
        if own:
            client.close()
    results, errors = _combine(parts)
    return PortfolioOutcome(results, errors, "dask", threads, len(parts),
                            time.perf_counter() - started)


def run_portfolio(
    sites_path: str | Path,
    *,
    engine: str = "local",
    scheduler: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    **batch_kwargs: Any,
) -> PortfolioOutcome:
    """Stream a SITES file in batches of `batch_size` through the chosen engine."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    fraction = batch_kwargs.get("flex_fraction")
    if fraction is not None and not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"flex_fraction must be between 0 and 1, got {fraction}")
    batches = iter_site_batches(sites_path, batch_size)
    if engine == "dask":
        if scheduler is None:
            raise ValueError("the dask engine needs --scheduler tcp://HOST:PORT")
        return run_dask(batches, scheduler=scheduler, progress=progress, **batch_kwargs)
    return run_local(batches, workers=workers, progress=progress, **batch_kwargs)
