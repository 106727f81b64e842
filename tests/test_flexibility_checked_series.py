"""`core.features.checked_kwh_series` (plan_flexibility's check of its profile) against the
two calls it stands for, `validate_profile(kwh_series(df), "df")`, on varied seeded inputs:
the same Series (values, index, zone, name, freq) or the same error."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.features import checked_kwh_series, kwh_series, validate_profile
from bess_duos.core.flexibility import plan_flexibility

HALF_HOUR = pd.Timedelta(minutes=30)


def _outcome(call, df):
    try:
        return call(df)
    except Exception as exc:  # the error is the outcome compared
        return exc


def _reference(df):
    return validate_profile(kwh_series(df), "df")


def _profiles(seed: int) -> list[pd.Series | pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    start = pd.Timestamp("2025-03-29", tz="UTC") + int(rng.integers(0, 96)) * HALF_HOUR
    index = pd.date_range(start, periods=n, freq="30min", name=str(rng.choice(["t", "x"])))
    values = rng.gamma(2.0, 3.0, n)
    cases: list[pd.Series | pd.DataFrame] = [
        pd.Series(values, index=index, name="kwh"),
        pd.Series(values, index=pd.DatetimeIndex(index.asi8, tz="UTC"), name=None),
        pd.Series(values, index=index.tz_convert(zoneinfo.ZoneInfo("UTC")), name="load"),
        pd.Series(values, index=index.tz_convert(dt.UTC)),
        pd.Series(values, index=index.tz_convert("Europe/London"), name="kwh"),
        pd.Series(values, index=index.as_unit("s"), name="kwh"),
        pd.Series(values.astype(np.float32), index=index, name="kwh"),
        pd.Series(np.round(values).astype(np.int64), index=index, name="kwh"),
        pd.Series(values, index=index.tz_localize(None), name="kwh"),
        pd.DataFrame({"kwh": values}, index=index),
    ]
    bad = values.copy()
    bad[int(rng.integers(0, n))] = rng.choice([np.nan, np.inf, -np.inf])
    cases.append(pd.Series(bad, index=index, name="kwh"))
    if n > 2:
        gap = index.delete(int(rng.integers(1, n - 1)))
        cases.append(pd.Series(values[:-1], index=gap, name="kwh"))
        cases.append(pd.Series(values, index=index[::-1], name="kwh"))
        hourly = pd.date_range(start, periods=n, freq="60min")
        cases.append(pd.Series(values, index=hourly, name="kwh"))
    cases.append(pd.Series(values[:0], index=index[:0], name="kwh"))
    return cases


@pytest.mark.parametrize("seed", range(12))
def test_checked_series_is_validate_of_kwh_series(seed: int) -> None:
    for df in _profiles(seed):
        want, got = _outcome(_reference, df), _outcome(checked_kwh_series, df)
        if isinstance(want, Exception):
            assert type(got) is type(want) and str(got) == str(want)
            continue
        pd.testing.assert_series_equal(got, want, check_exact=True, check_freq=True)
        assert got.index.name == want.index.name and got.index.freq == want.index.freq
        assert str(got.index.tz) == str(want.index.tz) == "UTC"


def test_plan_on_a_loaded_profile_is_the_plan_on_the_checked_series() -> None:
    """The fast path's plan and value are those of the reference Series (checked by the two
    calls): the same result, bit for bit, and the flexed profile on the same index."""
    rng = np.random.default_rng(7)
    index = pd.date_range("2025-03-01", periods=48 * 60, freq="30min", tz="UTC",
                          name="timestamp_utc")
    kwh = pd.Series(rng.gamma(2.0, 3.0, index.size), index=index, name="kwh")
    prices = pd.Series(rng.choice([1.2, 4.5, 17.0], index.size), index=index)
    for share in (0.0, 0.15, 0.3, 1.0):
        got = plan_flexibility(kwh, prices, published_rates=True).value(share)
        want = plan_flexibility(kwh.to_frame(), prices, published_rates=True).value(share)
        assert (got.value_gbp, got.shifted_kwh, got.base_cost_gbp, got.flexed_cost_gbp) == (
            want.value_gbp, want.shifted_kwh, want.base_cost_gbp, want.flexed_cost_gbp)
        pd.testing.assert_series_equal(got.flexed_profile, want.flexed_profile,
                                       check_exact=True, check_freq=True)
