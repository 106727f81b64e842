"""The portfolio's cheap loading, each fast path against the general code it bypasses, on
seeded data: the shared grid index (`grid_index`) and its grid known without reading the
times (`known_grid`, read by the features' checks), the block-wise step check (`_steps_not`),
`_finish` given the slice's extremes, the columns judged once per Arrow schema
(`_sliced_columns`), blanks found from each slice's minimum (blank, infinite, negative and
spiky kWh, in kW too), and the valuation's kWh check under the portfolio policy."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bess_duos.core.bands import NS_PER_HALF_HOUR, half_hour_grid
from bess_duos.core.features import FeatureError, _checked_grid
from bess_duos.core.profile_loader import read_profile
from bess_duos.core.profiles import (
    GRID_INDEXES,
    NAT,
    STEPS_BLOCK,
    _clean_frame_columns,
    _finish,
    _sliced_columns,
    _steps_not,
    grid_index,
    known_grid,
    load_sliced_profiles,
    utc_index,
)
from bess_duos.core.valuation import PORTFOLIO, ValuationError, _kwh_series, _Run

from tests.profile_outcomes import assert_same, outcome

START = int(pd.Timestamp("2026-03-28 22:00", tz="UTC").value)


def _fresh_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The same times in an index of their own (the general path's)."""
    return utc_index(index.asi8.copy())


def test_grid_index_is_shared_read_only_and_its_grid_known() -> None:
    index = grid_index(START, 96)
    assert grid_index(START, 96) is index
    assert not index.asi8.flags.writeable
    with pytest.raises(ValueError):
        index.array[0] = pd.Timestamp("2020-01-01", tz="UTC")
    frame = pd.DataFrame({"kwh": np.ones(96)}, index=index)
    for seen in (index, frame.index, frame["kwh"].index):
        assert known_grid(seen) == half_hour_grid(seen.asi8) == (START, 96)
    # the same times in another index, in a slice of it, a part of it, one half hour:
    # computed, not known
    assert known_grid(_fresh_index(index)) is None
    assert known_grid(index[:]) is None
    assert known_grid(index[1:]) is None
    assert known_grid(grid_index(START, 1)) is None
    assert known_grid(pd.Index([1, 2])) is None
    for k in range(GRID_INDEXES):  # the first one dropped: no longer known
        grid_index(START + (k + 1) * NS_PER_HALF_HOUR, 96)
    assert known_grid(index) is None
    assert grid_index(START, 96) is not index


def test_grid_index_shared_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(1700)
    keys = [(START + int(k) * NS_PER_HALF_HOUR, 48) for k in rng.integers(0, 3, size=400)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda key: grid_index(*key), keys))
    for key, index in zip(keys, got, strict=True):
        assert np.array_equal(index.asi8, key[0] + np.arange(48) * NS_PER_HALF_HOUR)
        assert known_grid(index) in (key, None)  # None only if another thread's index won
    assert all(known_grid(grid_index(*key)) == key for key in set(keys))


@pytest.mark.parametrize("seed", range(6))
def test_checked_grid_of_a_known_grid_equals_the_general_check(seed: int) -> None:
    rng = np.random.default_rng(1800 + seed)
    n = int(rng.integers(1, 300))
    index = grid_index(START + int(rng.integers(0, 500)) * NS_PER_HALF_HOUR, n)
    values = rng.lognormal(0.0, 1.0, n)
    if seed % 2 and n > 1:  # a value that is not finite: the same refusal either way
        values[int(rng.integers(n))] = [np.inf, -np.inf, np.nan][seed % 3]
    known = pd.Series(values, index=index, name="kwh")
    general = pd.Series(values, index=_fresh_index(index), name="kwh")
    assert known_grid(general.index) is None
    expected = outcome_of(partial(_checked_grid, general, "profile"))
    got = outcome_of(partial(_checked_grid, known, "profile"))
    assert got[0] == expected[0]
    if got[0] == "error":
        assert got[1] == expected[1]
        return
    for a, b in zip(got[1], expected[1], strict=True):
        assert a == b if isinstance(a, tuple) or a is None else np.array_equal(a, b)


