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
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from bess_duos.core import bands as _bands
from bess_duos.core.profiles import localise_timestamps, parse_timestamps
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


def uk_clock(index: pd.DatetimeIndex) -> ClockFields:
    """Clock half hour, weekend flag, month and clock-day number of each period start.

    The Europe/London calendar comes from `core.bands.uk_clock` (numpy arithmetic on the
    summer-time transitions, the same answers as a pandas tz_convert, several times faster).
    """
    utc_ns = _bands._as_utc_ns(index)
    grid = _bands.half_hour_grid(utc_ns)
    if grid is not None:  # the same grid recurs (DUoS, features, flexibility; many sites)
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
    steps = np.diff(clock.local_day)
    if (steps >= 0).all():  # in time order (the usual case): codes count the day changes
        day_code = np.concatenate([[0], np.cumsum(steps != 0)]).astype(np.int64)
    else:
        day_code = pd.factorize(clock.local_day)[0].astype(np.int64)
    first = np.r_[0, np.flatnonzero(np.diff(day_code)) + 1]
    starts = np.repeat(first, np.diff(np.r_[first, len(day_code)]))
    return ClockFields(
        slot=clock.slot,
        weekend=clock.weekend,
        month=clock.month,
        day_code=day_code,
        day_pos=np.arange(len(day_code)) - starts,
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
    if not isinstance(profile, pd.Series):
        raise FeatureError(f"{what}: expected a pandas Series of kWh, got {type(profile).__name__}")
    index = profile.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise FeatureError(
            f"{what}: index must be a tz-aware DatetimeIndex of period starts "
            "(localise it, e.g. .tz_localize('UTC'))"
        )
    if len(index) == 0:
        raise FeatureError(f"{what}: empty profile")
    steps = np.diff(index.tz_convert(None).to_numpy())
    expected = np.timedelta64(30, "m")
    if len(steps) and (steps == np.timedelta64(60, "m")).all():
        raise FeatureError(
            f"{what}: the data are hourly, not half-hourly (split each hour's kWh into two "
            "half hours, or resample, before computing features)"
        )
    if len(steps) and not (steps == expected).all():
        bad = int(np.flatnonzero(steps != expected)[0])
        raise FeatureError(
            f"{what}: half hours must be regular and sorted; the step after {index[bad]} "
            f"is {index[bad + 1] - index[bad]} (reindex to 30-minute periods and fill gaps)"
        )
    values = profile.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise FeatureError(f"{what}: value at {index[bad]} is not a finite number (fill gaps)")
    return pd.Series(values, index=index.tz_convert("UTC"), name=profile.name)


def _band_mask(bands: ArrayLike, n: int, what: str) -> np.ndarray:
    arr = np.asarray(bands)
    if arr.shape[-1] != n:
        raise FeatureError(f"{what}: bands have {arr.shape[-1]} entries, the profile {n}")
    return np.char.lower(arr.astype(str)) == "red"


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _autocorr(xc: np.ndarray, den: np.ndarray, lag: int) -> np.ndarray:
    num = np.einsum("ij,ij->i", xc[:, :-lag], xc[:, lag:])
    return _safe_div(num, den)


def feature_matrix(
    values: np.ndarray, clock: ClockFields, red: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], dict[str, list[str | None]]]:
    """Every feature for profiles stacked as rows of `values` [sites, half hours].

    `red` is a bool mask of red-band half hours, [half hours] (shared) or [sites, half hours].
    Returns ({feature: values per site (NaN if refused)}, {feature: reason per site or None}).
    """
    x = np.asarray(values, dtype=float)
    n_sites, n = x.shape
    out: dict[str, np.ndarray] = {}
    why: dict[str, list[str | None]] = {}

    def refuse_all(name: str, reason: str) -> None:
        out[name] = np.full(n_sites, np.nan)
        why[name] = [f"{name}: {reason}"] * n_sites

    def keep(name: str, value: np.ndarray, zero_reason: str) -> None:
        out[name] = value
        why[name] = [None if np.isfinite(v) else f"{name}: {zero_reason}" for v in value]

    hour = clock.slot / 2.0
    is_day = (hour >= DAY_START_H) & (hour < DAY_END_H)
    winter = np.isin(clock.month, WINTER_MONTHS)
    summer = np.isin(clock.month, SUMMER_MONTHS)
    # [half hours, 6 groups + 48 clock slots] of 0/1 weights, filled in place (no stacking).
    weights = np.zeros((n, 6 + 48))
    for column, mask in enumerate((~clock.weekend, clock.weekend, is_day, ~is_day, winter,
                                   summer)):
        weights[:, column] = mask
    weights[np.arange(n), 6 + clock.slot] = 1.0
    counts = weights.sum(axis=0)
    sums = x @ weights  # [sites, 6 + 48]
    means = _safe_div(sums, np.broadcast_to(counts, sums.shape))

    mean = x.mean(axis=1)
    peak = x.max(axis=1)
    one_day = n >= 48
    if not one_day:
        for name in ("peak_ratio", "load_factor", "base_load_ratio", "day_night_ratio"):
            refuse_all(name, f"needs at least one day (48 half hours), profile has {n}")
    else:
        keep("peak_ratio", _safe_div(peak, mean), "mean demand is zero")
        keep("load_factor", _safe_div(mean, peak), "maximum demand is zero")
        base = np.percentile(x, BASE_PERCENTILE, axis=1)
        keep("base_load_ratio", _safe_div(base, mean), "mean demand is zero")
        keep("day_night_ratio", means[:, 2] / np.where(means[:, 3] > 0, means[:, 3], np.nan),
             "no consumption at night (23:00-07:00)")

    if counts[0] < 48 or counts[1] < 48:
        refuse_all("weekend_factor", "needs a full weekday and a full weekend day "
                   f"(has {int(counts[0])} weekday and {int(counts[1])} weekend half hours)")
    else:
        keep("weekend_factor", _safe_div(means[:, 1], means[:, 0]), "no weekday consumption")

    if red is None:
        refuse_all("red_share", "needs the DUoS bands of each half hour (none given)")
    else:
        red_f = np.asarray(red, dtype=float)
        red_kwh = x @ red_f if red_f.ndim == 1 else np.einsum("ij,ij->i", x, red_f)
        keep("red_share", _safe_div(red_kwh, x.sum(axis=1)), "total consumption is zero")

    if counts[4] < 336 or counts[5] < 336:
        refuse_all("seasonal_ratio", "needs 7 days in both winter (Nov-Feb) and summer (May-Aug) "
                   f"(has {int(counts[4])} and {int(counts[5])} half hours)")
    else:
        keep("seasonal_ratio", _safe_div(means[:, 4], means[:, 5]), "no summer consumption")

    xc = x - mean[:, None]
    den = np.einsum("ij,ij->i", xc, xc)
    den = np.where(den > 1e-12 * np.maximum(1.0, (x * x).sum(axis=1)), den, 0.0)
    for name, lag, need in (("autocorr_24h", 48, "2 days"), ("autocorr_168h", 336, "2 weeks")):
        if n < 2 * lag:
            refuse_all(name, f"needs at least {need} ({2 * lag} half hours), profile has {n}")
        else:
            keep(name, _autocorr(xc, den, lag), "profile is constant")

    slot_means = means[:, 6:]
    if not one_day or (counts[6:] == 0).any():
        refuse_all("peak_time_h", "needs every clock half hour of the day at least once")
    else:
        out["peak_time_h"] = np.argmax(slot_means, axis=1) / 2.0
        why["peak_time_h"] = [None] * n_sites
    return out, why


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
    lf, wf, dn, pt = (features[c].to_numpy(dtype=float) for c in _LABEL_INPUTS)
    with np.errstate(invalid="ignore"):
        daytime_peak = (pt >= 7) & (pt < 17)
        evening = (pt >= 17) & (pt < 22)
        conditions = [
            (lf >= 0.6) & (wf >= 0.8) & (dn >= 0.8) & (dn <= 1.25),
            dn < 0.8,
            (wf < 0.7) & (dn >= 1.3) & daytime_peak,
            evening & (wf >= 0.9),
            evening,
            (wf >= 0.7) & (dn >= 1.3) & daytime_peak,
        ]
    labels = np.select(conditions, [name for name, _ in PATTERN_RULES[:-1]], "mixed")
    missing = np.isnan(np.column_stack([lf, wf, dn, pt])).any(axis=1)
    labels = np.where(missing, UNLABELLED, labels)
    return pd.Series(labels, index=features.index, name="pattern")


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


