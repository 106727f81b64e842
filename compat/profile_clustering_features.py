"""The seed toolkit's `profile_clustering_features`, kept working over `bess_duos.core.features`
and `bess_duos.core.flexibility`.

Same names, arguments, units and return shapes (docs/migrating.md). Profiles are DataFrames
with `timestamp` and `kwh` (or `kw`, mean kW over the half hour: kWh = kW x 0.5); naive
timestamps are UK clock time; prices are £/kWh. What changed and why:

- Times of day, weekends and months are UK clock time (the seed read timestamps at face value).
- `day_night_ratio` is day 07:00-23:00 over night 23:00-07:00, mean per half hour (the
  product's definition; the seed's day was 07:00-19:00).
- `monthly_cv` groups by calendar month of each year (the seed merged January 2025 with
  January 2026); one month gives 0.0, as before.
- A feature that cannot be computed (e.g. no weekend in the data) is NaN with the reason in
  `notes`, not a made-up 1.0 or 0.
- `str()` names the load pattern (`bess_duos.core.features.PATTERN_RULES`).
- `calculate_flexibility_value` is the exact optimum of moving up to `flex_fraction` of each
  UK day's energy from its dearest to its cheapest half hours, under the site's maximum
  demand (`bess_duos.core.flexibility`). The seed cut `flex_fraction` of the load in every
  half hour at or above the 90th percentile price and spread it over all the others in
  proportion to headroom, whatever the prices there, across days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core import features as _features
from bess_duos.core.features import FeatureError, checked_kwh_series
from bess_duos.core.flexibility import aligned_prices
from bess_duos.core.flexibility import calculate_flexibility_value as _typed_flexibility
from numpy.typing import ArrayLike

PENCE_PER_POUND = 100.0
KW_PER_KWH_HALF_HOUR = 2.0  # mean kW over a half hour = kWh / 0.5 h
# The seed's flags (unchanged): weekend_factor < 0.5, peak_ratio > 2.0, load_factor > 0.7.
WEEKDAY_DOMINANT_BELOW, PEAKY_ABOVE, BASELOAD_ABOVE = 0.5, 2.0, 0.7
_TOOLKIT_FEATURES = ("peak_ratio", "load_factor", "weekend_factor", "day_night_ratio")

__all__ = [
    "ProfileFeatures",
    "calculate_flexibility_value",
    "create_features_dataframe",
    "extract_profile_features",
]


@dataclass
class ProfileFeatures:
    """The seed's feature vector of one site, plus the pattern label and refusal notes."""

    site_id: str
    peak_ratio: float
    load_factor: float
    peak_kw: float
    mean_kw: float
    weekend_factor: float
    day_night_ratio: float
    evening_peak_factor: float
    monthly_cv: float
    is_weekday_dominant: bool
    is_peaky: bool
    is_baseload: bool
    pattern: str = _features.UNLABELLED
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The seed's keys (flags as 0/1), then `pattern` and `notes`."""
        out = dict(vars(self))
        for flag in ("is_weekday_dominant", "is_peaky", "is_baseload"):
            out[flag] = int(out[flag])
        return out

    def __str__(self) -> str:
        traits = (
            "weekday-dominant" if self.is_weekday_dominant else "continuous",
            "peaky" if self.is_peaky else "flat",
            "baseload" if self.is_baseload else "variable",
        )
        return f"{self.pattern} pattern ({', '.join(traits)})"


def _series(df_hh: pd.DataFrame | pd.Series, what: str) -> pd.Series:
    return checked_kwh_series(df_hh, what)


def _extras(series: pd.Series) -> tuple[float, float, float, float]:
    """peak kW, mean kW, evening peak factor and monthly CV of one validated profile."""
    kwh = series.to_numpy()
    try:
        evening = _features.evening_peak_factor(series)
    except FeatureError:
        evening = float("nan")
    try:
        cv = _features.monthly_cv(series)
    except FeatureError:  # one month (or no demand): the seed's 0.0
        cv = 0.0
    return (float(kwh.max()) * KW_PER_KWH_HALF_HOUR, float(kwh.mean()) * KW_PER_KWH_HALF_HOUR,
            evening, cv)


def _flags(peak_ratio: Any, load_factor: Any, weekend_factor: Any) -> tuple[Any, Any, Any]:
    with np.errstate(invalid="ignore"):
        return (np.asarray(weekend_factor) < WEEKDAY_DOMINANT_BELOW,
                np.asarray(peak_ratio) > PEAKY_ABOVE,
                np.asarray(load_factor) > BASELOAD_ABOVE)


def extract_profile_features(
    df_hh: pd.DataFrame | pd.Series, site_id: str = "site"
) -> ProfileFeatures:
    """Features of one half-hourly profile (`timestamp` + `kwh` or `kw`)."""
    series = _series(df_hh, f"profile {site_id!r}")
    typed = _features.profile_features(series)
    values = {name: typed.values[name] for name in _TOOLKIT_FEATURES}
    peak_kw, mean_kw, evening, cv = _extras(series)
    weekday, peaky, baseload = _flags(values["peak_ratio"], values["load_factor"],
                                      values["weekend_factor"])
    notes = "; ".join(typed.reasons[n] for n in _TOOLKIT_FEATURES if n in typed.reasons)
    return ProfileFeatures(
        site_id=site_id, peak_kw=peak_kw, mean_kw=mean_kw, evening_peak_factor=evening,
        monthly_cv=cv, is_weekday_dominant=bool(weekday), is_peaky=bool(peaky),
        is_baseload=bool(baseload), pattern=typed.pattern, notes=notes, **values,
    )