def outcome_of(check: partial) -> tuple[str, object]:
    try:
        return "ok", check()
    except FeatureError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("seed", range(6))
def test_kwh_series_under_the_portfolio_policy_equals_the_general_check(seed: int) -> None:
    rng = np.random.default_rng(1900 + seed)
    n = int(rng.integers(2, 300))
    index = grid_index(START, n)
    values = rng.lognormal(0.0, 1.0, n)
    if seed % 2:
        values[int(rng.integers(n))] = np.inf
    results = []
    for frame in (pd.DataFrame({"kwh": values}, index=index),
                  pd.DataFrame({"kwh": values}, index=_fresh_index(index))):
        run = _Run(PORTFOLIO, None, None, None, None, [], [], profile=frame)  # type: ignore[arg-type]
        try:
            series = _kwh_series(frame, run, "profile of site 'S1'")
            results.append(("ok", series, [grid for _, grid in run.grids.values()]))
        except ValuationError as exc:
            results.append(("error", exc.stage, exc.reason))
    (kind, *got), (expected_kind, *expected) = results
    assert kind == expected_kind == ("error" if seed % 2 else "ok")
    if kind == "error":
        assert got == expected
        return
    pd.testing.assert_series_equal(got[0], expected[0], check_exact=True)
    assert got[1] == expected[1] == [(START, n)]


@pytest.mark.parametrize("seed", range(4))
def test_steps_not_equals_the_diff_of_all_steps(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    for n in (0, 1, 2, STEPS_BLOCK - 1, STEPS_BLOCK, STEPS_BLOCK + 1, STEPS_BLOCK + 2,
              int(rng.integers(3, 4 * STEPS_BLOCK))):
        array = START + np.arange(n, dtype=np.int64) * NS_PER_HALF_HOUR
        if n > 3:
            array[rng.integers(0, n, size=int(rng.integers(0, 6)))] += 60
            if seed % 2:
                array[int(rng.integers(n))] = NAT
        got = _steps_not(array, NS_PER_HALF_HOUR)
        want = np.flatnonzero(np.diff(array) != NS_PER_HALF_HOUR)
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(8))
def test_finish_given_the_extremes_equals_finish_finding_them(seed: int) -> None:
    rng = np.random.default_rng(2100 + seed)
    n = int(rng.integers(1, 400))
    index = grid_index(START, n)
    kwh = rng.lognormal(0.0, 1.0, n) * (0 if seed == 7 else 1)
    if seed % 2:
        kwh[rng.integers(n, size=2)] *= -1
    if seed % 3 == 0:
        kwh[int(rng.integers(n))] *= 500
    if seed == 5:
        kwh[int(rng.integers(n))] = np.inf
    results = []
    for extremes in ((float(kwh.min()), float(kwh.max())), None):
        results.append(_finish(
            index.asi8, kwh.copy(), None, source="<frame>", shape="long", step_minutes=30.0,
            timezone="UTC offsets in the data", convention="start", resample=None, nans=0,
            warnings=[], index=index, own_values=True, extremes=extremes))
    (got_data, got), (want_data, want) = results
    pd.testing.assert_frame_equal(got_data, want_data, check_exact=True)
    assert got == want


def _judged_on_an_empty_frame(table: pa.Table) -> tuple | None:
    """What `load_sliced_profiles` judged on each table's frame of no rows before."""
    try:
        empty = table.slice(0, 0).to_pandas(use_threads=False)
    except Exception:  # the reference: any Arrow error means "read alone"
        return None
    found = _clean_frame_columns(empty, None, None)
    if found is None:
        return None
    times = table.column(found[0])
    unit = empty[found[0]].array.unit
    if (empty[found[0]].array.tz is None or not pa.types.is_timestamp(times.type)
            or times.type.unit != unit):
        return None
    return (*found, unit)


