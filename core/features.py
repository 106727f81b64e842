"""Load-shape features of half-hourly demand profiles, for one site or thousands at once.

A profile is a pandas Series of kWh per half hour on a tz-aware DatetimeIndex of period
starts, regularly spaced 30 minutes apart (UTC is usual; any zone is accepted and converted).
Times of day, weekday/weekend and months are read in UK clock time (Europe/London).

Features (names are the keys of `ProfileFeatures.values` and the DataFrame columns):

- ``peak_ratio``      max / mean of the half-hourly kWh.
- ``load_factor``     mean / max (the reciprocal of ``peak_ratio``).
- ``weekend_factor``  mean kWh per half hour on Saturdays and Sundays / the same on Mon-Fri.
- ``day_night_ratio`` mean kWh per half hour in 07:00-23:00 clock time / the same in
                      23:00-07:00 (means, so the 16 h / 8 h split does not bias it).
- ``base_load_ratio`` 5th percentile of the half-hourly kWh / mean.
- ``red_share``       kWh in DUoS red-band half hours / all kWh (needs `bands`).
- ``seasonal_ratio``  mean kWh per half hour in Nov-Feb (winter) / the same in May-Aug (summer).
- ``autocorr_24h``    lag-48 autocorrelation r_k = sum((x_t-m)(x_t+k - m)) / sum((x_t-m)^2).
- ``autocorr_168h``   the same at lag 336 (one week).
- ``peak_time_h``     clock time, in hours (17.5 = 17:30), of the start of the half hour at
                      which the mean daily profile (mean kWh by clock half hour) is highest.

Minimum data (shorter profiles are refused for that feature, with the reason):
peak/load/base-load/day-night/peak time need one day (48 half hours, every clock half hour
present for peak time); weekend factor needs a full weekday and a full weekend day
(48 half hours of each); 24 h autocorrelation needs 2 days; 168 h autocorrelation needs
2 weeks; seasonal ratio needs 7 days (336 half hours) in each of winter and summer.
Ratios whose denominator is zero, and autocorrelations of a constant profile, are refused too.

Refusal: `profile_features` and `create_features_dataframe` never raise for a feature that
cannot be computed; the value is NaN and the reason is kept (`ProfileFeatures.reasons`, the
``notes`` column). The single-feature functions (`peak_ratio(profile)`, ...) raise
`FeatureError`, whose message names the feature. Malformed profiles (not a Series, no tz,
gaps, NaN) raise `FeatureError` naming ``profile``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from bess_duos.core import bands as _bands
from bess_duos.core import feature_rows as _passes
from bess_duos.core.profiles import index_grid, localise_timestamps, parse_timestamps
from numpy.typing import ArrayLike

UK_TZ = "Europe/London"

FEATURES: tuple[str, ...] = (
    "peak_ratio",
    "load_factor",
    "weekend_factor",
    "day_night_ratio",
    "base_load_ratio",
    "red_share",
    "seasonal_ratio",
    "autocorr_24h",
    "autocorr_168h",
    "peak_time_h",
)
DAY_START_H, DAY_END_H = 7.0, 23.0  # "day" for day_night_ratio, clock hours
WINTER_MONTHS = (11, 12, 1, 2)
SUMMER_MONTHS = (5, 6, 7, 8)
BASE_PERCENTILE = 5.0
EVENING_START_H, EVENING_END_H = 16.0, 19.0  # for evening_peak_factor, clock hours
KWH_PER_KW = 0.5  # a half hour at 1 kW is 0.5 kWh


class FeatureError(ValueError):
    """A feature cannot be computed for this profile; the message names the feature."""


@dataclass(frozen=True)
class ClockFields:
    """UK clock-time fields of a half-hour index, as numpy arrays aligned to it."""

    slot: np.ndarray  # clock half hour of day 0..47
    weekend: np.ndarray  # bool, Saturday or Sunday
    month: np.ndarray  # 1..12
    day_code: np.ndarray  # 0.. per UK clock day, in order
    day_pos: np.ndarray  # position of the half hour within its clock day 0..49

    @functools.cached_property
    def groups(self) -> _Groups:
        """The feature groups of these half hours (kept with the fields: once per grid)."""
        return _groups_of(self)


# Columns of the group sums: 6 groups, then the 48 clock half hours.
_WEEKDAY, _WEEKEND, _DAY, _NIGHT, _WINTER, _SUMMER = range(6)
_SLOT_HOURS = np.arange(48) / 2.0
_SLOT_IS_DAY = (_SLOT_HOURS >= DAY_START_H) & (_SLOT_HOURS < DAY_END_H)
_MIN_BLOCK_DAYS = 7  # shorter runs of whole days go with the other half hours


@dataclass(frozen=True)
class _Groups:
    """How `core.feature_rows.feature_sums` sums a profile into the 6 groups and 48 clock half
    hours: runs of whole clock days (48 half hours, slots 0..47 in order) a day at a time,
    each day of one kind (3 x weekend + season: winter 0, summer 1, other 2); the other half
    hours (clock-change days, partial first and last days) each with its cell (kind x 48 +
    clock half hour)."""

    counts: np.ndarray  # [54] half hours in each group and clock half hour
    blocks: np.ndarray  # [runs, 2]: (first half hour, days) of each run of whole days
    day_kind: np.ndarray  # int8 [days in blocks]
    rest: np.ndarray  # positions of the half hours outside the blocks
    rest_cell: np.ndarray  # int16 [len(rest)]
    evening: np.ndarray  # bool per half hour: 16:00-19:00 clock time


# Per clock half hour (0..47) and per month (1..12): the groups read by table lookup.
_SLOT_EVENING = (_SLOT_HOURS >= EVENING_START_H) & (_SLOT_HOURS < EVENING_END_H)
_WINTER_MONTH = np.isin(np.arange(13), WINTER_MONTHS)
_SUMMER_MONTH = np.isin(np.arange(13), SUMMER_MONTHS)
_SEASON = np.where(_WINTER_MONTH, 0, np.where(_SUMMER_MONTH, 1, 2))


def _day_kind(weekend: np.ndarray, month: np.ndarray) -> np.ndarray:
    """3 x weekend + season (winter 0, summer 1, other 2) of each half hour or day."""
    return 3 * weekend + _SEASON[month]


def _groups_of(clock: ClockFields) -> _Groups:
    n = len(clock.slot)
    slot_counts = np.bincount(clock.slot, minlength=48)
    month_counts = np.bincount(clock.month, minlength=13)
    weekend = np.count_nonzero(clock.weekend)
    day = int(slot_counts @ _SLOT_IS_DAY)
    counts = np.concatenate([[n - weekend, weekend, day, n - day,
                              month_counts @ _WINTER_MONTH, month_counts @ _SUMMER_MONTH],
                             slot_counts]).astype(float)

    starts = np.flatnonzero(clock.day_pos == 0)
    lengths = np.diff(np.r_[starts, n])
    whole = starts[lengths == 48]
    if whole.size:
        in_order = (clock.slot[whole[:, None] + np.arange(48)] == np.arange(48)).all(axis=1)
        whole = whole[in_order]
    runs = np.split(whole, np.flatnonzero(np.diff(whole) != 48) + 1) if whole.size else []
    runs = [run for run in runs if run.size >= _MIN_BLOCK_DAYS]
    blocks = np.array([(run[0], run.size) for run in runs], dtype=np.intp).reshape(-1, 2)
    block_days = np.concatenate(runs) if runs else np.zeros(0, dtype=np.intp)
    day_kind = _day_kind(clock.weekend[block_days], clock.month[block_days]).astype(np.int8)
    outside = np.ones(n, dtype=bool)
    for first, days in blocks:
        outside[first : first + 48 * days] = False
    rest = np.flatnonzero(outside)
    rest_cell = (_day_kind(clock.weekend[rest], clock.month[rest]) * 48
                 + clock.slot[rest]).astype(np.int16)
    evening = _SLOT_EVENING[clock.slot]
    for array in (counts, blocks, day_kind, rest, rest_cell, evening):
        array.flags.writeable = False
    return _Groups(counts, blocks, day_kind, rest, rest_cell, evening)


def uk_clock(index: pd.DatetimeIndex) -> ClockFields:
    """Clock half hour, weekend flag, month and clock-day number of each period start.

    The Europe/London calendar comes from `core.bands.uk_clock` (numpy arithmetic on the
    summer-time transitions, the same answers as a pandas tz_convert, several times faster).
    """
    return _clock_of_ns(_bands._as_utc_ns(index))


def _clock_of_ns(utc_ns: np.ndarray, grid: tuple[int, int] | bool | None = True
                 ) -> ClockFields:
    """The clock fields of int64 ns UTC instants; `grid` is their `half_hour_grid` when the
    caller has it (True: not known, found here)."""
    if grid is True:
        grid = _bands.half_hour_grid(utc_ns)
    if grid:  # the same grid recurs (DUoS, features, flexibility; many sites)
        return _regular_fields(*grid)
    return _fields(_bands.uk_clock(utc_ns))


@functools.lru_cache(maxsize=8)  # ~0.7 MB per year-long grid
def _regular_fields(first_ns: int, size: int) -> ClockFields:
    """`uk_clock` of `size` half hours from `first_ns`, once per grid; read-only arrays."""
    fields = _fields(_bands.uk_clock(first_ns + np.arange(size, dtype=np.int64)
                                     * _bands.NS_PER_HALF_HOUR))
    for array in vars(fields).values():
        array.flags.writeable = False
    return fields


def _fields(clock: _bands.UkClock) -> ClockFields:
    n = len(clock.local_day)
    steps = np.diff(clock.local_day)
    if (steps >= 0).all():  # in time order (the usual case): a new code at each day change
        first = np.r_[0, np.flatnonzero(steps) + 1]
        lengths = np.diff(np.r_[first, n])
        day_code = np.repeat(np.arange(len(first), dtype=np.int64), lengths)
    else:
        day_code = pd.factorize(clock.local_day)[0].astype(np.int64)
        first = np.r_[0, np.flatnonzero(np.diff(day_code)) + 1]
        lengths = np.diff(np.r_[first, n])
    starts = np.repeat(first, lengths)
    return ClockFields(
        slot=clock.slot,
        weekend=clock.weekend,
        month=clock.month,
        day_code=day_code,
        day_pos=np.arange(n) - starts,
    )


def kwh_series(data: pd.Series | pd.DataFrame, what: str = "df") -> pd.Series:
    """kWh per half hour on a UTC index, in row order, from a long table or a Series.

    `data` is a Series of kWh, or a DataFrame with a ``timestamp`` (or ``datetime``) column or
    a DatetimeIndex, and a ``kwh`` (or ``consumption_kwh``) column, or a ``kw`` column of mean
    power (kWh = kW x 0.5), or one column. The seed toolkit's calls read their frames with it.
    Timestamps are read as everywhere (docs/duos.md): naive times are UK clock time
    (Europe/London; the repeated October hour is BST first, then GMT), times with an offset
    or a time zone are used as given. A ``kw`` column is never taken as kWh.
    """
    if isinstance(data, pd.DataFrame):
        time_column = next((c for c in ("timestamp", "datetime") if c in data.columns), None)
        if time_column is not None:
            try:
                times, _ = parse_timestamps(data[time_column].reset_index(drop=True))
            except ValueError as exc:
                raise FeatureError(f"{what}: {exc}") from None
            index = pd.DatetimeIndex(times)
        elif isinstance(data.index, pd.DatetimeIndex):
            index = data.index
        else:
            raise FeatureError(
                f"{what}: needs a 'timestamp' (or 'datetime') column or a DatetimeIndex; "
                f"columns are {list(data.columns)[:6]}"
            )
        values = data.drop(columns=time_column or [], errors="ignore")
        kwh_column = next((c for c in ("kwh", "consumption_kwh") if c in values.columns), None)
        if kwh_column is not None:
            kwh = values[kwh_column].to_numpy(dtype=float)
        elif "kw" in values.columns:
            kwh = values["kw"].to_numpy(dtype=float) * KWH_PER_KW
        elif values.shape[1] == 1:
            kwh = values.iloc[:, 0].to_numpy(dtype=float)
        else:
            raise FeatureError(
                f"{what}: expected a 'kwh' or 'consumption_kwh' column (or 'kw', converted to "
                "kWh x 0.5); "
                f"columns are {list(data.columns)[:6]}"
            )
        name = "kwh"
    elif isinstance(data, pd.Series):
        index, kwh, name = data.index, data.to_numpy(dtype=float), data.name
        if not isinstance(index, pd.DatetimeIndex):
            raise FeatureError(f"{what}: a Series of kWh needs a DatetimeIndex of period starts")
    else:
        raise FeatureError(
            f"{what}: expected a DataFrame (timestamp, kwh or kw) or a Series of kWh, "
            f"got {type(data).__name__}"
        )
    try:
        utc = localise_timestamps(index)
    except ValueError as exc:
        raise FeatureError(f"{what}: {exc}") from None
    return pd.Series(kwh, index=pd.DatetimeIndex(utc, tz="UTC"), name=name)


def validate_profile(profile: pd.Series, what: str = "profile") -> pd.Series:
    """The profile as float, checked: tz-aware, sorted, regular 30-minute steps, finite."""
    values, _ = _checked(profile, what)
    return pd.Series(values, index=profile.index.tz_convert("UTC"), name=profile.name)


def checked_kwh_series(data: pd.Series | pd.DataFrame, what: str = "df") -> pd.Series:
    """`validate_profile(kwh_series(data, what), what)`: the kWh per half hour, checked. A
    float Series on a UTC ns index (a loaded profile's kWh) is checked as it is, without the
    two intermediate Series (the same checks, errors and result)."""
    index = getattr(data, "index", None)
    if (isinstance(data, pd.Series) and data.dtype == np.float64
            and isinstance(index, pd.DatetimeIndex) and str(index.tz) == "UTC"
            and index.unit == "ns"):
        values, utc_ns, _ = _checked_grid(data, what)
        return pd.Series(values, index=pd.DatetimeIndex(utc_ns, tz="UTC"), name=data.name)
    return validate_profile(kwh_series(data, what), what)


def _checked(profile: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(kWh as float, int64 ns UTC period starts) of a profile `validate_profile` accepts."""
    values, utc_ns, _ = _checked_grid(profile, what)
    return values, utc_ns


def _checked_grid(profile: pd.Series, what: str
                  ) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    """`_checked` and the profile's `half_hour_grid` (None for a single half hour)."""
    if not isinstance(profile, pd.Series):
        raise FeatureError(f"{what}: expected a pandas Series of kWh, got {type(profile).__name__}")
    utc_ns, grid = _checked_index(profile.index, what)
    values = profile.to_numpy(dtype=float)
    _check_finite(values, profile.index, what)
    return values, utc_ns, grid


def _check_finite(values: np.ndarray, index: pd.DatetimeIndex, what: str) -> None:
    """Raise `FeatureError` at the first value of `values` (on `index`) that is not finite."""
    # one sum first: it is finite unless a value is not (or the sum overflows: then look)
    if not np.isfinite(_row_totals(values[None, :])[0]) and not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise FeatureError(f"{what}: value at {index[bad]} is not a finite number (fill gaps)")


def _checked_index(index: pd.Index, what: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(int64 ns UTC period starts, `half_hour_grid`) of an index `validate_profile` accepts."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise FeatureError(
            f"{what}: index must be a tz-aware DatetimeIndex of period starts "
            "(localise it, e.g. .tz_localize('UTC'))"
        )
    if len(index) == 0:
        raise FeatureError(f"{what}: empty profile")
    # UTC instants whatever the zone
    utc_ns = index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8
    grid = index_grid(index)
    if len(index) > 1 and grid is None:
        steps = np.diff(utc_ns)
        if (steps == 2 * _bands.NS_PER_HALF_HOUR).all():
            raise FeatureError(
                f"{what}: the data are hourly, not half-hourly (split each hour's kWh into two "
                "half hours, or resample, before computing features)"
            )
        bad = int(np.flatnonzero(steps != _bands.NS_PER_HALF_HOUR)[0])
        raise FeatureError(
            f"{what}: half hours must be regular and sorted; the step after {index[bad]} "
            f"is {index[bad + 1] - index[bad]} (reindex to 30-minute periods and fill gaps)"
        )
    return utc_ns, grid


def _band_mask(bands: ArrayLike, n: int, what: str) -> np.ndarray:
    """True where the band name is 'red' (any case), for `n` half hours (last axis)."""
    arr = np.asarray(bands)
    if arr.shape[-1] != n:
        raise FeatureError(f"{what}: bands have {arr.shape[-1]} entries, the profile {n}")
    if arr.dtype.kind == "U":  # the usual names compare as they are; lower-case the others
        red = arr == "red"
        other = ~(red | (arr == "amber") | (arr == "green"))
        if other.any():
            red[other] = np.char.lower(arr[other]) == "red"
        return red
    if arr.dtype.kind == "O":  # lower-case each distinct name once
        codes, names = pd.factorize(arr.ravel(), use_na_sentinel=False)
        return (np.char.lower(np.asarray(names).astype(str)) == "red")[codes].reshape(arr.shape)
    return np.char.lower(arr.astype(str)) == "red"


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _rank(n: int, q: float) -> tuple[int, float]:
    """numpy's linear percentile of `n` values: the lower order statistic's position and the
    weight of the next (virtual index (n - 1) * q / 100)."""
    virtual = (n - 1) * (q / 100.0)
    lo = min(int(np.floor(virtual)), n - 1)
    return lo, (virtual - np.floor(virtual) if lo < n - 1 else 0.0)


def _lerp(below: np.ndarray, above: np.ndarray, gamma: float) -> np.ndarray:
    """numpy's two-sided lerp between the order statistics at `_rank`."""
    diff = above - below
    if gamma >= 0.5:
        return above - diff * (1 - gamma)
    return below + diff * gamma


def percentile_rows(x: np.ndarray, q: float) -> np.ndarray:
    """`np.percentile(x, q, axis=1)` (linear interpolation), the same numbers, from each row's
    two order statistics at numpy's virtual index (found without sorting or copying x)."""
    x = np.ascontiguousarray(x, dtype=float)
    lo, gamma = _rank(x.shape[1], q)
    pairs = np.empty((len(x), 2))
    _passes.order_pairs(x, lo, pairs)
    return _lerp(pairs[:, 0], pairs[:, 1], gamma)


def _autocorrelations(stats: np.ndarray, n: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """`_feature_values`' 24 h and 168 h autocorrelations from `_row_passes`' stats, or their
    refusal when too short."""
    out: dict[str, np.ndarray] = {}
    why: dict[str, str] = {}
    den = stats[:, _CENTRED]
    den = np.where(den > 1e-12 * np.maximum(1.0, stats[:, _SQUARES]), den, 0.0)
    for name, lag, need, column in (("autocorr_24h", 48, "2 days", _LAG_48),
                                    ("autocorr_168h", 336, "2 weeks", _LAG_336)):
        if n < 2 * lag:
            out[name] = np.full(len(stats), np.nan)
            why[name] = f"{name}: needs at least {need} ({2 * lag} half hours), profile has {n}"
        else:
            out[name] = _safe_div(stats[:, column], den)
            why[name] = f"{name}: profile is constant"
    return out, why


_RED_SHARE_ZERO = "total consumption is zero"


def _red_share(x: np.ndarray, red: np.ndarray, total: np.ndarray) -> np.ndarray:
    """kWh in red half hours over all kWh (`total`, `_row_totals`) of each row of `x`; `red`
    is one bool mask [half hours] shared by the rows, or one per row."""
    red_f = np.asarray(red, dtype=float)
    red_kwh = x @ red_f if red_f.ndim == 1 else np.einsum("ij,ij->i", x, red_f)
    return _safe_div(red_kwh, total)


def _row_totals(x: np.ndarray) -> np.ndarray:
    """Each row's kWh: `x.sum(axis=1)`, the same bits (the mean is it over the half hours);
    `_row_passes` gives the same sums of its rows."""
    x = np.ascontiguousarray(x, dtype=float)
    total = np.empty(len(x))
    _passes.row_totals(x, total)
    return total


# Columns of `_row_passes`' stats.
_PEAK, _SQUARES, _BELOW, _ABOVE, _CENTRED, _LAG_48, _LAG_336 = range(7)
_SLOT_IS_DAY_U8 = _SLOT_IS_DAY.astype(np.uint8)
_NO_COPY = np.empty((0, 0))


def _row_passes(rows: Sequence[np.ndarray], n: int, groups: _Groups, lo: int,
                lags: bool = True, copy: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(total [rows]: `_row_totals`, [rows, 54] kWh in the 6 groups and 48 clock half hours,
    [rows, 7] stats: max, sum of squares, the lo-th and next smallest (NaN if lo = -1),
    centred sum of squares, lag-48 and lag-336 centred products (NaN unless `lags`)) of
    `rows` (kWh arrays of n half hours), each read once (and copied into the rows of `copy`
    [rows, n] when given)."""
    total = np.empty(len(rows))
    sums = np.empty((len(rows), 6 + 48))
    stats = np.empty((len(rows), 7))
    _passes.feature_sums([np.ascontiguousarray(row, dtype=float) for row in rows], n,
                         _NO_COPY if copy is None else copy, total, groups.blocks,
                         groups.day_kind, groups.rest, groups.rest_cell, _SLOT_IS_DAY_U8, lo,
                         lags, sums, stats)
    return total, sums, stats


def _feature_values(
    x: np.ndarray, groups: _Groups, red: np.ndarray | None = None,
    names: tuple[str, ...] = FEATURES,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """({feature: value per row of `x` [sites, half hours]}, {feature: reason}): a row's
    feature is refused, for that feature's one reason, where its value is not finite.
    Only the features in `names` are returned, each by the same arithmetic as in all (the
    percentile and the lag products are left out when none of them is wanted)."""
    x = np.ascontiguousarray(x, dtype=float)
    n = x.shape[1]
    lo = _rank(n, BASE_PERCENTILE)[0] if "base_load_ratio" in names else -1
    passes = _row_passes(list(x), n, groups, lo, bool({"autocorr_24h", "autocorr_168h"}
                                                      & set(names)))
    share = None if red is None else _red_share(x, red, passes[0])
    return _values_of(passes, n, groups, share, names)


def _values_of(
    passes: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, groups: _Groups,
    share: np.ndarray | None, names: tuple[str, ...] = FEATURES,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """`_feature_values` from the rows' `_row_passes` (of n half hours) and red shares (None:
    no bands)."""
    total, sums, stats = passes
    n_sites = len(total)
    out: dict[str, np.ndarray] = {}
    why: dict[str, str] = {}

    def refuse_all(name: str, reason: str) -> None:
        out[name] = np.full(n_sites, np.nan)
        why[name] = f"{name}: {reason}"

    def keep(name: str, value: np.ndarray, zero_reason: str) -> None:
        out[name] = value
        why[name] = f"{name}: {zero_reason}"

    counts = groups.counts
    means = _safe_div(sums, np.broadcast_to(counts, sums.shape))
    mean = total / n  # `x.mean(axis=1)`, the same bits
    one_day = n >= 48
    if not one_day:
        for name in ("peak_ratio", "load_factor", "base_load_ratio", "day_night_ratio"):
            refuse_all(name, f"needs at least one day (48 half hours), profile has {n}")
    else:
        peak = stats[:, _PEAK]
        keep("peak_ratio", _safe_div(peak, mean), "mean demand is zero")
        keep("load_factor", _safe_div(mean, peak), "maximum demand is zero")
        keep("day_night_ratio", means[:, _DAY] / np.where(means[:, _NIGHT] > 0,
                                                          means[:, _NIGHT], np.nan),
             "no consumption at night (23:00-07:00)")
        base = _lerp(stats[:, _BELOW], stats[:, _ABOVE], _rank(n, BASE_PERCENTILE)[1])
        keep("base_load_ratio", _safe_div(base, mean), "mean demand is zero")

    if counts[_WEEKDAY] < 48 or counts[_WEEKEND] < 48:
        refuse_all("weekend_factor", "needs a full weekday and a full weekend day (has "
                   f"{int(counts[_WEEKDAY])} weekday and {int(counts[_WEEKEND])} weekend half "
                   "hours)")
    else:
        keep("weekend_factor", _safe_div(means[:, _WEEKEND], means[:, _WEEKDAY]),
             "no weekday consumption")

    if share is None:
        refuse_all("red_share", "needs the DUoS bands of each half hour (none given)")
    else:
        keep("red_share", share, _RED_SHARE_ZERO)

    if counts[_WINTER] < 336 or counts[_SUMMER] < 336:
        refuse_all("seasonal_ratio", "needs 7 days in both winter (Nov-Feb) and summer (May-Aug) "
                   f"(has {int(counts[_WINTER])} and {int(counts[_SUMMER])} half hours)")
    else:
        keep("seasonal_ratio", _safe_div(means[:, _WINTER], means[:, _SUMMER]),
             "no summer consumption")

    lagged, lag_why = _autocorrelations(stats, n)
    out.update(lagged)
    why.update(lag_why)

    if not one_day or (counts[6:] == 0).any():
        refuse_all("peak_time_h", "needs every clock half hour of the day at least once")
    else:
        out["peak_time_h"] = np.argmax(means[:, 6:], axis=1) / 2.0
        why["peak_time_h"] = ""
    return {name: out[name] for name in names}, why


def feature_matrix(
    values: np.ndarray, clock: ClockFields, red: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], dict[str, list[str | None]]]:
    """Every feature for profiles stacked as rows of `values` [sites, half hours].

    `red` is a bool mask of red-band half hours, [half hours] (shared) or [sites, half hours].
    Returns ({feature: values per site (NaN if refused)}, {feature: reason per site or None}).
    """
    out, why = _feature_values(np.asarray(values, dtype=float), clock.groups, red)
    reasons = {
        name: np.where(np.isfinite(value), None, why[name]).tolist()
        for name, value in out.items()
    }
    return out, reasons


# --- pattern label ---------------------------------------------------------------------------

PATTERN_RULES: tuple[tuple[str, str], ...] = (
    ("24/7 industrial", "load_factor >= 0.6 and weekend_factor >= 0.8 and "
                        "0.8 <= day_night_ratio <= 1.25"),
    ("night load (e.g. EV depot)", "day_night_ratio < 0.8"),
    ("office/commercial", "weekend_factor < 0.7 and day_night_ratio >= 1.3 and "
                          "07:00 <= peak time < 17:00"),
    ("domestic-like", "17:00 <= peak time < 22:00 and weekend_factor >= 0.9"),
    ("evening peak", "17:00 <= peak time < 22:00"),
    ("daytime 7-day (retail-like)", "weekend_factor >= 0.7 and day_night_ratio >= 1.3 and "
                                    "07:00 <= peak time < 17:00"),
    ("mixed", "none of the above"),
)
UNLABELLED = "unlabelled (features missing)"
_LABEL_INPUTS = ("load_factor", "weekend_factor", "day_night_ratio", "peak_time_h")


def pattern_labels(features: pd.DataFrame) -> pd.Series:
    """Rule-based pattern label per row of a features frame: the first rule of
    `PATTERN_RULES` that holds; `UNLABELLED` if a feature the rules use is NaN."""
    labels = _pattern_of(*(features[c].to_numpy(dtype=float) for c in _LABEL_INPUTS))
    return pd.Series(labels, index=features.index, name="pattern")


_PATTERN_NAMES = np.array([name for name, _ in PATTERN_RULES] + [UNLABELLED], dtype=object)


def _pattern_of(lf: np.ndarray, wf: np.ndarray, dn: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """`pattern_labels` of arrays of load factor, weekend factor, day/night and peak time."""
    with np.errstate(invalid="ignore"):
        daytime_peak = (pt >= 7) & (pt < 17)
        evening = (pt >= 17) & (pt < 22)
        holds = np.stack([
            (lf >= 0.6) & (wf >= 0.8) & (dn >= 0.8) & (dn <= 1.25),
            dn < 0.8,
            (wf < 0.7) & (dn >= 1.3) & daytime_peak,
            evening & (wf >= 0.9),
            evening,
            (wf >= 0.7) & (dn >= 1.3) & daytime_peak,
            np.ones(np.shape(lf), dtype=bool),  # mixed
        ])
    rule = np.argmax(holds, axis=0)
    missing = np.isnan(lf) | np.isnan(wf) | np.isnan(dn) | np.isnan(pt)
    return _PATTERN_NAMES[np.where(missing, len(PATTERN_RULES), rule)]


# --- single profile --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileFeatures:
    """Features of one profile: value per feature (NaN if refused) and why refused."""

    values: dict[str, float]
    reasons: dict[str, str] = field(default_factory=dict)
    pattern: str = UNLABELLED

    @property
    def peak_time(self) -> str:
        """Peak time of day as 'HH:MM' clock time ('' when refused)."""
        hours = self.values.get("peak_time_h", np.nan)
        if not np.isfinite(hours):
            return ""
        return f"{int(hours):02d}:{round(hours % 1 * 60):02d}"

    def as_series(self) -> pd.Series:
        """The values as a Series indexed by feature name."""
        return pd.Series(self.values, dtype=float)


def profile_features(profile: pd.Series, bands: ArrayLike | None = None,
                     only: tuple[str, ...] | None = None) -> ProfileFeatures:
    """All features of one profile; `bands` (names per half hour, aligned) for ``red_share``.
    `only` (names from `FEATURES`) computes just those, to the same bits; the pattern is then
    `UNLABELLED` unless the features it reads are among them."""
    names = FEATURES if only is None else tuple(only)
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ValueError(f"only: unknown feature(s) {unknown}; choose from {list(FEATURES)}")
    values, utc_ns, grid = _checked_grid(profile, "profile")
    red = None if bands is None else _band_mask(bands, len(values), "bands")
    groups = _clock_of_ns(utc_ns, grid).groups
    vals, why = _feature_values(values[None, :], groups, red, names=names)
    row = {name: float(vals[name][0]) for name in names}
    reasons = {name: why[name] for name in names if not np.isfinite(row[name])}
    label = UNLABELLED
    if all(name in vals for name in _LABEL_INPUTS):
        label = str(_pattern_of(*(vals[name] for name in _LABEL_INPUTS))[0])
    return ProfileFeatures(values=row, reasons=reasons, pattern=label)


def _one(profile: pd.Series, name: str, bands: ArrayLike | None = None) -> float:
    result = profile_features(profile, bands)
    if name in result.reasons:
        raise FeatureError(result.reasons[name])
    return result.values[name]


def peak_ratio(profile: pd.Series) -> float:
    """max / mean of half-hourly kWh. Raises FeatureError if it cannot be computed."""
    return _one(profile, "peak_ratio")


def load_factor(profile: pd.Series) -> float:
    """mean / max of half-hourly kWh (1 for a flat profile)."""
    return _one(profile, "load_factor")


def weekend_factor(profile: pd.Series) -> float:
    """Mean kWh per half hour Sat-Sun / Mon-Fri, UK clock days."""
    return _one(profile, "weekend_factor")


def day_night_ratio(profile: pd.Series) -> float:
    """Mean kWh per half hour 07:00-23:00 / 23:00-07:00, UK clock time."""
    return _one(profile, "day_night_ratio")


def base_load_ratio(profile: pd.Series) -> float:
    """5th percentile of half-hourly kWh / mean."""
    return _one(profile, "base_load_ratio")


def red_share(profile: pd.Series, bands: ArrayLike) -> float:
    """Share of kWh in red-band half hours; `bands` are band names aligned to the profile."""
    return _one(profile, "red_share", bands)


def seasonal_ratio(profile: pd.Series) -> float:
    """Mean kWh per half hour Nov-Feb / May-Aug (needs 7 days of each)."""
    return _one(profile, "seasonal_ratio")


def autocorr_24h(profile: pd.Series) -> float:
    """Lag-24 h autocorrelation (needs 2 days)."""
    return _one(profile, "autocorr_24h")


def autocorr_168h(profile: pd.Series) -> float:
    """Lag-168 h autocorrelation (needs 2 weeks)."""
    return _one(profile, "autocorr_168h")


def peak_time_h(profile: pd.Series) -> float:
    """Clock hour (17.5 = 17:30) of the maximum of the mean daily profile."""
    return _one(profile, "peak_time_h")


def evening_peak_factor(profile: pd.Series) -> float:
    """Mean kWh per half hour 16:00-19:00 UK clock time / mean of all half hours."""
    x, utc_ns = _checked(profile, "profile")
    evening = _clock_of_ns(utc_ns).groups.evening
    if not evening.any():
        raise FeatureError("evening_peak_factor: the profile has no half hour in 16:00-19:00")
    if not x.mean() > 0:
        raise FeatureError("evening_peak_factor: mean demand is zero")
    return float(x[evening].mean() / x.mean())


def monthly_cv(profile: pd.Series) -> float:
    """Coefficient of variation (sample standard deviation / mean) of the mean kWh per half
    hour of each UK calendar month (year and month). Needs two months."""
    series = validate_profile(profile)
    clock = _bands.uk_clock(series.index)
    month_key = (clock.charging_year + (clock.month < 4)) * 12 + clock.month
    _, month_of_row, counts = np.unique(month_key, return_inverse=True, return_counts=True)
    if counts.size < 2:
        raise FeatureError("monthly_cv: needs at least two calendar months, profile has one")
    means = np.bincount(month_of_row, weights=series.to_numpy()) / counts
    if not means.mean() > 0:
        raise FeatureError("monthly_cv: mean demand is zero")
    return float(means.std(ddof=1) / means.mean())


# --- many profiles ---------------------------------------------------------------------------


CHUNK_SITES = 64  # sites stacked per 2-D array: 64 site-years (9 MB) stay in cache (measured best)


def _features_chunk(
    profiles: Mapping[str, pd.Series],
    sites: list[str],
    n: int,
    groups: _Groups,
    bands: Mapping[str, ArrayLike] | None,
    shared_red: np.ndarray | None,
) -> pd.DataFrame:
    rows = [profiles[site].to_numpy(dtype=float) for site in sites]
    red = shared_red
    if bands is not None:
        if all(s in bands for s in sites):
            red = np.vstack([_band_mask(bands[s], n, f"bands {s!r}") for s in sites])
        elif any(s in bands for s in sites):
            missing = [s for s in sites if s not in bands]
            raise FeatureError(f"bands: no bands for sites {missing[:5]}")
    table, notes = _chunk_values(rows, n, sites, groups, red)
    frame = pd.DataFrame(table, index=pd.Index(sites, name="site"), columns=list(FEATURES))
    frame["notes"] = notes
    return frame


def _passes_and_shares(
    rows: Sequence[np.ndarray], n: int, groups: _Groups, red: np.ndarray | None,
    red_of_row: np.ndarray | None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray | None]:
    """`_row_passes` of the rows (all features) and their red shares (None without `red`),
    as `_chunk_values` describes them: a run of rows per band set, each run's red kWh (BLAS,
    on its rows copied by the pass) read while the run is in cache."""
    runs = [(0, len(rows))] if red_of_row is None else list(itertools.pairwise(
        np.r_[0, np.flatnonzero(np.diff(red_of_row)) + 1, len(rows)].tolist()))
    matrix = None if red is None else np.empty((len(rows), n))
    share = None if red is None else np.empty(len(rows))
    parts = []
    for lo, hi in runs:  # a handful of band sets
        part = _row_passes(rows[lo:hi], n, groups, _rank(n, BASE_PERCENTILE)[0],
                           copy=None if matrix is None else matrix[lo:hi])
        parts.append(part)
        if matrix is not None:
            mask = red if red_of_row is None else red[red_of_row[lo]]
            share[lo:hi] = _red_share(matrix[lo:hi], mask, part[0])
    if len(parts) == 1:
        return parts[0], share
    total, sums, stats = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    return (total, sums, stats), share


def _chunk_values(
    rows: Sequence[np.ndarray],
    n: int,
    sites: Sequence[str],
    groups: _Groups,
    red: np.ndarray | None,
    red_of_row: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """([rows, FEATURES] values, each row's notes) of the profiles `rows` (kWh arrays of n
    half hours), row i being site `order[i]` of `sites` (no `order`: site i). `red`: a shared
    mask, one per row, or (with `red_of_row`, the mask of each row, sorted: each band set's
    rows one run) k masks [k, half hours] of which each row reads one."""
    passes, share = _passes_and_shares(rows, n, groups, red, red_of_row)
    total = passes[0]  # finite unless a value is not (or the sum overflows: look)
    if not np.isfinite(total).all():
        bad = [i for i in np.flatnonzero(~np.isfinite(total)) if not np.isfinite(rows[i]).all()]
        if bad:
            row = int(bad[0] if order is None else order[bad].min())
            raise FeatureError(f"profile {sites[row]!r}: contains NaN or infinite kWh")
    vals, why = _values_of(passes, n, groups, share)
    table = np.column_stack([vals[name] for name in FEATURES])
    return table, _notes(~np.isfinite(table), [why[name] for name in FEATURES])


def _notes(refused: np.ndarray, reasons: list[str]) -> np.ndarray:
    """The reasons of each row's refused features joined with '; ' ('' if none), one join
    per distinct combination of refusals."""
    code = refused.astype(np.int64) @ (1 << np.arange(refused.shape[1], dtype=np.int64))
    combos, row_combo = np.unique(code, return_inverse=True)
    texts = ["; ".join(r for bit, r in enumerate(reasons) if combo >> bit & 1)
             for combo in combos.tolist()]
    return np.asarray(texts, dtype=object)[row_combo]


def create_features_dataframe(
    profiles: Mapping[str, pd.Series],
    bands: Mapping[str, ArrayLike] | ArrayLike | None = None,
) -> pd.DataFrame:
    """Features of many sites: one row per site, a column per feature, ``pattern`` and ``notes``.

    Profiles sharing one index are stacked into [sites, half hours] arrays (in chunks of
    `CHUNK_SITES`) and computed together. `bands` is a mapping site -> band names, or one
    array shared by all sites (every profile must then have its length). Refused features
    are NaN, with the reasons joined in ``notes``.
    """
    if not profiles:
        return pd.DataFrame(columns=[*FEATURES, "pattern", "notes"])
    groups: list[tuple[pd.DatetimeIndex, np.ndarray, list[str]]] = []
    for site, profile in profiles.items():
        index = profile.index
        for gindex, _, members in groups:
            if gindex is index or gindex.equals(index):
                members.append(site)
                break
        else:
            _, utc_ns = _checked(profile, f"profile {site!r}")
            groups.append((index, utc_ns, [site]))

    per_site = bands if isinstance(bands, Mapping) else None
    frames = []
    for index, utc_ns, group_sites in groups:
        shared_red = None
        if bands is not None and per_site is None:
            shared_red = _band_mask(bands, len(index), "bands")
        clock_groups = _clock_of_ns(utc_ns).groups
        for first in range(0, len(group_sites), CHUNK_SITES):
            sites = group_sites[first : first + CHUNK_SITES]
            frames.append(_features_chunk(profiles, sites, len(index), clock_groups, per_site,
                                          shared_red))
    result = frames[0] if len(frames) == 1 else pd.concat(frames)
    if len(frames) > 1 or len(groups) > 1:
        result = result.loc[list(profiles)]
    result.insert(len(FEATURES), "pattern", pattern_labels(result))
    return result


@dataclass(frozen=True)
class FeatureRows:
    """Features of profiles stacked as rows: `values` [sites, FEATURES] (NaN where refused),
    each site's `pattern` and `notes` (its refusals' reasons joined). `rows[name]` is the
    column of a feature, of ``pattern`` or of ``notes``."""

    values: np.ndarray
    pattern: np.ndarray
    notes: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "pattern":
            return self.pattern
        if name == "notes":
            return self.notes
        return self.values[:, FEATURES.index(name)]

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def concat(cls, parts: Sequence[FeatureRows]) -> FeatureRows:
        """The rows of `parts`, one after another (none: no rows)."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls(np.zeros((0, len(FEATURES))), np.zeros(0, dtype=object),
                       np.zeros(0, dtype=object))
        return cls(np.concatenate([p.values for p in parts]),
                   np.concatenate([p.pattern for p in parts]),
                   np.concatenate([p.notes for p in parts]))

    def take(self, order: Sequence[int]) -> FeatureRows:
        """These rows in `order` (positions)."""
        return FeatureRows(self.values[order], self.pattern[order], self.notes[order])

    def frame(self, sites: Sequence[str]) -> pd.DataFrame:
        """The rows as `create_features_dataframe` gives them, indexed by `sites`."""
        result = pd.DataFrame(self.values, index=pd.Index(list(sites), name="site"),
                              columns=list(FEATURES))
        result["pattern"] = pd.Series(self.pattern, index=result.index, name="pattern")
        result["notes"] = self.notes
        return result


