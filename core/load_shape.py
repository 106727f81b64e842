"""The average weekday load shape (48 UK clock half hours) and the band of each half hour.

For a reader's chart: mean demand in kW in each half hour of Monday to Friday (UK clock time,
kWh per half hour x 2), next to the tariff's weekday time band in the same half hour.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core import bands as _bands
from bess_duos.core.bands import uk_clock
from bess_duos.core.memo import LruMemo
from bess_duos.core.timebands import BANDS, TimeBands

SLOTS = 48
_remembered_kw = LruMemo(16)  # profile key -> its 48 weekday means (`weekday_load`)


def average_weekday_kw(kwh: pd.Series) -> list[float | None]:
    """Mean kW in each UK clock half hour (00:00 first) over Monday-Friday; None where empty.

    `kwh` is kWh per half hour on a tz-aware index of half-hour starts; NaNs are skipped.
    """
    return [None if v != v else round(v, 3) for v in _weekday_means(kwh).tolist()]


def _weekday_means(kwh: pd.Series) -> np.ndarray:
    """`average_weekday_kw` unrounded, NaN where empty."""
    index = kwh.index if isinstance(kwh.index, pd.DatetimeIndex) else pd.DatetimeIndex(kwh.index)
    utc_ns = _bands._as_utc_ns(index.asi8 if index.tz is not None and index.unit == "ns"
                               else index)  # a zoned ns index holds UTC instants
    values = kwh.to_numpy(dtype=float)
    grid = _bands.half_hour_grid(utc_ns)
    if grid is not None and np.isfinite(values).all():  # the weekday rows are the grid's
        rows, slots, counts = _weekday_rows(*grid)
        sums = np.bincount(slots, weights=values.take(rows) * 2.0, minlength=SLOTS)
    else:
        clock = uk_clock(utc_ns)
        kw = values * 2.0
        keep = ~clock.weekend & np.isfinite(kw)
        # a half hour left out adds 0.0 to its slot's sum: the sums of the kept only
        sums = np.bincount(clock.slot, weights=np.where(keep, kw, 0.0), minlength=SLOTS)
        counts = np.bincount(clock.slot, weights=keep, minlength=SLOTS)
    return np.divide(sums, counts, out=np.full(SLOTS, np.nan), where=counts > 0)


@functools.lru_cache(maxsize=8)
def _weekday_rows(first_ns: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows on Monday-Friday, their clock slot, weekday half hours per slot) of a grid. Summing
    only these rows, in order, gives the bits of summing every row with 0.0 for the others (a
    running sum from 0.0 is never -0.0, so adding 0.0 never changes it)."""
    clock = _bands._regular_clock(first_ns, size)
    rows = np.flatnonzero(~clock.weekend)
    slots = clock.slot[rows]
    counts = np.bincount(slots, minlength=SLOTS).astype(float)
    for array in (rows, slots, counts):
        array.flags.writeable = False
    return rows, slots, counts


def weekday_bands(bands: TimeBands | None, month: int = 1) -> list[str] | None:
    """The weekday band ('red', 'amber', 'green') of each half hour in `month` (January default:
    the winter bands), or None without time bands."""
    if bands is None:
        return None
    return [BANDS[i] for i in bands.frozen_slot_table[month - 1, 0, :].tolist()]


def weekday_load(kwh: pd.Series, bands: TimeBands | None, key: Hashable | None = None
                 ) -> dict[str, Any]:
    """`{"kw": [48 means], "bands": [48 band names] or None, "bands_month": 1}`. `key`: the
    profile's memo key (`core.valuation`'s, equal only for the same times and numbers): the
    means of a key seen lately are remembered, not worked out again."""
    kw = average_weekday_kw(kwh) if key is None else \
        list(_remembered_kw.get(key, lambda: tuple(average_weekday_kw(kwh))))
    return {"kw": kw, "bands": weekday_bands(bands), "bands_month": 1}
