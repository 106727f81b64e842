"""Band assignment: which DUoS band (red/amber/green) each UTC half hour falls in, by UK clock time.

Every DNO workbook states its bands in UK clock time ("All the above times are in UK Clock
time", NGED West Midlands 2026, sheet 'Annex 1 LV, HV and UMS charges', row 8), so each UTC
half hour is first turned into Europe/London clock time: month, weekday/weekend and the
half-hour slot of the clock (hour * 2 + minute // 30). Then the charging year's slot table
(`TimeBands.slot_table()`) is indexed with numpy fancy indexing — no loop over half hours.

Bank holidays: the workbooks define the day types as "Monday to Friday (Including Bank
Holidays)" and "Saturday and Sunday" (same sheet, rows 6-7), so a bank holiday is an ordinary
weekday here; no bank-holiday calendar is needed.

Clock changes fall out of the arithmetic: on the last Sunday of March the clock skips 01:00-02:00
(46 half hours), on the last Sunday of October it repeats 01:00-02:00 (50 half hours, slots 2
and 3 each occur twice). UK summer time has begun on the last Sunday of March at 01:00 UTC and
ended on the last Sunday of October at 01:00 UTC since 1996 (the EU/UK Summer Time Order rule that
tzdata's Europe/London follows); the offsets are computed from those instants with
`np.searchsorted` rather than a per-timestamp time-zone conversion, and anything before 1996 goes
through pandas' `tz_convert` instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from bess_duos.core.timebands import BANDS, SLOTS_PER_DAY, TimeBands

NS_PER_MINUTE = 60 * 10**9
NS_PER_HALF_HOUR = 30 * NS_PER_MINUTE
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
_RULE_FIRST_YEAR = 1996  # first year of the "last Sunday of October" end of UK summer time
# Above this many grid half hours per timestamp, compute directly instead of via a grid table.
_TABLE_SPAN_FACTOR = 4

BandsForYear = Mapping[int, TimeBands] | Callable[[int], TimeBands]
T = TypeVar("T")


class BandAssignmentError(ValueError):
    """Timestamps that cannot be placed in a band (no time bands for their charging year)."""


@dataclass(frozen=True)
class UkClock:
    """UK clock-time calendar of each timestamp (arrays of the same length as the input)."""

    local_day: np.ndarray  # int64 days since 1970-01-01 of the UK clock date
    slot: np.ndarray  # int64 half-hour slot of the UK clock, 0..47
    month: np.ndarray  # int64 calendar month of the UK clock date, 1..12
    weekend: np.ndarray  # bool: Saturday or Sunday in UK clock time
    charging_year: np.ndarray  # int64 year in which the charging year (1 April - 31 March) starts


def _last_sunday_utc_1am(years: np.ndarray, month: int) -> np.ndarray:
    """int64 ns of 01:00 UTC on the last Sunday of `month` (March or October) of each year."""
    first_next = (years - 1970) * 12 + month  # months since epoch of the following month
    last_day = first_next.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
    weekday = (last_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    last_sunday = last_day - (weekday - 6) % 7
    return last_sunday * NS_PER_DAY + NS_PER_HOUR


def bst_transitions(first_year: int, last_year: int) -> np.ndarray:
    """Sorted UTC instants (int64 ns) where UK summer time starts and ends, in the given years."""
    years = np.arange(first_year, last_year + 1, dtype=np.int64)
    starts = _last_sunday_utc_1am(years, 3)
    ends = _last_sunday_utc_1am(years, 10)
    return np.column_stack([starts, ends]).ravel()


def uk_offset_ns(utc_ns: np.ndarray) -> np.ndarray:
    """Offset of UK clock time from UTC (0 or 3600 s, in ns) at each UTC instant (int64 ns)."""
    utc_ns = np.asarray(utc_ns, dtype=np.int64)
    if utc_ns.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(utc_ns.min()), int(utc_ns.max())
    first_year = int(np.datetime64(lo, "ns").astype("datetime64[Y]").astype(np.int64)) + 1970
    if first_year < _RULE_FIRST_YEAR:
        local = pd.DatetimeIndex(utc_ns.view("datetime64[ns]")).tz_localize("UTC")
        local = local.tz_convert("Europe/London")
        return local.tz_localize(None).asi8 - utc_ns
    last_year = int(np.datetime64(hi, "ns").astype("datetime64[Y]").astype(np.int64)) + 1970
    transitions = bst_transitions(first_year, last_year)
    # An odd number of transitions at or before t means summer time is in force.
    inside = np.searchsorted(transitions, utc_ns, side="right") & 1
    return inside.astype(np.int64) * NS_PER_HOUR


def _day_calendar(first_day: int, n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(month 1..12, weekend, charging year) of `n_days` consecutive epoch days from `first_day`."""
    days = np.arange(first_day, first_day + n_days, dtype=np.int64)
    months_since_epoch = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    year = months_since_epoch // 12 + 1970
    month = months_since_epoch % 12 + 1
    weekend = (days + 3) % 7 >= 5
    charging_year = np.where(month >= 4, year, year - 1)
    return month, weekend, charging_year


