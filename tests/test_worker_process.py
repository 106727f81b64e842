"""Long-lived worker processes (`core.worker_process`): their set-up objects are frozen out of
the garbage collector's walks, and what the jobs make is still collected."""

from __future__ import annotations

import gc
import subprocess
import sys

from bess_duos.webhook.compute import ComputePool

_FROZEN = """
import gc, json, os, sys, weakref
import bess_duos.core.portfolio  # noqa: F401
from bess_duos.core import worker_process

walked_before = len(gc.get_objects())
if sys.argv[1] == "local":
    worker_process.batch_worker_setup()
    frozen = gc.get_freeze_count()
else:
    assert worker_process.dask_worker_setup(os.getpid()) == 0  # the client's own process
    assert gc.get_freeze_count() == 0
    frozen = worker_process.dask_worker_setup(os.getpid() + 1)

class Node:
    pass

cycle = Node()
cycle.me = cycle  # garbage only the collector frees
gone = []
weakref.finalize(cycle, gone.append, True)
del cycle
gc.collect()
print(json.dumps({"before": walked_before, "after": len(gc.get_objects()), "frozen": frozen,
                  "counted": gc.get_freeze_count(), "cycle_collected": gone == [True]}))
"""


def _frozen(mode: str) -> dict[str, object]:
    import json

    out = subprocess.run([sys.executable, "-c", _FROZEN, mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_set_up_objects_leave_the_collectors_walks_and_new_garbage_is_still_freed() -> None:
    for mode in ("local", "dask"):
        seen = _frozen(mode)
        # pandas, pyarrow, scipy and the tariff code: tens of thousands of objects, each walked
        # by every full collection before; afterwards the walks see only a few new ones
        assert seen["frozen"] == seen["counted"] and seen["frozen"] > 50_000, seen
        assert seen["after"] < 2_000 < 50_000 < seen["before"], seen
        assert seen["cycle_collected"] is True, seen


def test_compute_processes_freeze_once_warmed() -> None:
    pool = ComputePool(1)
    try:
        assert pool.call(gc.get_freeze_count) > 50_000
    finally:
        pool.shutdown()
