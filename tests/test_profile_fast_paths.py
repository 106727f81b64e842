"""The fast ways in (Arrow for a plain long CSV, typed columns of a frame, the shortcut for a
sorted regular profile) give exactly what the general path gives: the same frame to the bit,
the same quality report, or the same refusal. Each case is drawn from a seeded generator, with
clean profiles and awkward ones (gaps, duplicates, clock changes, blanks, negatives, unsorted,
other separators and time formats, offsets, years out of range)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import profiles
from bess_duos.core.profile_loader import read_profile
from bess_duos.core.profiles import Profile, load_profile

from tests.profile_outcomes import assert_same, outcome

CASES = 160
SMALL = replace(profiles.DEFAULT_LIMITS, max_rows=100)  # some files are over it

# --------------------------------------------------------------------- comparing outcomes


def _general(monkeypatch: pytest.MonkeyPatch, read: Callable[[], Profile]) -> tuple[str, Any]:
    """The outcome with every fast way in turned off."""
    with monkeypatch.context() as patch:
        patch.setattr(profiles, "_long_from_csv", lambda *args, **kwargs: None)
        patch.setattr(profiles, "_long_from_clean_frame", lambda *args, **kwargs: None)
        return outcome(read)


def _same_both_ways(monkeypatch: pytest.MonkeyPatch, read: Callable[..., Profile], *args: Any,
                    **kwargs: Any) -> tuple[str, Any]:
    """`read(*args, **kwargs)` as it runs, asserted equal to it with the fast ways off."""
    fast = outcome(partial(read, *args, **kwargs))
    assert_same(fast, _general(monkeypatch, partial(read, *args, **kwargs)))
    return fast


# --------------------------------------------------------------------- random profiles

_STARTS = ("2025-03-29 20:00", "2025-10-25 21:00", "2026-06-01 00:00", "2024-12-31 22:00",
           "2026-03-28 23:30", "2025-04-01 00:00")


def _times(rng: np.random.Generator, n: int, step: str) -> pd.DatetimeIndex:
    start = pd.Timestamp(_STARTS[rng.integers(len(_STARTS))], tz="Europe/London")
    return pd.date_range(start, periods=n, freq=step).tz_convert("UTC")


def _values(rng: np.random.Generator, n: int) -> np.ndarray:
    kwh = rng.lognormal(0.0, 1.0, n)
    if rng.random() < 0.3:
        kwh = np.round(kwh * 10)  # whole numbers: read as integers
    if rng.random() < 0.2:
        kwh[rng.integers(n, size=3)] *= -1  # export
    if rng.random() < 0.2:
        kwh[rng.integers(n)] *= 500  # a spike
    return kwh


def _profile_frame(rng: np.random.Generator) -> pd.DataFrame:
    """A long profile as typed columns, often awkward."""
    n = int(rng.integers(2, 300))
    step = str(rng.choice(["30min"] * 12 + ["60min", "15min", "7min"]))
    frame = pd.DataFrame({"timestamp": _times(rng, n, step), "kwh": _values(rng, n)})
    if rng.random() < 0.3:
        frame["kvarh"] = np.round(rng.random(n), 3)
    awkward = rng.random()
    if awkward < 0.15:  # gaps
        frame = frame.drop(index=frame.index[rng.integers(n, size=min(n - 1, 5))])
    elif awkward < 0.25:  # repeated rows, equal
        frame = pd.concat([frame, frame.iloc[: max(1, n // 10)]])
    elif awkward < 0.3:  # repeated half hours, different values
        again = frame.iloc[:2].copy()
        again["kwh"] += 1.0
        frame = pd.concat([frame, again])
    elif awkward < 0.4:  # unsorted
        frame = frame.iloc[rng.permutation(len(frame))]
    elif awkward < 0.45:  # off the half-hour grid
        frame.loc[frame.index[0], "timestamp"] += pd.Timedelta(minutes=1)
    elif awkward < 0.5:  # years out of range
        frame.loc[frame.index[-1], "timestamp"] = pd.Timestamp("1850-01-01", tz="UTC")
    if rng.random() < 0.15:  # blanks
        frame.loc[frame.index[rng.integers(len(frame), size=3)], "kwh"] = np.nan
    if rng.random() < 0.05:
        frame.loc[frame.index[0], "timestamp"] = pd.NaT
    return frame.reset_index(drop=True)


_FORMATS = (
    ("%Y-%m-%dT%H:%M:%SZ", "UTC"),
    ("%Y-%m-%d %H:%M:%S+00:00", "UTC"),
    ("%Y-%m-%dT%H:%M%z", "Europe/London"),  # +0100 in summer
    ("%Y-%m-%dT%H:%M:%S.000Z", "UTC"),
    ("%Y-%m-%d %H:%M", None),  # naive UK clock time
    ("%Y-%m-%dT%H:%M:%S", None),
    ("%Y-%m-%d %H:%M:%S", "UTC naive"),  # naive UTC (read with tz='UTC' or by the policy)
    ("%d/%m/%Y %H:%M", None),  # day first: the general path only
    ("%Y-%m-%dT%H:%M:%S+01", "+01"),  # an hour-only offset
)


def _csv(rng: np.random.Generator) -> bytes:
    """A long profile as a CSV file's bytes, in one of many dialects."""
    frame = _profile_frame(rng)
    fmt, zone = _FORMATS[rng.integers(len(_FORMATS))]
    times = frame.pop("timestamp")
    if zone == "Europe/London" or zone is None:
        times = times.dt.tz_convert("Europe/London")
    elif zone == "+01":
        times = times.dt.tz_convert("Etc/GMT-1")
    text = times.dt.strftime(fmt)
    if zone is None:
        text = times.dt.tz_localize(None).dt.strftime(fmt)
    if zone == "Europe/London" and rng.random() < 0.3:
        text = text.str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)  # +01:00
    name = str(rng.choice(["timestamp", "datetime", "Timestamp_UTC", "interval_start"]))
    table = pd.DataFrame({name: text})
    kwh_name = str(rng.choice(["kwh", "kWh", "consumption_kwh", "kw"]))
    for column in frame.columns:
        table[kwh_name if column == "kwh" else column] = frame[column].to_numpy()
    if rng.random() < 0.1:
        table["site"] = "A"
    sep = str(rng.choice([",", ",", ",", ";", "\t"]))
    line_end = str(rng.choice(["\n", "\n", "\r\n"]))
    content = table.to_csv(index=False, sep=sep, lineterminator=line_end,
                           na_rep=str(rng.choice(["", "NA", "nan", "None"])))
    twist = rng.random()
    if twist < 0.05:
        content = "\ufeff" + content  # a byte-order mark
    elif twist < 0.1:
        content = content.replace(sep, sep + " ")  # padded cells
    elif twist < 0.15:
        content = content.replace(f"{sep}1.", f'{sep}"1.')  # a stray quote
    elif twist < 0.2:
        lines = content.split(line_end)
        lines[min(3, len(lines) - 1)] += f"{sep}x"  # a ragged row
        content = line_end.join(lines)
    elif twist < 0.25 and len(content) > 60:
        content = content[:50] + "q" + content[51:]  # a stray letter
    elif twist < 0.3:  # bytes that are not UTF-8, in the header or in a row
        at = content.find("\n") + int(rng.integers(-3, 3))
        return content[:at].encode() + b"\x80" + content[at:].encode()
    return content.encode()


