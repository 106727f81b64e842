"""Synthetic half-hourly demand profiles for typical GB site archetypes.

Each archetype is a daily shape (by UK clock time of day), a weekly shape (weekday,
Saturday, Sunday), a seasonal shape (by day of year) and seeded noise (a per-day factor
and a per-half-hour factor). Shapes are evaluated in Europe/London clock time, so an
office still opens at 08:00 on the clock after a clock change, and clock-change days have
46 or 50 half hours. The result is a Series of kWh per half hour on a UTC index of period
starts, scaled so that a full year from `start` holds exactly `kwh_per_year`.

These are illustrative shapes for demos, tests and benchmarks, not measured data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

UK_TZ = "Europe/London"

# Approximate English school holidays as (month, day) spans, inclusive; used by "school".
_SCHOOL_HOLIDAYS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 1), (1, 3)),
    ((2, 15), (2, 23)),
    ((3, 29), (4, 13)),
    ((5, 24), (6, 1)),
    ((7, 22), (9, 2)),
    ((10, 26), (11, 3)),
    ((12, 20), (12, 31)),
)


def _window(hour: np.ndarray, start: float, end: float, ramp: float = 1.0) -> np.ndarray:
    """1 inside [start, end) clock hours, 0 outside, with linear ramps `ramp` hours wide."""
    up = np.clip((hour - start) / ramp + 0.5, 0.0, 1.0)
    down = np.clip((end - hour) / ramp + 0.5, 0.0, 1.0)
    return np.minimum(up, down)


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth Gaussian bump of height 1 at clock hour `centre`."""
    return np.exp(-0.5 * ((hour - centre) / width) ** 2)


def _winter(doy: np.ndarray) -> np.ndarray:
    """+1 in mid-January, -1 in mid-July (a cosine over the year)."""
    return np.cos(2 * np.pi * (doy - 15) / 365.25)


@dataclass(frozen=True)
class _Clock:
    hour: np.ndarray  # clock hour of the period start, 0..23.5
    dow: np.ndarray  # 0 Monday .. 6 Sunday
    doy: np.ndarray  # day of year 1..366
    month: np.ndarray
    day: np.ndarray
    day_code: np.ndarray  # 0.. per UK clock day in the range


def _office(c: _Clock) -> np.ndarray:
    weekday = c.dow < 5
    occupied = _window(c.hour, 8.0, 18.0, 1.5) * weekday
    level = (0.85 + 0.15 * _winter(c.doy)) * (1.0 + 0.15 * _bump(c.hour, 11.0, 2.0))
    return (0.30 + 0.05 * _winter(c.doy)) + occupied * level


def _retail(c: _Clock) -> np.ndarray:
    sunday = c.dow == 6
    open_ = np.where(sunday, _window(c.hour, 10.0, 16.0, 1.0), _window(c.hour, 8.0, 20.0, 1.0))
    christmas = 1.0 + 0.25 * ((c.month == 12) & (c.day < 24))
    return 0.30 + open_ * (0.90 + 0.10 * _winter(c.doy)) * christmas


def _school(c: _Clock) -> np.ndarray:
    md = c.month * 100 + c.day
    holiday = np.zeros(md.shape, dtype=bool)
    for (m0, d0), (m1, d1) in _SCHOOL_HOLIDAYS:
        holiday |= (md >= m0 * 100 + d0) & (md <= m1 * 100 + d1)
    term_day = (c.dow < 5) & ~holiday
    occupied = _window(c.hour, 7.5, 16.5, 1.0) * term_day
    lunch = 1.0 + 0.2 * _bump(c.hour, 12.0, 1.2)
    return 0.20 + occupied * lunch * (1.0 + 0.35 * _winter(c.doy))


def _industrial(c: _Clock) -> np.ndarray:
    shifts = 1.0 + 0.06 * _window(c.hour, 6.0, 22.0, 1.0)
    weekend = np.where(c.dow >= 5, 0.92, 1.0)
    return shifts * weekend * (1.0 + 0.03 * _winter(c.doy))


def _domestic(c: _Clock) -> np.ndarray:
    weekend = c.dow >= 5
    morning = np.where(weekend, 0.5 * _bump(c.hour, 9.5, 1.5), 0.6 * _bump(c.hour, 7.5, 1.0))
    daytime = np.where(weekend, 0.45, 0.25) * _window(c.hour, 9.0, 16.0, 2.0)
    evening = 1.3 * _bump(c.hour, 18.5, 1.8)
    return (0.25 + morning + daytime + evening) * (1.0 + 0.30 * _winter(c.doy))