def create_features_dataframe(profiles_dict: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per site with the seed's columns (`site_id`, `peak_ratio`, `load_factor`, ...,
    flags as 0/1), then `pattern` and `notes`. Sites sharing timestamps are computed together
    (`bess_duos.core.features.create_features_dataframe`)."""
    series = {site: _series(df, f"profile {site!r}") for site, df in profiles_dict.items()}
    typed = _features.create_features_dataframe(series)
    extras = pd.DataFrame([_extras(s) for s in series.values()], index=typed.index,
                          columns=["peak_kw", "mean_kw", "evening_peak_factor", "monthly_cv"])
    weekday, peaky, baseload = _flags(typed["peak_ratio"], typed["load_factor"],
                                      typed["weekend_factor"])
    out = pd.DataFrame({
        "site_id": list(series),
        "peak_ratio": typed["peak_ratio"].to_numpy(),
        "load_factor": typed["load_factor"].to_numpy(),
        "peak_kw": extras["peak_kw"].to_numpy(),
        "mean_kw": extras["mean_kw"].to_numpy(),
        "weekend_factor": typed["weekend_factor"].to_numpy(),
        "day_night_ratio": typed["day_night_ratio"].to_numpy(),
        "evening_peak_factor": extras["evening_peak_factor"].to_numpy(),
        "monthly_cv": extras["monthly_cv"].to_numpy(),
        "is_weekday_dominant": weekday.astype(int),
        "is_peaky": peaky.astype(int),
        "is_baseload": baseload.astype(int),
        "pattern": typed["pattern"].to_numpy(),
        "notes": [_toolkit_notes(text) for text in typed["notes"]],
    })
    return out


def _toolkit_notes(notes: str) -> str:
    """The refusal reasons of the seed's features only (the typed API has more features)."""
    return "; ".join(n for n in notes.split("; ") if n.split(":")[0] in _TOOLKIT_FEATURES)


def _pence(prices_hh: ArrayLike | pd.Series) -> ArrayLike | pd.Series:
    """£/kWh prices as p/kWh: a Series on a DatetimeIndex keeps it (matched by time), anything
    else is taken in row order, as the seed did."""
    if isinstance(prices_hh, pd.Series) and isinstance(prices_hh.index, pd.DatetimeIndex):
        return prices_hh.astype(float) * PENCE_PER_POUND
    return np.asarray(prices_hh, dtype=float) * PENCE_PER_POUND


def calculate_flexibility_value(
    df_hh: pd.DataFrame | pd.Series,
    flex_fraction: float,
    prices_hh: ArrayLike | pd.Series,
    red_periods: ArrayLike | pd.Series | None = None,
    shift_energy: bool = True,
) -> dict[str, Any]:
    """The seed's dict (`value_gbp`, `value_percent`, ...) for the best use of `flex_fraction`
    of each UK day's energy; `prices_hh` in £/kWh per half hour (row order, or a Series on the
    profile's timestamps). `red_periods` (bool per half hour) limits shifting to out of those
    half hours and into the others. Red periods reported are those given, else the half hours
    that gave up energy; green ones are the rest."""
    given_red = None if red_periods is None else np.asarray(red_periods, dtype=bool)
    result = _typed_flexibility(df_hh, flex_fraction, _pence(prices_hh), shift_energy,
                                red_periods=given_red)
    load = _series(df_hh, "df_hh").to_numpy()
    flexed = result.flexed_profile.to_numpy()
    price = _typed_price(prices_hh, result.flexed_profile.index)
    red = given_red if given_red is not None else flexed < load - 1e-9
    return {
        "baseline_cost_gbp": result.base_cost_gbp,
        "flexible_cost_gbp": result.flexed_cost_gbp,
        "value_gbp": result.value_gbp,
        "value_percent": result.saving_pct if result.base_cost_gbp > 0 else 0.0,
        "energy_reduced_red_kwh": float(np.maximum(load - flexed, 0.0).sum()),
        "energy_added_green_kwh": float(np.maximum(flexed - load, 0.0).sum()),
        "energy_conserved": bool(shift_energy),
        "red_periods_count": int(red.sum()),
        "green_periods_count": int((~red).sum()),
        "avg_red_price": float(price[red].mean()) if red.any() else float("nan"),
        "avg_green_price": float(price[~red].mean()) if (~red).any() else float("nan"),
        "annual_value_gbp": result.annual_value_gbp,
        "power_limit_kw": result.power_limit_kw,
    }


def _typed_price(prices_hh: ArrayLike | pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """£/kWh per half hour aligned to the profile (the typed API's alignment, back in £)."""
    return aligned_prices(_pence(prices_hh), index) / PENCE_PER_POUND