def _options(rng: np.random.Generator) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if rng.random() < 0.3:
        options["timestamp_convention"] = str(rng.choice(["start", "end"]))
    if rng.random() < 0.2:
        options["tz"] = "UTC"
    if rng.random() < 0.15:
        options["resample"] = str(rng.choice(["split", "aggregate"]))
    return options


# --------------------------------------------------------------------- the properties


def test_csv_read_by_arrow_equals_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_taken = outcomes = 0
    for seed in range(CASES):
        rng = np.random.default_rng(seed)
        content, options = _csv(rng), _options(rng)
        fast = _same_both_ways(monkeypatch, load_profile, content, name="p.csv", **options)
        _same_both_ways(monkeypatch, read_profile, content, name="p.csv")  # the policy's retries
        _same_both_ways(monkeypatch, read_profile, content, name="p.csv", limits=SMALL)
        fast_taken += profiles._long_from_csv(content, "p.csv", profiles.DEFAULT_LIMITS, None,
                                              None) is not None
        outcomes += fast[0] == "ok"
    # Both ways are exercised: many files take the fast way, many do not, some are refused.
    assert CASES * 0.3 < fast_taken < CASES * 0.8
    assert CASES * 0.3 < outcomes < CASES * 0.95


def test_frames_with_typed_columns_equal_the_general_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast_taken = 0
    for seed in range(CASES):
        rng = np.random.default_rng(10_000 + seed)
        frame = _profile_frame(rng)
        twist = rng.random()
        if twist < 0.1:  # naive UK clock times
            frame["timestamp"] = frame["timestamp"].dt.tz_convert("Europe/London").dt.tz_localize(
                None)
        elif twist < 0.2:  # microseconds, as Parquet written by pandas gives them
            frame["timestamp"] = frame["timestamp"].dt.as_unit("us")
        elif twist < 0.25:  # times as text
            frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif twist < 0.3:  # a DatetimeIndex
            frame = frame.set_index("timestamp")
        elif twist < 0.35:  # padded column names
            frame.columns = [f" {c}" for c in frame.columns]
        elif twist < 0.4:  # a slice of a larger frame, as the portfolio passes it
            frame = pd.concat([frame, frame]).iloc[len(frame):]
        options = _options(rng)
        before = frame.copy()
        _same_both_ways(monkeypatch, load_profile, frame, **options)
        _same_both_ways(monkeypatch, read_profile, frame)
        pd.testing.assert_frame_equal(frame, before)  # the caller's frame is untouched
        fast_taken += profiles._long_from_clean_frame(frame, None, None) is not None
    assert CASES * 0.4 < fast_taken < CASES * 0.95