def feature_rows(
    rows: Sequence[np.ndarray],
    index: pd.DatetimeIndex,
    sites: Sequence[str],
    red: np.ndarray | None = None,
    red_of_row: Sequence[int] | np.ndarray | None = None,
) -> FeatureRows:
    """The features of profiles on one shared `index`, given as kWh arrays (`rows`, each
    aligned to `index`) named by `sites` (in messages), in chunks of `CHUNK_SITES` rows: the
    numbers of `create_features_dataframe`, without a Series per site. `red` is k bool masks
    [k, half hours] of the red band (k band sets) and `red_of_row` the mask each row reads (no
    `red`: red_share is refused, as without bands). Raises `FeatureError` as
    `create_features_dataframe` does."""
    if len(rows) != len(sites):
        raise ValueError(f"{len(rows)} rows of kWh for {len(sites)} sites: give one per site")
    if not len(rows):
        return FeatureRows.concat([])
    utc_ns, grid = _checked_index(index, "profiles")
    n = len(index)
    codes = None
    if red is not None:
        red = np.asarray(red, dtype=bool).reshape(-1, np.shape(red)[-1])
        if red.shape[1] != n:
            raise FeatureError(f"bands: bands have {red.shape[1]} entries, the profile {n}")
        if red_of_row is None and len(red) == 1:
            red_of_row = np.zeros(len(rows), dtype=np.intp)
        codes = np.asarray(red_of_row, dtype=np.intp)
        if codes.shape != (len(rows),) or codes.min() < 0 or codes.max() >= len(red):
            raise ValueError(f"red_of_row must give one of the {len(red)} band masks per row")
    groups = _clock_of_ns(utc_ns, grid).groups
    tables, notes = [], []
    for first in range(0, len(rows), CHUNK_SITES):
        chunk = slice(first, first + CHUNK_SITES)
        names = sites[chunk]
        for row, values in enumerate(rows[chunk]):
            if np.shape(values) != (n,):
                raise FeatureError(f"profile {names[row]!r}: {np.size(values)} kWh values "
                                   f"for {n} half hours")
        # each band set's rows stacked together: its red kWh read off a run of the matrix
        order = (np.arange(len(names)) if codes is None
                 else np.argsort(codes[chunk], kind="stable"))
        table, said = _chunk_values([rows[first + i] for i in order.tolist()], n, names,
                                    groups, red, None if codes is None else codes[chunk][order],
                                    order)
        back = np.argsort(order)
        tables.append(table[back])
        notes.append(said[back])
    values = np.concatenate(tables) if len(tables) > 1 else tables[0]
    pattern = _pattern_of(*(values[:, FEATURES.index(name)] for name in _LABEL_INPUTS))
    return FeatureRows(values, pattern, np.concatenate(notes) if len(notes) > 1 else notes[0])