def _ev_depot(c: _Clock) -> np.ndarray:
    night = np.maximum(_window(c.hour, 20.0, 24.5, 1.0), _window(c.hour, -0.5, 5.0, 1.0))
    weekend = np.where(c.dow >= 5, 0.55, 1.0)
    return 0.08 + night * weekend * (1.0 + 0.12 * _winter(c.doy))


@dataclass(frozen=True)
class Archetype:
    """A named synthetic site type: its shape function and noise levels."""

    name: str
    description: str
    shape: Callable[[_Clock], np.ndarray]
    day_noise: float  # standard deviation of the per-day multiplicative factor
    hh_noise: float  # standard deviation of the per-half-hour multiplicative factor


ARCHETYPES: dict[str, Archetype] = {
    a.name: a
    for a in (
        Archetype("office", "Mon-Fri 08:00-18:00 occupancy, winter heavier", _office, 0.05, 0.06),
        Archetype("retail", "open 7 days (Sun 10-16), December bump", _retail, 0.06, 0.06),
        Archetype("school", "term-time weekdays 07:30-16:30", _school, 0.05, 0.07),
        Archetype("industrial_24_7", "continuous process", _industrial, 0.02, 0.03),
        Archetype("domestic", "morning and evening peaks, strong winter", _domestic, 0.10, 0.15),
        Archetype("ev_depot", "overnight fleet charging 20:00-05:00", _ev_depot, 0.08, 0.08),
    )
}
# Other spellings accepted by `generate_profile` and the CLI.
ARCHETYPE_ALIASES: dict[str, str] = {
    "24/7 industrial": "industrial_24_7",
    "industrial": "industrial_24_7",
    "ev depot": "ev_depot",
    "ev": "ev_depot",
}


def _local_midnight(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        return stamp.tz_localize(UK_TZ)
    return stamp.tz_convert(UK_TZ)


def half_hour_index(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """UTC period starts from `start` (inclusive) to `end` (exclusive).

    Naive dates/times are taken as UK clock time (so '2025-04-01' is local midnight).
    """
    lo, hi = _local_midnight(start), _local_midnight(end)
    if hi <= lo:
        raise ValueError(f"end {hi} must be after start {lo}")
    return pd.date_range(lo, hi, freq="30min", inclusive="left").tz_convert("UTC")


def _clock(index: pd.DatetimeIndex) -> _Clock:
    local = index.tz_convert(UK_TZ)
    dates = local.normalize()
    day_code = pd.factorize(dates)[0]
    return _Clock(
        hour=np.asarray(local.hour + local.minute / 60.0, dtype=float),
        dow=np.asarray(local.day_of_week),
        doy=np.asarray(local.day_of_year, dtype=float),
        month=np.asarray(local.month),
        day=np.asarray(local.day),
        day_code=day_code,
    )


def resolve_archetype(name: str) -> Archetype:
    """The archetype called `name` (or one of its aliases); ValueError listing the choices."""
    key = ARCHETYPE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in ARCHETYPES:
        choices = ", ".join(ARCHETYPES)
        raise ValueError(f"archetype {name!r} unknown; choose one of: {choices}")
    return ARCHETYPES[key]


def generate_profile(
    archetype: str,
    kwh_per_year: float,
    start: str | pd.Timestamp = "2025-01-01",
    end: str | pd.Timestamp | None = None,
    seed: int | None = 0,
) -> pd.Series:
    """kWh per half hour for `archetype` from `start` to `end` (default: one year), seeded.

    The index is UTC period starts (tz-aware); naive `start`/`end` are UK clock time. The
    scale puts exactly `kwh_per_year` in the year beginning at `start`; a shorter or longer
    range holds that year's energy in proportion to its noiseless shape (so a winter month
    of an office holds more than a summer month).
    """
    spec = resolve_archetype(archetype)
    if not np.isfinite(kwh_per_year) or kwh_per_year <= 0:
        raise ValueError(f"kwh_per_year must be a positive number, got {kwh_per_year!r}")
    lo = _local_midnight(start)
    hi = _local_midnight(end) if end is not None else lo + pd.DateOffset(years=1)
    index = half_hour_index(lo, hi)
    clock = _clock(index)
    clean = spec.shape(clock)

    rng = np.random.default_rng(seed)
    n_days = int(clock.day_code.max()) + 1
    day_factor = np.exp(rng.normal(0.0, spec.day_noise, n_days))[clock.day_code]
    hh_factor = np.exp(rng.normal(0.0, spec.hh_noise, len(index)))
    noisy = clean * day_factor * hh_factor

    ref_index = half_hour_index(lo, lo + pd.DateOffset(years=1))
    ref_clean = spec.shape(_clock(ref_index))
    energy = kwh_per_year * clean.sum() / ref_clean.sum()
    values = noisy * (energy / noisy.sum())
    return pd.Series(values, index=index, name="kwh")
