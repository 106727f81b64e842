"""Settings for long-lived processes that are set up once and then run job after job: the
local portfolio engine's batch workers (`set_up_batch_worker`), Dask's worker processes
(`freeze_after_first_batch`), the webhook's server and compute processes
(`freeze_set_up_objects`)."""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os

# glibc's malloc maps each block of 128 kB or more on its own and unmaps it when freed (the
# threshold adapts, up to 32 MB): a worker's batch arrays were then mapped, zero-filled page by
# page and unmapped again, batch after batch. (mallopt parameter, value): M_MMAP_THRESHOLD
# 256 MB (blocks below it come from the heap), M_TRIM_THRESHOLD 1 GB (freed heap is kept for
# the next batch), M_TOP_PAD 64 MB (the heap grows in steps of 64 MB).
_WORKER_MALLOC = ((-3, 256 << 20), (-1, 1 << 30), (-2, 64 << 20))


def reuse_freed_memory() -> bool:
    """Make this process's malloc keep large freed blocks for reuse instead of returning them
    to the OS (glibc only; True if set). For worker processes that run batch after batch:
    each keeps about its peak (350-400 MB at batches of 100 full-year sites)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):  # musl, macOS, Windows: leave it
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in _WORKER_MALLOC)


def freeze_set_up_objects() -> int:
    """Collect garbage, then move every object alive now (modules, tariff tables, caches:
    ~70,000 once pandas, pyarrow and scipy are imported) out of the garbage collector's
    generations (`gc.freeze`): its full collections, which walked them all (one took ~125 ms
    in the webhook's server process, in the middle of a burst of requests), then walk only
    what the jobs make. Call it once a process is set up. Frozen objects are still freed when
    nothing refers to them; only a reference cycle among them is never collected. The number
    frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def set_up_batch_worker() -> None:
    """A local portfolio worker process's set-up (its initializer): `reuse_freed_memory`, and
    what it inherited from the engine's process frozen out of the garbage collector's walks
    (without it each full collection walked those ~78,000 objects, ~30 ms, about 3 times per
    4,000 sites). Frozen as they are, not collected first as `freeze_set_up_objects` does: a
    collection walks and writes every inherited object (~50 ms, ~6,400 pages copied from the
    parent's) to free a few hundred."""
    reuse_freed_memory()
    gc.freeze()


_frozen_after_first_batch = False


def freeze_after_first_batch() -> bool:
    """After a Dask worker process's first batch, freeze what it holds out of the garbage
    collector's walks (`gc.freeze`, once per process). Such a worker was spawned, not forked:
    its first batch imported the engine and loaded the tariffs; each full collection then
    walked its ~110,000 objects, ~60 ms, about 3 times per 5,000 sites. Only in a process
    that a multiprocessing parent started (a nanny's worker): in-process workers live in the
    caller's own process, which is left as it is. True if it froze now."""
    global _frozen_after_first_batch
    if _frozen_after_first_batch or multiprocessing.parent_process() is None:
        return False
    _frozen_after_first_batch = True
    gc.freeze()
    return True