def test_a_clean_frame_takes_the_fast_way_and_awkward_ones_the_general_checks() -> None:
    times = pd.date_range("2026-03-28", periods=200, freq="30min", tz="UTC")
    clean = pd.DataFrame({"timestamp": times.as_unit("us"), "kwh": np.arange(200.0)})
    assert profiles._long_from_clean_frame(clean, None, None) is not None
    profile = read_profile(clean)
    assert profile.data.index.equals(times.rename("timestamp_utc"))
    assert profile.data["kwh"].sum() == 199 * 200 / 2
    assert profile.quality.warnings == ()
    # The caller's frame is copied, never shared: changing it leaves the profile as it was.
    clean.loc[0, "timestamp"] = pd.Timestamp("2026-01-01", tz="UTC")
    assert profile.data.index[0] == times[0]
    # Awkward data in typed columns: the general checks still find every fault.
    # Newest first, half hours 187-189 (31 Mar 21:30-22:30) dropped, 179 (17:30) blank, 149
    # twice with the same values.
    clean.loc[0, "timestamp"] = times[0]
    shuffled = clean.iloc[::-1].reset_index(drop=True)
    awkward = pd.concat([shuffled.drop(index=[10, 11, 12]), shuffled.iloc[[50]]])
    awkward.loc[20, "kwh"] = np.nan
    assert profiles._long_from_clean_frame(awkward, None, None) is not None
    quality = read_profile(awkward).quality
    assert (quality.missing_half_hours, quality.nans, quality.duplicates,
            quality.irregular_steps) == (4, 1, 1, 2)
    assert quality.gaps == (("2026-03-31 17:30", "2026-03-31 17:30"),
                            ("2026-03-31 21:30", "2026-03-31 22:30"))
    text = clean.assign(timestamp=clean["timestamp"].astype(str))
    assert profiles._long_from_clean_frame(text, None, None) is None


