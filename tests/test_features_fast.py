"""The fast feature paths against straightforward references written from the definitions
(docs/analytics.md), on seeded random profiles: clock-change days, partial days, short and
multi-year profiles, UTC and UK-zoned indexes, zeros and constants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.features import (
    FEATURES,
    PATTERN_RULES,
    UNLABELLED,
    _band_mask,
    _pattern_of,
    create_features_dataframe,
    evening_peak_factor,
    feature_matrix,
    pattern_labels,
    percentile_rows,
    profile_features,
    uk_clock,
)


def reference_features(p: pd.Series, bands: np.ndarray | None = None) -> dict[str, float]:
    """Every feature by its definition, read with pandas' own Europe/London conversion."""
    x = p.to_numpy(dtype=float)
    n = len(x)
    local = p.index.tz_convert("Europe/London")
    hour = np.asarray(local.hour + local.minute / 60)
    weekend = np.asarray(local.day_of_week >= 5)
    month = np.asarray(local.month)
    day = (hour >= 7) & (hour < 23)
    winter, summer = np.isin(month, [11, 12, 1, 2]), np.isin(month, [5, 6, 7, 8])
    nan = float("nan")

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else nan

    def mean_in(mask: np.ndarray) -> float:
        return x[mask].mean() if mask.any() else nan

    mean, peak = x.mean(), x.max()
    out = dict.fromkeys(FEATURES, nan)
    if n >= 48:
        out["peak_ratio"] = ratio(peak, mean)
        out["load_factor"] = ratio(mean, peak)
        out["base_load_ratio"] = ratio(np.percentile(x, 5), mean)
        out["day_night_ratio"] = ratio(mean_in(day), mean_in(~day))
        slot = local.hour * 2 + local.minute // 30
        by_slot = pd.Series(x).groupby(np.asarray(slot)).mean()
        if len(by_slot) == 48:
            out["peak_time_h"] = by_slot.idxmax() / 2
    if (~weekend).sum() >= 48 and weekend.sum() >= 48:
        out["weekend_factor"] = ratio(mean_in(weekend), mean_in(~weekend))
    if bands is not None:
        red = np.array([str(b).lower() == "red" for b in bands])
        out["red_share"] = ratio(x[red].sum(), x.sum())
    if winter.sum() >= 336 and summer.sum() >= 336:
        out["seasonal_ratio"] = ratio(mean_in(winter), mean_in(summer))
    xc = x - mean
    constant = bool((x == x[0]).all())
    for name, lag in (("autocorr_24h", 48), ("autocorr_168h", 336)):
        if n >= 2 * lag and not constant:
            out[name] = float(np.sum(xc[:-lag] * xc[lag:]) / np.sum(xc * xc))
    return out


def reference_pattern(lf: float, wf: float, dn: float, pt: float) -> str:
    """The first rule of PATTERN_RULES that holds, written out one by one."""
    if any(np.isnan(v) for v in (lf, wf, dn, pt)):
        return UNLABELLED
    if lf >= 0.6 and wf >= 0.8 and 0.8 <= dn <= 1.25:
        return PATTERN_RULES[0][0]
    if dn < 0.8:
        return PATTERN_RULES[1][0]
    if wf < 0.7 and dn >= 1.3 and 7 <= pt < 17:
        return PATTERN_RULES[2][0]
    if 17 <= pt < 22 and wf >= 0.9:
        return PATTERN_RULES[3][0]
    if 17 <= pt < 22:
        return PATTERN_RULES[4][0]
    if wf >= 0.7 and dn >= 1.3 and 7 <= pt < 17:
        return PATTERN_RULES[5][0]
    return "mixed"


# (start, half hours, zone of the index): clock changes, partial days, short and long spans
SPANS = [
    ("2025-03-29 13:30", 480, "UTC"),  # 46-half-hour day (30 March)
    ("2025-10-20 07:00", 48 * 15, "UTC"),  # 50-half-hour day (26 October)
    ("2025-04-01 00:00", 17_520, "UTC"),
    ("2024-01-01 00:00", 17_568, "Europe/London"),  # leap year, UK-zoned index
    ("2023-06-15 23:30", 48 * 800, "UTC"),  # several clock changes
    ("2025-06-02 00:00", 40, "UTC"),  # under a day: most features refused
    ("2025-06-02 05:00", 100, "UTC"),  # two days: no full weekend, 24 h lag only
    ("2025-12-01 00:00", 48 * 9, "UTC"),
]