def uk_clock(utc: pd.DatetimeIndex | np.ndarray) -> UkClock:
    """UK clock date, half-hour slot, month, weekend flag and charging year of UTC instants.

    `utc` is a tz-aware DatetimeIndex (any zone; converted to UTC) or int64 ns since the epoch
    in UTC. Times between half hours fall in the slot that contains them.
    """
    utc_ns = _as_utc_ns(utc)
    grid = half_hour_grid(utc_ns)
    if grid is not None:  # a profile's grid: the same few grids recur (stages, sites, edits)
        return _regular_clock(*grid)
    return _clock_of(utc_ns)


def half_hour_grid(utc_ns: np.ndarray) -> tuple[int, int] | None:
    """(first instant, count) when int64 ns instants are consecutive half hours (two or
    more), else None."""
    if utc_ns.size < 2 or utc_ns[-1] - utc_ns[0] != (utc_ns.size - 1) * NS_PER_HALF_HOUR:
        return None
    if not bool((np.diff(utc_ns) == NS_PER_HALF_HOUR).all()):
        return None
    return int(utc_ns[0]), int(utc_ns.size)


@functools.lru_cache(maxsize=256)  # a batch's sites mostly share their first and last times
def utc_minute_text(ns: int) -> str:
    """'YYYY-MM-DD HH:MM' of an instant given as int64 ns UTC."""
    return str(np.datetime64(ns, "ns").astype("datetime64[m]")).replace("T", " ")


@functools.lru_cache(maxsize=8)  # ~0.7 MB per year-long grid
def _regular_clock(first_ns: int, size: int) -> UkClock:
    """The calendar of `size` half hours from `first_ns`, computed once per grid and shared
    (its arrays are read-only: ~0.6 MB for a year)."""
    clock = _clock_of(first_ns + np.arange(size, dtype=np.int64) * NS_PER_HALF_HOUR)
    for array in vars(clock).values():
        array.flags.writeable = False
    return clock


def _clock_of(utc_ns: np.ndarray) -> UkClock:
    """`uk_clock` of int64 ns UTC instants, computed."""
    local = utc_ns + uk_offset_ns(utc_ns)
    local_day = local // NS_PER_DAY
    slot = (local - local_day * NS_PER_DAY) // NS_PER_HALF_HOUR
    if local_day.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return UkClock(empty, empty, empty, np.zeros(0, dtype=bool), empty)
    first_day = int(local_day.min())
    month, weekend, charging_year = _day_calendar(first_day, int(local_day.max()) - first_day + 1)
    offset = local_day - first_day
    return UkClock(local_day, slot, month[offset], weekend[offset], charging_year[offset])


def _as_utc_ns(utc: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    if isinstance(utc, pd.DatetimeIndex | pd.Series):
        index = utc if isinstance(utc, pd.DatetimeIndex) else pd.DatetimeIndex(utc)
        if index.tz is None:
            raise BandAssignmentError(
                "timestamps have no time zone: localise them first (UTC or Europe/London), "
                "e.g. with core.profiles.load_profile"
            )
        return index.as_unit("ns").asi8  # a tz-aware index holds UTC instants in any zone
    array = np.asarray(utc)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ns]").astype(np.int64)
    return array.astype(np.int64, copy=False)


def per_year_getter(
    given: T | Mapping[int, T] | Callable[[int], T],
    single: type[T],
    missing: Callable[[int, list[int]], Exception],
) -> Callable[[int], T]:
    """A charging year -> value callable from one `single` value (every year), a mapping by
    year (a missing year raises `missing(year, years given)`), or such a callable as is."""
    if isinstance(given, single):
        return lambda _year: given
    if isinstance(given, Mapping):
        mapping = given

        def get(year: int) -> T:
            try:
                return mapping[year]
            except KeyError:
                raise missing(year, sorted(mapping)) from None

        return get
    return given