def test_the_regular_shortcut_equals_sorting_the_same_rows() -> None:
    """A sorted regular profile skips the sort, the duplicate and gap search: the same rows in
    any order (which take them) give the same frame and report."""
    for seed in range(40):
        rng = np.random.default_rng(20_000 + seed)
        n = int(rng.integers(2, 2_000))
        start = int(rng.integers(0, 10**6)) * profiles.NS_PER_HALF_HOUR
        utc_ns = start + np.arange(n, dtype=np.int64) * profiles.NS_PER_HALF_HOUR
        kwh = _values(rng, n)
        order = rng.permutation(n)

        def finish(ns: np.ndarray, values: np.ndarray) -> tuple[pd.DataFrame, Any]:
            return profiles._finish(
                ns, values, None, source="x", shape="long", step_minutes=30.0,
                timezone="UTC", convention="start", resample=None, nans=0, warnings=[])

        regular, shuffled = finish(utc_ns, kwh), finish(utc_ns[order], kwh[order])
        pd.testing.assert_frame_equal(regular[0], shuffled[0], check_exact=True)
        assert regular[1] == shuffled[1]


def test_first_occurrences_and_steps_equal_their_pandas_and_unique_references() -> None:
    """`localise_naive` marks October's first 01:00-01:59 as BST with a stable sort (was a
    groupby cumcount), and the median step skips np.unique: the same on random arrays."""
    for seed in range(60):
        rng = np.random.default_rng(30_000 + seed)
        n = int(rng.integers(1, 3_000))
        values = np.cumsum(rng.choice([0, 1, 1, 1, 2, -3], size=n)) * profiles.NS_PER_HALF_HOUR
        twist = rng.random()
        if twist < 0.3:
            values = rng.permutation(values)
        elif twist < 0.5:  # one step throughout
            values = np.arange(n) * int(rng.integers(1, 4)) * profiles.NS_PER_HALF_HOUR
        cumcount = pd.Series(np.arange(n)).groupby(values).cumcount().to_numpy()
        assert np.array_equal(profiles._first_occurrences(values), cumcount == 0)
        distinct = np.diff(np.unique(values))
        expected = float(np.median(distinct)) / profiles.NS_PER_MINUTE if distinct.size else 30.0
        assert profiles._step_minutes(values) == expected


