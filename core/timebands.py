"""DUoS time bands: which band (red/amber/green) each half hour of UK clock time falls in."""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass, field

import numpy as np

# The three HH unit-rate bands, in the order the sheet shows them (B red, C amber, D green).
# Some DNOs name them black/yellow/green (unmetered supplies): `BAND_ALIASES` maps those.
BANDS: tuple[str, ...] = ("red", "amber", "green")
BAND_ALIASES: dict[str, str] = {"black": "red", "yellow": "amber"}
DAY_TYPES: tuple[str, ...] = ("weekday", "weekend")
SLOTS_PER_DAY = 48


class TimeBandError(ValueError):
    """Time bands that do not cover every half hour exactly once, or a malformed period."""


def _slot(hhmm: str) -> int:
    """'HH:MM' (00:00..24:00, on a half hour) -> half-hour slot 0..48."""
    try:
        hours, minutes = (int(part) for part in hhmm.strip().split(":"))
    except ValueError as exc:
        raise TimeBandError(f"time {hhmm!r} is not HH:MM") from exc
    if not (0 <= hours <= 24 and minutes in (0, 30)) or (hours == 24 and minutes):
        raise TimeBandError(f"time {hhmm!r} is not on a half hour between 00:00 and 24:00")
    return hours * 2 + minutes // 30


@dataclass(frozen=True)
class BandPeriod:
    """One period of one band, in UK clock time: `start` <= t < `end` ('24:00' ends the day).

    `days` is 'weekday' (Monday-Friday) or 'weekend' (Saturday, Sunday); `months` limits
    the period to those calendar months (1-12); empty means all year.
    """

    band: str
    days: str
    start: str
    end: str
    months: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if BAND_ALIASES.get(self.band, self.band) not in BANDS:
            raise TimeBandError(f"unknown band {self.band!r}; expected one of {BANDS}")
        if self.days not in DAY_TYPES:
            raise TimeBandError(f"unknown day type {self.days!r}; expected one of {DAY_TYPES}")
        if _slot(self.start) >= _slot(self.end):
            raise TimeBandError(f"period {self.start}-{self.end} ends before it starts")
        if any(m not in range(1, 13) for m in self.months):
            raise TimeBandError(f"months {self.months} must be 1-12")


@dataclass(frozen=True)
class TimeBands:
    """A DNO's HH time bands for one charging year (April to March), with their source."""

    distributor_id: int
    year: int
    periods: tuple[BandPeriod, ...]
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def slot_table(self) -> np.ndarray:
        """Band index (into `BANDS`) for [month-1, day type (0 weekday, 1 weekend), slot 0..47].

        Raises `TimeBandError` unless every half hour of every month and day type is
        covered by exactly one period.
        """
        table = np.full((12, len(DAY_TYPES), SLOTS_PER_DAY), -1, dtype=np.int8)
        for period in self.periods:
            band = BANDS.index(BAND_ALIASES.get(period.band, period.band))
            months = np.array(period.months or range(1, 13)) - 1
            day = DAY_TYPES.index(period.days)
            span = slice(_slot(period.start), _slot(period.end))
            view = table[months, day, span]
            if (view >= 0).any():
                raise TimeBandError(
                    f"distributor {self.distributor_id} {self.year}: {period} overlaps "
                    "another period"
                )
            table[months, day, span] = band
        missing = np.argwhere(table < 0)
        if missing.size:
            month, day, slot = missing[0]
            raise TimeBandError(
                f"distributor {self.distributor_id} {self.year}: no band for "
                f"{DAY_TYPES[day]} month {month + 1} at {slot // 2:02d}:{slot % 2 * 30:02d}"
            )
        return table

    @property
    def frozen_slot_table(self) -> np.ndarray:
        """`slot_table()` computed once per distinct set of periods and shared (read-only): the
        same table for every copy of the same bands (a lookup reads the config afresh)."""
        return _frozen_table(self.distributor_id, self.year, self.periods)

    def describe(self, band: str, max_rows: int = 4) -> list[str]:
        """Readable periods of one band, e.g. ['Mon–Fri 16:00–19:00'], as the sheet shows them."""
        labels = {"weekday": "Mon–Fri", "weekend": "Sat–Sun"}
        rows = []
        for period in self.periods:
            if BAND_ALIASES.get(period.band, period.band) != band:
                continue
            text = f"{labels[period.days]} {period.start}–{period.end}"
            if period.months:
                text += f" ({_month_span(period.months)})"
            rows.append(text)
        return rows[:max_rows]


def _month_span(months: tuple[int, ...]) -> str:
    return f"{calendar.month_abbr[months[0]]}–{calendar.month_abbr[months[-1]]}"


@functools.lru_cache(maxsize=512)
def _frozen_table(distributor_id: int, year: int, periods: tuple[BandPeriod, ...]) -> np.ndarray:
    table = TimeBands(distributor_id, year, periods).slot_table()
    table.flags.writeable = False
    return table
