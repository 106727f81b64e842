"""The portfolio reads the sites of a keyed Parquet file all at once where their times are
regular (`core.profiles.load_sliced_profiles`), and each other site alone as before: every
site gets exactly the profile, warnings or error `read_profile` gives of its own rows. Each
case is a seeded random file of several sites, clean ones and awkward ones (gaps, duplicates,
unsorted or off-grid times, hourly steps, blanks, null times, years out of range, kW, kvarh,
whole numbers, naive or other-zone times, interleaved rows, null or unwanted site ids)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import portfolio, profiles
from bess_duos.core.profile_loader import read_profile
from bess_duos.core.profiles import Profile

from tests.keyed_reference import read_keyed
from tests.profile_outcomes import assert_same, outcome

CASES = 60
HALF_HOUR = pd.Timedelta(minutes=30)


def _site_rows(rng: np.random.Generator, starts: list[pd.Timestamp]) -> pd.DataFrame:
    """One site's rows: mostly a regular half-hourly run, often awkward."""
    n = int(rng.integers(1, 200))
    start = starts[rng.integers(len(starts))] if rng.random() < 0.6 else (
        pd.Timestamp("2025-01-01", tz="UTC") + int(rng.integers(0, 20_000)) * HALF_HOUR)
    step = HALF_HOUR if rng.random() < 0.9 else pd.Timedelta(minutes=60)
    times = pd.Series(pd.date_range(start, periods=n, freq=step))
    kwh = rng.lognormal(0.0, 1.0, n)
    twist = rng.random()
    if twist < 0.06 and n > 3:  # a gap
        keep = np.ones(n, bool)
        keep[rng.integers(1, n - 1)] = False
        times, kwh = times[keep].reset_index(drop=True), kwh[keep]
    elif twist < 0.12 and n > 1:  # a repeated row
        times = pd.concat([times, times.iloc[:1]], ignore_index=True)
        kwh = np.append(kwh, kwh[0] + float(rng.choice([0.0, 1.0])))
    elif twist < 0.18 and n > 2:  # unsorted
        order = rng.permutation(n)
        times, kwh = times.iloc[order].reset_index(drop=True), kwh[order]
    elif twist < 0.22:  # off the grid: one time, or all of them
        shift = pd.Timedelta(minutes=int(rng.integers(1, 30)))
        times = times + shift if rng.random() < 0.5 else times.where(times.index > 0,
                                                                      times + shift)
    elif twist < 0.24:  # a year out of range
        times.iloc[-1] = pd.Timestamp("1850-01-01", tz="UTC")
    elif twist < 0.28:  # every year out of range
        times = times + pd.Timedelta(days=int(rng.choice([-1, 1])) * 365 * 200)
    elif twist < 0.31:  # a null time
        times.iloc[int(rng.integers(len(times)))] = pd.NaT
    elif twist < 0.37:  # a blank value
        kwh[int(rng.integers(len(kwh)))] = np.nan
    if rng.random() < 0.15:
        kwh[rng.integers(len(kwh), size=2)] *= -1
    if rng.random() < 0.15:
        kwh[int(rng.integers(len(kwh)))] *= 500
    return pd.DataFrame({"timestamp": times, "kwh": kwh})