def _random_profile(rng: np.random.Generator, start: str, n: int, zone: str) -> pd.Series:
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq="30min")
    t = np.arange(n)
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * (t % 48) / 48 + rng.uniform(0, 6)) ** 2
    kwh = shape * rng.lognormal(0.0, rng.uniform(0.05, 1.0), n) * rng.uniform(0.1, 1e4)
    kwh[rng.random(n) < rng.uniform(0, 0.2)] = 0.0  # some empty half hours
    return pd.Series(kwh, index=index.tz_convert(zone))


def _cases(seed: int) -> list[pd.Series]:
    rng = np.random.default_rng(seed)
    cases = [_random_profile(rng, *span) for span in SPANS]
    year = cases[2]
    # the year is summed mostly as runs of whole clock days; the rest: 1 April from 01:00 BST
    # (46), 26 October (50), 29 March (46), 30-31 March (a run under a week), 1 April 00:00-01:00
    assert uk_clock(year.index).groups.rest.size == 46 + 50 + 46 + 96 + 2
    constant = pd.Series(3.25, index=year.index)
    night_only = year.where(year.index.tz_convert("Europe/London").hour < 6, 0.0)
    weekday_only = year.where(year.index.tz_convert("Europe/London").day_of_week < 5, 0.0)
    return [*cases, constant, night_only, weekday_only, year * 0.0]


def _assert_matches(got: dict[str, float], want: dict[str, float], label: str) -> None:
    for name in FEATURES:
        if np.isnan(want[name]):
            assert np.isnan(got[name]), (label, name, got[name])
        elif name == "peak_time_h":
            assert got[name] == want[name], (label, name)
        else:
            assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), (label, name)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_profile_features_match_the_definitions(seed):
    for i, profile in enumerate(_cases(seed)):
        got = profile_features(profile)
        want = reference_features(profile)
        _assert_matches(got.values, want, f"case {i}")
        assert set(got.reasons) == {n for n in FEATURES if np.isnan(want[n])}, i
        lf, wf, dn, pt = (want[n] for n in ("load_factor", "weekend_factor",
                                            "day_night_ratio", "peak_time_h"))
        assert got.pattern == reference_pattern(lf, wf, dn, pt), i


def test_red_share_with_mixed_case_band_names_matches_the_definition():
    rng = np.random.default_rng(7)
    profile = _random_profile(rng, "2025-03-25 10:00", 48 * 20, "UTC")
    names = np.array(["red", "amber", "green", "Red", "RED", "Green", "yellow"])
    bands = names[rng.integers(0, len(names), len(profile))]
    want = reference_features(profile, bands)["red_share"]
    for given in (bands, bands.astype(object), pd.Categorical(bands), list(bands)):
        assert profile_features(profile, given).values["red_share"] == pytest.approx(
            want, rel=1e-12)
    stacked = np.vstack([bands, bands[::-1]])
    assert (_band_mask(stacked, len(profile), "bands")
            == (np.char.lower(stacked.astype(str)) == "red")).all()


@pytest.mark.parametrize("seed", [4, 5])
def test_batch_matches_single_profiles_and_notes(seed):
    rng = np.random.default_rng(seed)
    for start, n, zone in SPANS:
        base = _random_profile(rng, start, n, zone)
        profiles = {f"s{i}": pd.Series(base.to_numpy() * rng.lognormal(0, 0.5, n)
                                        * (i % 5 != 0), index=base.index) for i in range(12)}
        bands = np.where(rng.random(n) < 0.2, "red", "green")
        frame = create_features_dataframe(profiles, bands)
        assert list(frame.index) == list(profiles)
        for site, profile in profiles.items():
            single = profile_features(profile, bands)
            np.testing.assert_allclose(frame.loc[site, list(FEATURES)].to_numpy(dtype=float),
                                       single.as_series()[list(FEATURES)].to_numpy(),
                                       rtol=1e-12, atol=0)
            assert frame.loc[site, "pattern"] == single.pattern
            assert frame.loc[site, "notes"] == "; ".join(
                single.reasons[f] for f in FEATURES if f in single.reasons)


def test_feature_matrix_keeps_its_reasons_per_site():
    rng = np.random.default_rng(11)
    profile = _random_profile(rng, "2025-06-02 00:00", 48 * 4, "UTC")
    x = np.vstack([profile.to_numpy(), np.zeros(len(profile))])
    values, why = feature_matrix(x, uk_clock(profile.index))
    assert why["peak_ratio"] == [None, "peak_ratio: mean demand is zero"]
    assert why["seasonal_ratio"][0].startswith("seasonal_ratio: needs 7 days")
    assert np.isnan(values["peak_ratio"][1]) and np.isfinite(values["peak_ratio"][0])


