"""The average weekday load shape (48 UK clock half hours) and the band of each half hour.

For a reader's chart: mean demand in kW in each half hour of Monday to Friday (UK clock time,
kWh per half hour x 2), next to the tariff's weekday time band in the same half hour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core.bands import uk_clock
from bess_duos.core.timebands import BANDS, TimeBands

SLOTS = 48


def average_weekday_kw(kwh: pd.Series) -> list[float | None]:
    """Mean kW in each UK clock half hour (00:00 first) over Monday-Friday; None where empty.

    `kwh` is kWh per half hour on a tz-aware index of half-hour starts; NaNs are skipped.
    """
    clock = uk_clock(pd.DatetimeIndex(kwh.index))
    kw = kwh.to_numpy(dtype=float) * 2.0
    keep = ~clock.weekend & np.isfinite(kw)
    # the half hours left out add 0.0 to their slot's sum: the same sums as summing the kept only
    sums = np.bincount(clock.slot, weights=np.where(keep, kw, 0.0), minlength=SLOTS)
    counts = np.bincount(clock.slot, weights=keep, minlength=SLOTS)
    means = np.divide(sums, counts, out=np.full(SLOTS, np.nan), where=counts > 0)
    return [None if v != v else round(v, 3) for v in means.tolist()]


def weekday_bands(bands: TimeBands | None, month: int = 1) -> list[str] | None:
    """The weekday band ('red', 'amber', 'green') of each half hour in `month` (January default:
    the winter bands), or None without time bands."""
    if bands is None:
        return None
    return [BANDS[i] for i in bands.frozen_slot_table[month - 1, 0, :].tolist()]


def weekday_load(kwh: pd.Series, bands: TimeBands | None) -> dict[str, Any]:
    """`{"kw": [48 means], "bands": [48 band names] or None, "bands_month": 1}`."""
    return {"kw": average_weekday_kw(kwh), "bands": weekday_bands(bands), "bands_month": 1}