def profile_features(profile: pd.Series, bands: ArrayLike | None = None) -> ProfileFeatures:
    """All features of one profile; `bands` (names per half hour, aligned) for ``red_share``."""
    series = validate_profile(profile)
    red = None if bands is None else _band_mask(bands, len(series), "bands")
    vals, why = feature_matrix(series.to_numpy()[None, :], uk_clock(series.index), red)
    values = {name: float(vals[name][0]) for name in FEATURES}
    reasons = {name: why[name][0] for name in FEATURES if why[name][0]}
    label = pattern_labels(pd.DataFrame([values]))[0]
    return ProfileFeatures(values=values, reasons=reasons, pattern=str(label))


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
    series = validate_profile(profile)
    x = series.to_numpy()
    hour = uk_clock(series.index).slot / 2.0
    evening = (hour >= EVENING_START_H) & (hour < EVENING_END_H)
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


CHUNK_SITES = 256  # sites stacked per 2-D array: bounds memory (256 site-years ~ 36 MB)


def _features_chunk(
    profiles: Mapping[str, pd.Series],
    sites: list[str],
    index: pd.DatetimeIndex,
    clock: ClockFields,
    bands: Mapping[str, ArrayLike] | ArrayLike | None,
) -> pd.DataFrame:
    matrix = np.vstack([np.asarray(profiles[s], dtype=float) for s in sites])
    if not np.isfinite(matrix).all():
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise FeatureError(f"profile {sites[row]!r}: contains NaN or infinite kWh")
    red = None
    if isinstance(bands, Mapping):
        if all(s in bands for s in sites):
            red = np.vstack([_band_mask(bands[s], len(index), f"bands {s!r}") for s in sites])
        elif any(s in bands for s in sites):
            missing = [s for s in sites if s not in bands]
            raise FeatureError(f"bands: no bands for sites {missing[:5]}")
    elif bands is not None:
        red = _band_mask(bands, len(index), "bands")
    vals, why = feature_matrix(matrix, clock, red)
    frame = pd.DataFrame(vals, index=pd.Index(sites, name="site"))[list(FEATURES)]
    frame["notes"] = [
        "; ".join(r for r in (why[f][i] for f in FEATURES) if r) for i in range(len(sites))
    ]
    return frame


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
    groups: list[tuple[pd.DatetimeIndex, list[str]]] = []
    for site, profile in profiles.items():
        index = profile.index
        for gindex, members in groups:
            if gindex is index or gindex.equals(index):
                members.append(site)
                break
        else:
            validate_profile(profile, f"profile {site!r}")
            groups.append((index, [site]))

    frames = []
    for index, group_sites in groups:
        clock = uk_clock(index.tz_convert("UTC"))
        for first in range(0, len(group_sites), CHUNK_SITES):
            sites = group_sites[first : first + CHUNK_SITES]
            frames.append(_features_chunk(profiles, sites, index, clock, bands))
    result = pd.concat(frames).loc[list(profiles)]
    result.insert(len(FEATURES), "pattern", pattern_labels(result))
    return result
