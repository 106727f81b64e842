"""`feature_rows` (the portfolio's batch features: profiles of one index as arrays, every
band set's red mask read by its rows) against `create_features_dataframe` of each band
group's profiles (the path it replaced) and `profile_features` of each site alone, on seeded
random profiles: several band sets, rows past one chunk, zero and constant profiles, short
spans, clock changes, a UK-zoned index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.features import (
    CHUNK_SITES,
    FEATURES,
    FeatureError,
    create_features_dataframe,
    feature_rows,
    profile_features,
)

SPANS = [
    ("2025-04-01 00:00", 17_520, "UTC"),
    ("2024-01-01 00:00", 17_568, "Europe/London"),
    ("2025-03-29 13:30", 480, "UTC"),
    ("2025-06-02 05:00", 100, "UTC"),
    ("2025-06-02 00:00", 40, "UTC"),
]


def _frame(rows, index, sites, red=None, red_of_row=None) -> pd.DataFrame:
    return feature_rows(rows, index, sites, red, red_of_row).frame(sites)


def _profiles(rng: np.random.Generator, start: str, n: int, zone: str, sites: int
              ) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq="30min")
    t = np.arange(n)
    rows = {}
    for i in range(sites):
        shape = 1.0 + 0.8 * np.sin(2 * np.pi * (t % 48) / 48 + rng.uniform(0, 6)) ** 2
        kwh = shape * rng.lognormal(0.0, rng.uniform(0.05, 1.0), n) * rng.uniform(0.1, 1e4)
        kwh[rng.random(n) < rng.uniform(0, 0.2)] = 0.0
        if i % 11 == 3:
            kwh[:] = 0.0  # refused ratios
        elif i % 11 == 7:
            kwh[:] = 2.5  # constant: no autocorrelation
        rows[f"s{i:03d}"] = kwh
    return index.tz_convert(zone), rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_feature_rows_equal_the_band_groups_and_each_site_alone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for start, n, zone in SPANS:
        sites = CHUNK_SITES + 17 if n > 1000 else 23
        index, rows = _profiles(rng, start, n, zone, sites)
        red = rng.random((3, n)) < rng.uniform(0.05, 0.3, (3, 1))  # three band sets
        codes = rng.integers(0, 3, sites)
        got = _frame(list(rows.values()), index, list(rows), red, codes)
        assert list(got.index) == list(rows)
        assert list(got.columns) == [*FEATURES, "pattern", "notes"]
        for k in range(3):
            members = [s for s, c in zip(rows, codes, strict=True) if c == k]
            names = np.where(red[k], "red", "green")
            want = create_features_dataframe(
                {s: pd.Series(rows[s], index=index) for s in members}, names)
            np.testing.assert_allclose(got.loc[members, list(FEATURES)].to_numpy(float),
                                       want[list(FEATURES)].to_numpy(float),
                                       rtol=1e-12, atol=0, equal_nan=True)
            assert got.loc[members, "pattern"].tolist() == want["pattern"].tolist()
            assert got.loc[members, "notes"].tolist() == want["notes"].tolist()
            for site in members[:4]:
                alone = profile_features(pd.Series(rows[site], index=index), names)
                np.testing.assert_allclose(
                    got.loc[site, list(FEATURES)].to_numpy(float),
                    alone.as_series()[list(FEATURES)].to_numpy(), rtol=1e-12, atol=0)
                assert got.loc[site, "pattern"] == alone.pattern


def test_feature_rows_without_bands_refuses_red_share_as_the_frame_does() -> None:
    index, rows = _profiles(np.random.default_rng(9), "2025-04-01 00:00", 48 * 30, "UTC", 3)
    got = _frame(list(rows.values()), index, list(rows))
    want = create_features_dataframe({s: pd.Series(v, index=index) for s, v in rows.items()})
    pd.testing.assert_frame_equal(got, want)
    assert got["red_share"].isna().all()


def test_feature_rows_says_what_is_wrong() -> None:
    index, rows = _profiles(np.random.default_rng(4), "2025-04-01 00:00", 96, "UTC", 2)
    values = list(rows.values())
    values[1] = values[1].copy()
    values[1][5] = np.nan
    with pytest.raises(FeatureError, match=r"'s001'.*NaN"):
        _frame(values, index, list(rows))
    with pytest.raises(FeatureError, match="'s001': 95 kWh values for 96"):
        _frame([values[0], values[0][:95]], index, list(rows))
    with pytest.raises(FeatureError, match="bands have 95 entries, the profile 96"):
        _frame(values[:1], index, ["s000"], np.ones((1, 95), bool), [0])
    with pytest.raises(FeatureError, match="tz-aware"):
        _frame(values[:1], index.tz_localize(None), ["s000"])
    with pytest.raises(ValueError, match="one of the 1 band masks per row"):
        _frame(values[:1], index, ["s000"], np.ones((1, 96), bool), [1])


def test_portfolio_groups_sites_by_their_grid_whatever_the_index_objects() -> None:
    from types import SimpleNamespace

    from bess_duos.core.portfolio import _by_grid

    index = pd.date_range("2025-04-01", periods=96, freq="30min", tz="UTC")
    later = pd.date_range("2025-04-02", periods=96, freq="30min", tz="UTC")
    gappy = index.delete(5)

    def site(times: pd.DatetimeIndex) -> SimpleNamespace:
        series = pd.Series(np.ones(len(times)), index=times)
        return SimpleNamespace(valued=SimpleNamespace(kwh=series))

    sites = [site(index), site(later), site(index.copy(deep=True)),
             site(pd.DatetimeIndex(index)), site(gappy), site(gappy.copy()),
             site(gappy.copy(deep=True)), site(index.tz_convert("Europe/London")),
             site(index.as_unit("us")), site(later[:95])]
    position = {id(s): i for i, s in enumerate(sites)}
    groups = [[position[id(s)] for s in group] for group in _by_grid(sites)]
    # the same times: one group (a gap: only views of one array, each other array alone)
    assert groups == [[0, 2, 3, 8], [1], [4, 5], [6], [7], [9]]


def _site(site_id: str, kwh: np.ndarray, index: pd.DatetimeIndex, bands: np.ndarray):
    from types import SimpleNamespace

    return SimpleNamespace(site_id=site_id, valued=SimpleNamespace(
        kwh=pd.Series(kwh, index=index), bands=bands))


@pytest.mark.parametrize("seed", [1, 2])
def test_portfolio_features_in_site_order_and_a_broken_site_alone(seed: int) -> None:
    """Sites of two grids and three band sets come back in their own order, each row what
    the site alone gives; a site whose kWh cannot be read fails alone (stage features)."""
    from bess_duos.core.portfolio import _features
    from bess_duos.core.timebands import BANDS

    rng = np.random.default_rng(seed)
    first, rows_a = _profiles(rng, "2025-04-01 00:00", 48 * 20, "UTC", 6)
    second, rows_b = _profiles(rng, "2025-06-01 00:00", 48 * 20, "UTC", 5)
    band_sets = [rng.integers(0, 3, len(first)).astype(np.int8) for _ in range(3)]
    sites = []
    for i in rng.permutation(11):
        index, rows = (first, rows_a) if i < 6 else (second, rows_b)
        kwh = list(rows.values())[i if i < 6 else i - 6]
        sites.append(_site(f"x{i:02d}", kwh, index, band_sets[i % 3]))
    rows, failures = _features(sites)
    assert failures == [] and len(rows) == len(sites)
    broken = sites[int(rng.integers(len(sites)))]
    broken.valued.kwh.iloc[7] = np.nan
    got, failures = _features(sites)
    assert [(s.site_id, stage) for s, stage, _ in failures] == [(broken.site_id, "features")]
    assert "not a finite number" in failures[0][2]
    kept = [s for s in sites if s is not broken]
    assert len(got) == len(kept)
    for i, site in enumerate(kept):
        alone = create_features_dataframe({site.site_id: site.valued.kwh},
                                          np.asarray(BANDS)[site.valued.bands])
        np.testing.assert_allclose(got.values[i], alone[list(FEATURES)].to_numpy(float)[0],
                                   rtol=1e-12, atol=0, equal_nan=True)
        assert got.pattern[i] == alone["pattern"].iloc[0]
        assert got.notes[i] == alone["notes"].iloc[0]
        if site.site_id != broken.site_id:  # and equal to the rows of the batch without it
            j = [s.site_id for s in sites].index(site.site_id)
            np.testing.assert_allclose(got.values[i], rows.values[j], rtol=1e-12, atol=0,
                                       equal_nan=True)