def _tables() -> list[pa.Table]:
    times = pd.date_range("2026-01-01", periods=4, freq="30min", tz="UTC")
    kwh = np.arange(4.0)
    frames = [
        pd.DataFrame({"timestamp": times, "kwh": kwh}),
        pd.DataFrame({"timestamp": times, "kw": kwh}),
        pd.DataFrame({"timestamp": times, "kwh": kwh, "kvarh": kwh}),
        pd.DataFrame({"timestamp": times.tz_localize(None), "kwh": kwh}),
        pd.DataFrame({"timestamp": times.as_unit("ms"), "kwh": kwh}),
        pd.DataFrame({"timestamp": times, "kwh": kwh.astype(int)}),
        pd.DataFrame({"timestamp": times, "kwh": kwh.astype(str)}),
        pd.DataFrame({"time": times, "value": kwh}),
        pd.DataFrame({"timestamp": times.astype(str), "kwh": kwh}),
        pd.DataFrame({"timestamp": times, "kwh": pd.array(kwh, dtype="Float64")}),
        pd.DataFrame({"timestamp": times, "kwh": kwh}).set_index("timestamp"),
    ]
    tables = [pa.Table.from_pandas(frame, preserve_index=i == len(frames) - 1)
              for i, frame in enumerate(frames)]
    tables.append(pa.table({"timestamp": pa.array(times.asi8, pa.timestamp("ns", "UTC")),
                            "kwh": pa.array(kwh).dictionary_encode()}))
    tables.append(pa.table({"timestamp": pa.array(times.asi8 // 1000, pa.timestamp("us", "UTC")),
                            "kwh": kwh}))  # no pandas metadata
    tables.append(pa.table({"timestamp": pa.array(times.asi8, pa.timestamp("ns", "UTC")),
                            "kwh": kwh, "id": pa.array([b"0123456789abcdef"] * 4, pa.uuid())}))
    tables.append(pa.table({"timestamp": pa.array(times.asi8, pa.timestamp("ns", "UTC")),
                            "kwh": pa.array([[1.0]] * 4, pa.list_(pa.float64()))}))
    return tables


def test_sliced_columns_judged_per_schema_equal_the_judgement_on_an_empty_frame() -> None:
    tables = _tables()
    verdicts = [_sliced_columns(t.schema.serialize().to_pybytes()) for t in tables]
    assert verdicts == [_judged_on_an_empty_frame(t) for t in tables]
    assert sum(v is not None for v in verdicts) >= 5  # the usual tables are read at once


@pytest.mark.parametrize("seed", range(10))
def test_sliced_profiles_with_blank_infinite_negative_and_spiky_kwh_equal_each_read_alone(
        seed: int) -> None:
    rng = np.random.default_rng(2200 + seed)
    value = "kw" if seed % 3 == 2 else "kwh"
    frames = []
    for site in range(int(rng.integers(2, 8))):
        n = int(rng.integers(1, 300))
        kwh = rng.lognormal(0.0, 1.0, n)
        twist = (site + seed) % 6
        if twist == 1:
            kwh[int(rng.integers(n))] = np.nan
        elif twist == 2:
            kwh[int(rng.integers(n))] = [np.inf, -np.inf][seed % 2]
        elif twist == 3:
            kwh[rng.integers(n, size=2)] *= -1
        elif twist == 4:
            kwh[int(rng.integers(n))] *= 500
        elif twist == 5 and n > 1:
            kwh[:] = np.nan
        frames.append(pd.DataFrame({
            "timestamp": pd.date_range(pd.Timestamp(START + site * NS_PER_HALF_HOUR, tz="UTC"),
                                       periods=n, freq="30min"),
            value: kwh}))
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    loaded = load_sliced_profiles(table, bounds)
    for profile, frame in zip(loaded, frames, strict=True):
        expected = outcome(partial(read_profile, frame))
        if profile is None:  # a blank: read alone, which drops it with a warning or refuses
            assert frame[value].isna().any()
            continue
        assert not frame[value].isna().any()
        assert_same(("ok", profile), expected)
        assert profile.data.index is grid_index(int(profile.data.index.asi8[0]),
                                                len(profile.data))
