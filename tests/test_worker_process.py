"""Long-lived processes (`core.worker_process`): the webhook's and the portfolio workers'
set-up objects are frozen out of the garbage collector's walks, and what the requests make is
still collected."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

from bess_duos.core import portfolio_engines
from bess_duos.core.worker_process import set_up_batch_worker
from bess_duos.webhook.compute import ComputePool

_FROZEN = """
import gc, json, weakref
import bess_duos.core.lookup  # noqa: F401
from bess_duos.core.worker_process import freeze_set_up_objects

walked_before = len(gc.get_objects())
frozen = freeze_set_up_objects()

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


def test_set_up_objects_leave_the_collectors_walks_and_new_garbage_is_still_freed() -> None:
    out = subprocess.run([sys.executable, "-c", _FROZEN], check=True, capture_output=True,
                         text=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    # pandas, pyarrow, scipy and the lookup's code: tens of thousands of objects, each walked
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


def test_portfolio_workers_freeze_what_they_inherit(monkeypatch) -> None:
    """The local engine starts its workers with `set_up_batch_worker`: each has frozen what it
    inherited (the engine's imports) before its first batch."""
    import bess_duos.core.portfolio  # noqa: F401  (pandas, pyarrow, the engine's code)

    made = []

    class Recorded(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("initializer"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(portfolio_engines, "ProcessPoolExecutor", Recorded)
    portfolio_engines.run_local([], workers=2)
    assert made == [set_up_batch_worker]
    with ProcessPoolExecutor(1, initializer=set_up_batch_worker) as pool:
        assert pool.submit(gc.get_freeze_count).result() > 50_000