def _portfolio_file(rng: np.random.Generator, path: Path) -> list[str]:
    """A keyed Parquet file of several sites; returns the site ids asked for."""
    starts = [pd.Timestamp("2026-03-28 22:00", tz="UTC") + int(k) * HALF_HOUR
              for k in rng.integers(0, 400, size=2)]
    ids = [f"S{k}" for k in range(int(rng.integers(1, 9)))]
    rows = pd.concat([_site_rows(rng, starts).assign(site_id=sid) for sid in ids],
                     ignore_index=True)
    rows = rows[["site_id", "timestamp", "kwh"]]
    twist = rng.random()
    if twist < 0.1:
        rows = rows.rename(columns={"kwh": "kw"})
    elif twist < 0.2:
        rows["kvarh"] = np.round(rng.random(len(rows)), 3)
        if rng.random() < 0.5:
            rows.loc[rows.index[int(rng.integers(len(rows)))], "kvarh"] = np.nan
    elif twist < 0.3:
        rows["kwh"] = np.round(rows["kwh"].fillna(1.0) * 10).astype(np.int64)
    elif twist < 0.35:
        rows["timestamp"] = rows["timestamp"].dt.tz_convert("Europe/London")
    elif twist < 0.4:  # naive times: read one by one as UK clock time
        rows["timestamp"] = rows["timestamp"].dt.tz_localize(None)
    elif twist < 0.45:
        rows["note"] = "x"
    unit = str(rng.choice(["us", "us", "ns", "ms"]))
    rows["timestamp"] = rows["timestamp"].dt.as_unit(unit)
    if rng.random() < 0.25:  # interleaved sites
        rows = rows.iloc[rng.permutation(len(rows))]
    if rng.random() < 0.15:
        rows.loc[rows.index[int(rng.integers(len(rows)))], "site_id"] = None
    rows.to_parquet(path, index=False, row_group_size=int(rng.choice([50, 1_000_000])))
    wanted = [sid for sid in ids if rng.random() < 0.85]
    return [*wanted, "unknown"] if rng.random() < 0.2 else wanted


@pytest.mark.parametrize("convention", ["start", "end"])
def test_sites_read_at_once_equal_each_site_read_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, convention: str) -> None:
    monkeypatch.setattr(profiles, "default_timestamp_convention", lambda: convention)
    at_once = alone = 0
    for seed in range(CASES):
        rng = np.random.default_rng(50_000 + seed)
        path = tmp_path / f"p{seed}.parquet"
        wanted = _portfolio_file(rng, path)
        source = portfolio._Source(str(path))
        found = portfolio._read_keyed_profiles(source, wanted, False)
        frames = read_keyed(source, wanted, False)  # each site's own rows
        assert sorted(found) == sorted(frames)
        everything = pd.read_parquet(path)
        for sid, item in found.items():
            mine = everything[everything["site_id"] == sid].drop(columns="site_id")
            pd.testing.assert_frame_equal(frames[sid].reset_index(drop=True),
                                          mine.reset_index(drop=True), check_exact=True)
            expected = outcome(partial(read_profile, frames[sid]))
            if isinstance(item, Profile):
                at_once += 1
                assert_same(("ok", item), expected)
            else:
                alone += 1
                pd.testing.assert_frame_equal(item, frames[sid], check_exact=True)
    assert at_once > 60 and alone > 40  # both ways are taken


def test_sites_on_one_grid_share_one_index_and_own_their_values(tmp_path: Path) -> None:
    times = pd.date_range("2026-03-29", periods=96, freq="30min", tz="UTC")
    rows = pd.concat([pd.DataFrame({"site_id": sid, "timestamp": times,
                                    "kwh": np.arange(96.0) + 100 * k})
                      for k, sid in enumerate(["A", "B"])], ignore_index=True)
    rows.to_parquet(tmp_path / "p.parquet", index=False)
    found = portfolio._read_keyed_profiles(portfolio._Source(str(tmp_path / "p.parquet")),
                                           ["A", "B"], False)
    a, b = found["A"], found["B"]
    assert isinstance(a, Profile) and isinstance(b, Profile)
    assert a.data.index is b.data.index
    assert a.data.index.equals(times.rename("timestamp_utc"))
    # each the kWh Series alone (no kVArh: the portfolio reads no frame)
    assert isinstance(a.data, pd.Series) and a.data.name == "kwh"
    assert b.data.sum() == 100 * 96 + 95 * 96 / 2
    a.data.iloc[0] = -1.0  # a site's values are its own
    assert b.data.iloc[0] == 100.0
    assert a.quality.half_hours == 96 and a.quality.warnings == ()
