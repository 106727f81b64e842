"""Load-shape features on profiles whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.features import (
    FEATURES,
    FeatureError,
    autocorr_24h,
    autocorr_168h,
    create_features_dataframe,
    day_night_ratio,
    load_factor,
    peak_ratio,
    peak_time_h,
    profile_features,
    red_share,
    seasonal_ratio,
    weekend_factor,
)
from bess_duos.core.synthetic import ARCHETYPES, generate_profile, half_hour_index


def _profile(start: str, end: str, rule) -> pd.Series:
    """kWh per half hour from a function of the UK-clock local index."""
    index = half_hour_index(start, end)
    local = index.tz_convert("Europe/London")
    return pd.Series(np.asarray(rule(local), dtype=float), index=index)


def test_flat_profile_has_unit_ratios_and_refuses_autocorrelation():
    flat = _profile("2025-01-01", "2026-01-01", lambda t: np.full(len(t), 2.5))
    result = profile_features(flat)
    for name in ("peak_ratio", "load_factor", "weekend_factor", "day_night_ratio",
                 "base_load_ratio", "seasonal_ratio"):
        assert result.values[name] == pytest.approx(1.0, abs=1e-12), name
    assert load_factor(flat) == pytest.approx(1.0)
    assert peak_ratio(flat) == pytest.approx(1.0)
    with pytest.raises(FeatureError, match="autocorr_24h: profile is constant"):
        autocorr_24h(flat)
    assert "red_share" in result.reasons and np.isnan(result.values["red_share"])


def test_weekday_only_profile_has_weekend_factor_zero():
    weekday_only = _profile("2025-03-03", "2025-03-31", lambda t: (t.day_of_week < 5) * 4.0)
    assert weekend_factor(weekday_only) == 0.0
    # the weekend is read in UK clock time: a profile on Sat/Sun local days only gives inf->NaN
    weekend_only = _profile("2025-03-03", "2025-03-31", lambda t: (t.day_of_week >= 5) * 4.0)
    with pytest.raises(FeatureError, match="weekend_factor: no weekday consumption"):
        weekend_factor(weekend_only)


def test_scaled_profile_has_the_same_features():
    base = generate_profile("office", 400_000, "2025-01-01", seed=3)
    a = profile_features(base).as_series()
    b = profile_features(base * 7.3).as_series()
    pd.testing.assert_series_equal(a, b, rtol=1e-12)
    assert profile_features(base * 7.3).pattern == "office/commercial"


def test_day_night_and_peak_time_in_clock_time_across_the_clock_change():
    # 3 kWh per half hour 07:00-23:00 clock time, 1 at night; peak 17:30-18:00 clock time
    def rule(t):
        hour = t.hour + t.minute / 60
        base = np.where((hour >= 7) & (hour < 23), 3.0, 1.0)
        return base + 2.0 * ((t.hour == 17) & (t.minute == 30))

    p = _profile("2025-03-24", "2025-04-07", rule)  # includes 30 March (46 half hours)
    days = 14
    day_mean = (3.0 * 32 * days + 2.0 * days) / (32 * days)
    assert day_night_ratio(p) == pytest.approx(day_mean / 1.0)
    assert peak_time_h(p) == 17.5  # not 16.5: BST is read as clock time
    assert profile_features(p).peak_time == "17:30"


def test_seasonal_ratio_is_winter_over_summer_mean():
    p = _profile("2025-01-01", "2026-01-01",
                 lambda t: np.select([t.month.isin([11, 12, 1, 2]), t.month.isin([5, 6, 7, 8])],
                                     [3.0, 1.5], 2.0))
    assert seasonal_ratio(p) == pytest.approx(2.0)
    short = p["2025-05-01":"2025-06-30"]
    with pytest.raises(FeatureError, match="seasonal_ratio: needs 7 days in both winter"):
        seasonal_ratio(short)


def test_red_share_counts_red_band_energy():
    p = _profile("2025-06-02", "2025-06-09", lambda t: 1.0 + (t.hour >= 12))
    local = p.index.tz_convert("Europe/London")
    bands = np.where((local.hour >= 16) & (local.hour < 19), "red", "green")
    # per day: red 6 half hours x 2 kWh = 12; total 24 x 1 + 24 x 2 = 72
    assert red_share(p, bands) == pytest.approx(12 / 72)
    with pytest.raises(FeatureError, match="bands have 10 entries"):
        red_share(p, bands[:10])


def test_autocorrelations_of_a_periodic_profile_and_short_profiles():
    # a zero-mean daily sine: r_k = (n - k) / n exactly, for k a multiple of the period
    p = _profile("2025-06-02", "2025-06-30",
                 lambda t: 5 + np.sin(2 * np.pi * (t.hour * 2 + t.minute // 30) / 48))
    n = len(p)
    assert autocorr_24h(p) == pytest.approx((n - 48) / n, rel=1e-9)
    assert autocorr_168h(p) == pytest.approx((n - 336) / n, rel=1e-9)
    ten_days = p.iloc[: 48 * 10]
    with pytest.raises(FeatureError, match=r"autocorr_168h: needs at least 2 weeks"):
        autocorr_168h(ten_days)
    result = profile_features(p.iloc[:40])
    assert set(result.reasons) == set(FEATURES)
    assert "needs at least one day" in result.reasons["peak_ratio"]


def test_bad_profiles_are_refused_naming_the_profile():
    p = _profile("2025-06-02", "2025-06-09", lambda t: np.ones(len(t)))
    with pytest.raises(FeatureError, match="tz-aware"):
        profile_features(p.tz_localize(None))
    with pytest.raises(FeatureError, match="regular and sorted"):
        profile_features(p.drop(p.index[5]))
    q = p.copy()
    q.iloc[3] = np.nan
    with pytest.raises(FeatureError, match="not a finite number"):
        profile_features(q)


def test_features_dataframe_matches_single_profiles_and_labels_archetypes():
    profiles = {name: generate_profile(name, 250_000, "2025-01-01", seed=1) for name in ARCHETYPES}
    profiles["short office"] = generate_profile("office", 250_000, "2025-03-03", "2025-03-13")
    frame = create_features_dataframe(profiles)
    assert list(frame.index) == list(profiles)
    for site, profile in profiles.items():
        single = profile_features(profile)
        np.testing.assert_allclose(frame.loc[site, list(FEATURES)].to_numpy(dtype=float),
                                   single.as_series()[list(FEATURES)].to_numpy(), rtol=1e-12)
        assert frame.loc[site, "pattern"] == single.pattern
    assert frame["pattern"].to_dict() == {
        "office": "office/commercial",
        "retail": "daytime 7-day (retail-like)",
        "school": "office/commercial",
        "industrial_24_7": "24/7 industrial",
        "domestic": "domestic-like",
        "ev_depot": "night load (e.g. EV depot)",
        "short office": "office/commercial",
    }
    assert "autocorr_168h: needs at least 2 weeks" in frame.loc["short office", "notes"]
    assert np.isnan(frame.loc["short office", "seasonal_ratio"])


def test_features_dataframe_with_shared_bands():
    a = _profile("2025-06-02", "2025-06-09", lambda t: 1.0 + (t.hour >= 12))
    local = a.index.tz_convert("Europe/London")
    bands = np.where((local.hour >= 16) & (local.hour < 19), "red", "green")
    frame = create_features_dataframe({"a": a, "b": a * 2}, bands=bands)
    assert frame["red_share"].tolist() == pytest.approx([12 / 72, 12 / 72])


def test_features_cli_prints_values_and_reasons(tmp_path, capsys):
    import json

    from bess_duos.webhook.cli import main

    p = generate_profile("ev_depot", 100_000, "2025-06-02", "2025-06-12", seed=1)
    path = tmp_path / "p.csv"
    pd.DataFrame({"timestamp": p.index.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                  "kwh": p.to_numpy()}).to_csv(path, index=False)
    assert main(["profile", "features", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["pattern"] == "night load (e.g. EV depot)"
    assert shown["features"]["autocorr_168h"] is None
    assert "needs at least 2 weeks" in shown["refused"]["autocorr_168h"]
    assert shown["features"]["load_factor"] == pytest.approx(load_factor(p), abs=1e-6)


def test_real_building_profile(reference_data):
    """Cambridge Estates building b0, 2019 (hourly, UTC): refused as hourly, then split."""
    name = "UCam_Building_b0_electricity_2019_hourly_kwh.csv"
    path = reference_data / "profiles" / "cambridge_estates" / name
    raw = pd.read_csv(path)
    hourly = pd.Series(raw.iloc[:, 1].to_numpy(float),
                       index=pd.DatetimeIndex(pd.to_datetime(raw["datetime"])).tz_localize("UTC"))
    with pytest.raises(FeatureError, match="hourly, not half-hourly"):
        profile_features(hourly)
    full = hourly.asfreq("h")
    assert full.isna().sum() == 0  # the published year has no gaps
    half = pd.Series(np.repeat(full.to_numpy() / 2, 2),
                     index=pd.date_range(full.index[0], periods=2 * len(full), freq="30min"))
    result = profile_features(half)
    assert half.sum() == pytest.approx(hourly.sum())
    assert set(result.reasons) == {"red_share"}
    assert 0 < result.values["load_factor"] < 1
    assert result.values["peak_ratio"] == pytest.approx(1 / result.values["load_factor"])
    # a university building used at weekends too (weekend factor ~0.78 >= 0.7, day/night
    # ~1.38 >= 1.3) with its peak at 16:00 clock time: rule 6 of PATTERN_RULES
    assert result.peak_time == "16:00"
    assert result.pattern == "daytime 7-day (retail-like)"


def test_chunked_stacking_gives_the_same_frame(monkeypatch):
    import bess_duos.core.features as features

    profiles = {f"s{i}": generate_profile(name, 1_000 * (i + 1), "2025-01-06", "2025-02-03",
                                          seed=i) for i, name in enumerate(ARCHETYPES)}
    whole = create_features_dataframe(profiles)
    monkeypatch.setattr(features, "CHUNK_SITES", 4)
    pd.testing.assert_frame_equal(create_features_dataframe(profiles), whole)