def test_a_one_year_csv_reads_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    from bess_duos.core.synthetic import generate_profile

    series = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    content = series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        date_format="%Y-%m-%dT%H:%M:%SZ").encode()
    assert profiles._long_from_csv(content, "y.csv", profiles.DEFAULT_LIMITS, None, None)
    fast = _same_both_ways(monkeypatch, read_profile, content, name="y.csv")
    assert fast[1].quality.half_hours == 17_520
    assert fast[1].data["kwh"].sum() == pytest.approx(180_000, rel=0.01)
    assert np.array_equal(fast[1].data["kwh"].to_numpy(), series.to_numpy())


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf
def test_spikes_without_the_percentile_equal_counting_them_with_it() -> None:
    """`_spikes` skips the 99th percentile only where it proves there are none: the same count
    (and the same percentile where it is computed) as np.percentile on random arrays, with
    spikes, negatives, ties, zeros and infinities."""
    def reference(kwh: np.ndarray) -> tuple[int, float]:
        p99 = float(np.percentile(kwh, 99))
        mask = kwh > profiles.SPIKE_FACTOR * p99 if p99 > 0 else np.zeros(kwh.size, bool)
        return int(mask.sum()), p99

    skipped = 0
    for seed in range(400):
        rng = np.random.default_rng(40_000 + seed)
        n = int(rng.choice([1, 2, 3, 50, 99, 100, 101, 1_000, 17_520]))
        kwh = _values(rng, n)
        twist = rng.random()
        if twist < 0.15:  # as many spikes as the percentile's margin holds, or one more
            k = max(1, n // 100 + int(rng.integers(-1, 2)))
            kwh[rng.choice(n, size=min(k, n), replace=False)] *= 10**rng.integers(1, 4)
        elif twist < 0.25:
            kwh = np.round(kwh)  # ties and zeros
        elif twist < 0.3:
            kwh = -kwh
        elif twist < 0.35:
            kwh[rng.integers(n)] = float(rng.choice([np.inf, -np.inf]))
        elif twist < 0.4:
            kwh[:] = 0.0
        elif twist < 0.45:  # the top value at exactly SPIKE_FACTOR x a value
            kwh[:] = 1.0
            kwh[rng.integers(n)] = profiles.SPIKE_FACTOR * float(rng.choice([1.0, 1.0 + 1e-15]))
        spikes, p99, mask = profiles._spikes(kwh)
        expected, expected_p99 = reference(kwh)
        assert spikes == expected, (seed, n)
        if spikes:
            assert p99 == expected_p99
            assert mask is not None and int(mask.sum()) == spikes
        skipped += bool(np.isnan(p99))
    assert 100 < skipped < 390  # both ways are taken


def test_utc_index_equals_the_public_constructor() -> None:
    """`utc_index` builds the index directly: equal (values, zone, unit, name, no freq) to the
    public constructor's on random sorted, unsorted, gapped and repeated UTC times."""
    for seed in range(60):
        rng = np.random.default_rng(41_000 + seed)
        n = int(rng.choice([1, 2, 48, 1_000, 17_520]))
        start = int(rng.integers(0, 2**22)) * profiles.NS_PER_HALF_HOUR
        steps = rng.choice([0, 1, 1, 1, 2, 48], size=n) * profiles.NS_PER_HALF_HOUR
        ns = start + np.cumsum(steps)
        if seed % 5 == 0:
            ns = rng.permutation(ns)
        expected = pd.DatetimeIndex(ns.view("datetime64[ns]"), name="timestamp_utc", tz="UTC")
        got = profiles.utc_index(ns.copy())
        pd.testing.assert_index_equal(got, expected, exact=True)
        assert got.freq is None and str(got.dtype) == "datetime64[ns, UTC]"
        assert np.array_equal(got.asi8, ns)


def test_utc_index_falls_back_to_the_public_constructor(monkeypatch: Any) -> None:
    """A pandas whose private constructors fail or build something else: `utc_index` sees it
    (once per process) and builds the index with the public constructor, equal as before."""
    ns = np.arange(5, dtype=np.int64) * profiles.NS_PER_HALF_HOUR + 1_700_000_000 * 10**9
    expected = pd.DatetimeIndex(ns.view("datetime64[ns]"), name="timestamp_utc", tz="UTC")

    def broken(utc_ns: np.ndarray) -> pd.DatetimeIndex:
        raise TypeError("_simple_new() got an unexpected keyword argument 'dtype'")

    def wrong_name(utc_ns: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(utc_ns.view("datetime64[ns]"), name="other", tz="UTC")

    for replacement in (broken, wrong_name):
        with monkeypatch.context() as patched:
            patched.setattr(profiles, "_direct_utc_index", replacement)
            profiles._direct_index_works.cache_clear()
            assert profiles._direct_index_works() is False
            got = profiles.utc_index(ns.copy())
            pd.testing.assert_index_equal(got, expected, exact=True)
    profiles._direct_index_works.cache_clear()
    assert profiles._direct_index_works() is True  # this pandas: the direct build


def test_a_file_is_read_whole_in_one_read(tmp_path: Any) -> None:
    """`_read_all` gives the file's bytes, whatever `size` was seen (a file that grew or shrank
    since is read to its end), as Path.read_bytes does."""
    rng = np.random.default_rng(42_000)
    for n in (1, 7, 65_536, 200_001):
        path = tmp_path / f"f{n}.csv"
        content = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
        path.write_bytes(content)
        for seen in (n, 1, n // 2 + 1, n + 10):
            assert profiles._read_all(path, seen, 1 << 20) == content == path.read_bytes()
        for cap in (n - 1, n // 2):  # never more than the cap + 1 bytes, however big
            if cap >= 1:
                for seen in (n, 1, cap + 5):
                    assert profiles._read_all(path, seen, cap) == content[:cap + 1]
        assert profiles._file_bytes(path, profiles.DEFAULT_MAX_BYTES) == content


def test_blanks_counted_by_reductions_equal_the_masks() -> None:
    """`_long_to_utc` first asks reductions whether any time is NaT or any value NaN (a NaN
    makes a sum NaN): on seeded rows with NaT, NaN, infinities of both signs and none, the rows
    kept, their values and the blanks counted equal masking every row; `_finish` counts the
    negatives (-0.0 is not one) as comparing every value does."""
    for seed in range(300):
        rng = np.random.default_rng(43_000 + seed)
        n = int(rng.choice([1, 2, 5, 48, 1_000]))
        times = (np.int64(1_743_462_000) + np.arange(n, dtype=np.int64) * 1_800) * 10**9
        kwh = _values(rng, n)
        kvarh = _values(rng, n) if rng.random() < 0.4 else None
        for array in (kwh, kvarh):
            if array is not None and rng.random() < 0.5:
                at = rng.integers(n, size=int(rng.integers(1, 3)))
                array[at] = rng.choice([np.nan, np.inf, -np.inf, -0.0], size=at.size)
        if rng.random() < 0.3:
            times[rng.integers(n)] = profiles.NAT
        valid = (times != profiles.NAT) & ~np.isnan(kwh)
        if kvarh is not None:
            valid &= ~np.isnan(kvarh)
        long = profiles._Long(times.copy(), True, kwh.copy(),
                              None if kvarh is None else kvarh.copy())
        if not valid.any():
            with pytest.raises(profiles.ProfileError, match="no rows with both"):
                profiles._long_to_utc(long, convention="start", tz=None, resample=None,
                                      warnings=[])
            continue
        try:
            utc_ns, got_kwh, got_kvarh, nans, *_ = profiles._long_to_utc(
                long, convention="start", tz=None, resample=None, warnings=[])
        except profiles.ProfileError as exc:  # too few rows left for a step: the same rows
            assert "median step" in str(exc) or "hourly" in str(exc)
            continue
        assert nans == n - int(valid.sum())
        assert np.array_equal(utc_ns, times[valid])
        assert np.array_equal(got_kwh, kwh[valid], equal_nan=True)
        if kvarh is not None:
            assert np.array_equal(got_kvarh, kvarh[valid], equal_nan=True)
        if np.isinf(got_kwh).any():
            continue
        _, quality = profiles._finish(
            utc_ns, got_kwh, got_kvarh, source="x", shape="long", step_minutes=30.0,
            timezone="UTC", convention="start", resample=None, nans=nans, warnings=[])
        assert quality.negatives == int(np.count_nonzero(got_kwh < 0))


def test_a_file_that_grew_past_the_limit_after_its_size_was_checked_is_refused(
        tmp_path: Any, monkeypatch: Any) -> None:
    """The size is checked before any byte is read; should the file grow past the limit after
    that, the read stops at the limit + 1 byte and the file is refused, never read whole."""
    path = tmp_path / "growing.csv"
    path.write_bytes(b"timestamp,kwh\n" + b"2025-04-01T00:00:00Z,1.0\n" * 10)
    seen = profiles._stat(path)
    path.write_bytes(b"timestamp,kwh\n" + b"2025-04-01T00:00:00Z,1.0\n" * 1_000)
    monkeypatch.setattr(profiles, "_stat", lambda _: seen)  # as stat said before it grew
    with pytest.raises(profiles.ProfileError, match="grew past the 0 MB limit"):
        profiles._file_bytes(path, 1_000)
    assert profiles._file_bytes(path, 10**6) == path.read_bytes()
