"""What the benchmarks share: the best of N timings, and the machine's load average."""

from __future__ import annotations

import os
import timeit
from collections.abc import Callable


def best_ms(func: Callable[[], object], repeat: int, number: int = 1) -> float:
    """The minimum over `repeat` timings of `number` calls of `func`, in ms per call (the
    machine is shared: the minimum is the least disturbed)."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e3


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (/proc/loadavg)."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
