"""What the benchmarks share: the best of N timings, the machine's load average, and the
one-year office profile they time, written as the CSV a sheet links to."""

from __future__ import annotations

import os
import timeit
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from bess_duos.core.synthetic import generate_profile


def best_ms(func: Callable[[], object], repeat: int, number: int = 1) -> float:
    """The minimum over `repeat` timings of `number` calls of `func`, in ms per call (the
    machine is shared: the minimum is the least disturbed)."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e3


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (/proc/loadavg)."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def write_office_year(path: Path) -> pd.Series:
    """Write the office site-year (180 MWh from 2025-04-01, seed 5: kWh per half hour) to
    `path` as a `timestamp,kwh` CSV with ISO times in UTC; return the series."""
    series = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        path, date_format="%Y-%m-%dT%H:%M:%SZ")
    return series