@pytest.mark.parametrize("seed", range(3))
def test_percentile_rows_equals_numpy_percentile_exactly(seed):
    rng = np.random.default_rng(seed)
    for n in [1, 2, 3, 20, 21, 47, 48, 49, 100, 337, 17_519, 17_520, 17_568]:
        x = rng.lognormal(0, 1, (3, n))
        x[1] = np.round(x[1], 1)  # ties
        x[2] -= 1.0  # negative values
        for q in (0.0, 5.0, 12.5, 50.0, 95.0, 100.0, rng.uniform(0, 100)):
            assert np.array_equal(percentile_rows(x, q), np.percentile(x, q, axis=1)), (n, q)


def test_pattern_of_arrays_matches_the_rules_on_the_boundaries():
    grid = {
        "lf": [np.nan, 0.59, 0.6, 0.9],
        "wf": [np.nan, 0.69, 0.7, 0.79, 0.8, 0.89, 0.9, 1.2],
        "dn": [np.nan, 0.79, 0.8, 1.0, 1.25, 1.26, 1.29, 1.3, 2.0],
        "pt": [np.nan, 0.0, 6.5, 7.0, 12.0, 16.5, 17.0, 21.5, 22.0, 23.5],
    }
    lf, wf, dn, pt = (a.ravel() for a in np.meshgrid(*grid.values(), indexing="ij"))
    got = _pattern_of(lf, wf, dn, pt)
    want = [reference_pattern(*v) for v in zip(lf, wf, dn, pt, strict=True)]
    assert got.tolist() == want
    frame = pd.DataFrame({"load_factor": lf, "weekend_factor": wf, "day_night_ratio": dn,
                          "peak_time_h": pt})
    assert pattern_labels(frame).tolist() == want


def test_evening_peak_factor_matches_the_definition():
    rng = np.random.default_rng(3)
    profile = _random_profile(rng, "2025-10-20 07:00", 48 * 15, "Europe/London")
    local = profile.index.tz_convert("Europe/London")
    hour = local.hour + local.minute / 60
    x = profile.to_numpy()
    want = x[(hour >= 16) & (hour < 19)].mean() / x.mean()
    assert evening_peak_factor(profile) == pytest.approx(want, rel=1e-12)


def test_clock_day_codes_and_positions_match_pandas():
    rng = np.random.default_rng(9)
    grid = pd.date_range("2025-03-28 22:00", periods=48 * 220, freq="30min", tz="UTC")
    scattered = grid[np.sort(rng.choice(len(grid), 3000, replace=False))]
    for index in (grid, scattered):
        clock = uk_clock(index)
        local_day = pd.Series(index.tz_convert("Europe/London").normalize())
        assert (clock.day_code == pd.factorize(local_day)[0]).all()
        assert (clock.day_pos == local_day.groupby(local_day).cumcount().to_numpy()).all()


@pytest.mark.parametrize("seed", [11, 12])
def test_only_some_features_are_the_same_bits_as_all(seed):
    """`profile_features(..., only=...)` (the sheet's three, or a random subset) gives each
    feature and reason exactly as the full computation does."""
    rng = np.random.default_rng(seed)
    subsets = [("peak_ratio", "load_factor", "weekend_factor"), ("base_load_ratio",),
               ("autocorr_168h", "day_night_ratio"), ("load_factor", "weekend_factor",
                                                       "day_night_ratio", "peak_time_h")]
    subsets += [tuple(rng.choice(FEATURES, size=k, replace=False)) for k in (2, 4, 6)]
    for i, profile in enumerate(_cases(seed)):
        bands = np.where(rng.random(len(profile)) < 0.3, "red", "green")
        for given in (None, bands):
            full = profile_features(profile, given)
            for names in subsets:
                part = profile_features(profile, given, only=names)
                assert list(part.values) == list(names)
                for name in names:  # bit for bit, NaN where refused
                    np.testing.assert_array_equal(part.values[name], full.values[name],
                                                  err_msg=f"case {i} {name}")
                assert part.reasons == {n: full.reasons[n] for n in names if n in full.reasons}
                labelled = {"load_factor", "weekend_factor", "day_night_ratio",
                            "peak_time_h"} <= set(names)
                assert part.pattern == (full.pattern if labelled else UNLABELLED)
    with pytest.raises(ValueError, match="unknown feature"):
        profile_features(_cases(seed)[0], only=("peak_ratio", "peak"))
