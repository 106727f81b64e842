"""A FlexibilityResult's flexed profile is made a Series when first read: the figures do not
depend on it, and when read it is the Series the brute-force reference gives."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.flexibility import (
    FlexibilityResult,
    plan_flexibility,
    plan_flexibility_many,
)
from test_flexibility_fast import assert_same, reference


def _sites(seed: int, n_sites: int = 6) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Random loads (a few negative half hours) and prices over 9 days spanning a clock
    change (days of 50 half hours)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-10-22", "2025-10-31", freq="30min", tz="UTC", inclusive="left")
    loads = rng.gamma(2.0, 3.0, (n_sites, index.size)) * rng.uniform(0.5, 20.0, (n_sites, 1))
    loads[rng.random(loads.shape) < 0.02] *= -0.3
    prices = rng.choice([0.4, 3.1, 25.3, 7.7], size=index.size) + rng.integers(0, 2, index.size)
    return index, loads, prices


@pytest.mark.parametrize("seed", range(4))
def test_read_profile_and_figures_equal_the_reference(seed: int) -> None:
    index, loads, prices = _sites(seed)
    share = 0.1 + 0.2 * seed
    results = plan_flexibility_many(loads, prices, index, published_rates=True).value(share)
    for site, got in enumerate(results):
        series = pd.Series(loads[site], index=index)
        want = reference(series, prices, share)
        assert_same(got, want, (seed, site))  # reads the profile: made now
        # The flexed cost was summed before the Series existed: it is the Series' own cost.
        assert got.flexed_cost_gbp == float(got.flexed_profile.to_numpy() @ prices) / 100.0
        assert got.flexed_profile is got.flexed_profile  # made once, then kept
    single = plan_flexibility(pd.Series(loads[0], index=index), prices,
                              published_rates=True).value(share)
    assert_same(single, reference(pd.Series(loads[0], index=index), prices, share), seed)


def test_unread_profile_survives_pickle_replace_and_equality() -> None:
    index, loads, prices = _sites(7, n_sites=2)
    first, second = plan_flexibility_many(loads, prices, index, published_rates=True).value(0.3)
    copied = pickle.loads(pickle.dumps(first))  # not read yet: pickled as kWh + index
    assert_same(copied, first, "pickled")
    changed = dataclasses.replace(second, annual_value_gbp=None)
    assert changed.annual_value_gbp is None
    pd.testing.assert_series_equal(changed.flexed_profile, second.flexed_profile)
    assert changed.flexed_profile.name == "kwh" and changed.flexed_profile.index.equals(index)
    assert not np.array_equal(first.flexed_profile.to_numpy(), loads[0])  # energy moved
    assert "flexed_profile=" in repr(first)


def test_a_given_series_is_kept_and_the_field_is_required() -> None:
    profile = pd.Series([1.0, 2.0], name="kwh")
    result = FlexibilityResult(1.0, 10.0, 10.0, 9.0, 0.5, 365.0, 4.0, profile)
    assert result.flexed_profile is profile
    with pytest.raises(TypeError, match="flexed_profile"):
        FlexibilityResult(1.0, 10.0, 10.0, 9.0, 0.5, 365.0, 4.0)  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.flexed_profile = profile  # type: ignore[misc]