def _bands_getter(bands_for_year: BandsForYear | TimeBands) -> Callable[[int], TimeBands]:
    return per_year_getter(
        bands_for_year,
        TimeBands,
        lambda year, have: BandAssignmentError(
            f"no time bands for charging year {year}/{(year + 1) % 100:02d} (have {have})"
        ),
    )


def stacked_slot_tables(years: np.ndarray, bands_for_year: BandsForYear | TimeBands) -> np.ndarray:
    """int8 [len(years), 12, 2, 48] slot tables, one per charging year in `years`."""
    get = _bands_getter(bands_for_year)
    return np.stack([get(int(year)).frozen_slot_table for year in years])


def band_index_from_clock(clock: UkClock, tables: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Band index (into `BANDS`) of each entry of `clock`, given slot tables per year in `years`."""
    year_pos = np.searchsorted(years, clock.charging_year)
    flat = tables.reshape(-1)
    # Row-major position in [year, month-1, day type, slot].
    position = ((year_pos * 12 + clock.month - 1) * 2 + clock.weekend) * SLOTS_PER_DAY + clock.slot
    return flat[position]


@dataclass(frozen=True)
class HalfHourGrid:
    """A contiguous run of UTC half hours with their UK clock calendar, for table lookups."""

    start_ns: int
    clock: UkClock

    @classmethod
    def spanning(cls, utc_ns: np.ndarray) -> HalfHourGrid:
        """Every half hour from the first to the last of `utc_ns` (floored to the half hour)."""
        start = int(utc_ns.min()) // NS_PER_HALF_HOUR * NS_PER_HALF_HOUR
        stop = int(utc_ns.max()) // NS_PER_HALF_HOUR * NS_PER_HALF_HOUR
        # Integer steps (np.arange with a float-sized span can drop the last element).
        count = (stop - start) // NS_PER_HALF_HOUR + 1
        grid = start + np.arange(count, dtype=np.int64) * NS_PER_HALF_HOUR
        return cls(start, uk_clock(grid))

    def position(self, utc_ns: np.ndarray) -> np.ndarray:
        """Index into the grid of each UTC instant."""
        return (utc_ns - self.start_ns) // NS_PER_HALF_HOUR


def _use_grid(utc_ns: np.ndarray) -> bool:
    span = (int(utc_ns.max()) - int(utc_ns.min())) // NS_PER_HALF_HOUR + 1
    return span <= _TABLE_SPAN_FACTOR * utc_ns.size


def assign_band_index(
    utc: pd.DatetimeIndex | np.ndarray, bands_for_year: BandsForYear | TimeBands
) -> tuple[np.ndarray, np.ndarray]:
    """(band index int8 into `BANDS`, charging year int64) of each UTC half hour.

    `bands_for_year` is a `TimeBands` (used for every year), a mapping charging year ->
    `TimeBands`, or a callable year -> `TimeBands`. When the timestamps cover their time span
    densely, the calendar is computed once per half hour of the span and gathered.
    """
    utc_ns = _as_utc_ns(utc)
    if utc_ns.size == 0:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64)
    if _use_grid(utc_ns):
        grid = HalfHourGrid.spanning(utc_ns)
        years = np.unique(grid.clock.charging_year)
        tables = stacked_slot_tables(years, bands_for_year)
        grid_bands = band_index_from_clock(grid.clock, tables, years)
        position = grid.position(utc_ns)
        return grid_bands[position], grid.clock.charging_year[position]
    clock = uk_clock(utc_ns)
    years = np.unique(clock.charging_year)
    tables = stacked_slot_tables(years, bands_for_year)
    return band_index_from_clock(clock, tables, years), clock.charging_year


def assign_bands(
    utc: pd.DatetimeIndex | np.ndarray, bands_for_year: BandsForYear | TimeBands
) -> pd.Categorical:
    """Band names ('red', 'amber', 'green') of each UTC half hour, as a pandas Categorical."""
    index, _ = assign_band_index(utc, bands_for_year)
    return pd.Categorical.from_codes(index, categories=list(BANDS))
