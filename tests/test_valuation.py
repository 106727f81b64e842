"""core.valuation: one valuation for the lookup and the portfolio; their differences are the
settings of a frozen policy, each checked here on both sides."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.area_resolver import AreaResult
from bess_duos.core.lookup import parse_inputs, run_lookup
from bess_duos.core.mpan import generate_cores, parse_mpan
from bess_duos.core.portfolio import iter_site_batches, run_batch
from bess_duos.core.synthetic import generate_profile
from bess_duos.core.tariffs import resolve_tariff
from bess_duos.core.valuation import (
    LOOKUP,
    PORTFOLIO,
    Site,
    SiteJob,
    ValuationError,
    value_site,
    value_sites,
)

DAY = dt.date(2026, 11, 24)
CORE_14 = generate_cores(1, 14, seed=8)[0]


def _frame(start: str = "2026-06-01", end: str = "2026-07-27") -> pd.DataFrame:
    return generate_profile("retail", 3e5, start, end, seed=5).to_frame("kwh")


def _b_is_e(postcode):
    return AreaResult(postcode, "_E", ("_E",), "test", "test", "postcode", "high", False,
                      dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_the_lookup_and_the_portfolio_give_one_sites_numbers_alike(tmp_path: Path) -> None:
    """Within one charging year the two policies charge the same tariff: the lookup's and the
    portfolio's DUoS and flexibility numbers for the same site are the same numbers."""
    profile = _frame()
    profile.rename_axis("timestamp").reset_index().to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "s.csv").write_text("site_id,mpan,postcode,voltage,kva,profile_path\n"
                                    f"a,{CORE_14},,HV,400,p.csv\n", encoding="utf-8")
    results, errors = run_batch(next(iter_site_batches(tmp_path / "s.csv")), flex_fraction=0.3)
    assert errors.empty
    row = results.iloc[0]
    looked = run_lookup(parse_inputs({"mpan": CORE_14, "voltage": "HV", "kva": 400}),
                        profile=profile, on=DAY)
    assert row["tariff_name"] == looked.tariff.tariff_name == resolve_tariff(
        14, on=DAY, voltage="HV", kva=400).tariff_name
    assert row["annual_duos_gbp"] == looked.duos.annualised_total_gbp
    assert row["unit_gbp"] == looked.duos.unit_gbp > 0
    assert row["flex_annual_value_gbp"] == looked.flexibility.annual_value_gbp > 0


def test_a_bad_check_digit_warns_or_fails() -> None:
    wrong = parse_mpan(CORE_14[:12] + str((int(CORE_14[12]) + 1) % 10))
    expected = parse_mpan(CORE_14).check_digit
    looked = value_site(Site(wrong), None, policy=LOOKUP, flex_fraction=0.3, on=DAY)
    assert f"wrong check digit (expected {expected})" in looked.warnings[0]
    with pytest.raises(ValuationError) as info:
        value_site(Site(wrong), _frame(), policy=PORTFOLIO, flex_fraction=0.3)
    assert info.value.stage == "mpan" and f"(expected {expected})" in info.value.reason
    # The settings are independent: the portfolio's policy with a warning instead.
    lenient = dataclasses.replace(PORTFOLIO, bad_check_digit="warn")
    valued = value_site(Site(wrong), _frame(), policy=lenient, flex_fraction=0.3)
    assert valued.duos is not None and "wrong check digit" in valued.warnings[0]


def test_an_llfc_decides_with_a_voltage_only_in_the_portfolio() -> None:
    full = parse_mpan(f"00800L03 {CORE_14}")
    site = Site(full, voltage="HV", kva=400)
    assert value_site(site, None, policy=LOOKUP, flex_fraction=0.3, on=DAY).tariff == \
        resolve_tariff(14, on=DAY, voltage="HV", kva=400)
    valued = value_site(site, _frame(), policy=PORTFOLIO, flex_fraction=0.3)
    assert valued.tariff.tariff_name == "LV Site Specific Band 3"  # L03 in MIDE 2026 Annex 1


def test_an_unpublished_llfc_falls_back_or_fails() -> None:
    site = Site(parse_mpan(f"00800999 {CORE_14}"))
    looked = value_site(site, None, policy=LOOKUP, flex_fraction=0.3, on=DAY)
    assert looked.tariff == resolve_tariff(14, on=DAY)  # LV, band 1 (no kVA)
    assert any("LLFC 999 is not in the published tariffs" in w for w in looked.warnings)
    with pytest.raises(ValuationError) as info:
        value_site(site, _frame(), policy=PORTFOLIO, flex_fraction=0.3)
    assert info.value.stage == "tariff" and "LLFC 999" in info.value.reason


def test_a_year_with_no_bundled_tariffs_uses_the_latest_or_fails() -> None:
    site = Site(parse_mpan(CORE_14), voltage="HV", kva=400)
    looked = value_site(site, None, policy=LOOKUP, flex_fraction=0.3, on=dt.date(2030, 6, 1))
    assert looked.tariff.year == 2027
    assert "no 2030/31 tariffs bundled for area 14: using 2027/28" in looked.warnings[0]
    with pytest.raises(ValuationError) as info:
        value_site(site, _frame("2030-06-01", "2030-06-15"), policy=PORTFOLIO,
                   flex_fraction=0.3)
    assert info.value.stage == "tariff" and "2030/31" in info.value.reason


def test_gaps_count_as_zero_or_are_refused() -> None:
    frame = _frame()
    gappy = frame.drop(frame.index[100:148])  # one day missing
    looked = value_site(Site(parse_mpan(CORE_14)), gappy, policy=LOOKUP, flex_fraction=0.3,
                        on=DAY)
    assert any("48 missing half hour(s) counted as 0 kWh" in w for w in looked.warnings)
    assert len(looked.kwh) == len(frame) and looked.kwh.iloc[100:148].sum() == 0.0
    assert looked.flexibility is not None
    with pytest.raises(ValuationError) as info:
        value_site(Site(parse_mpan(CORE_14)), gappy, policy=PORTFOLIO, flex_fraction=0.3)
    assert info.value.stage == "profile" and "half hours must be regular" in info.value.reason


def test_a_failed_step_is_a_warning_only_under_a_partial_policy() -> None:
    frame = _frame()
    frame.iloc[5, 0] = np.nan
    looked = value_site(Site(parse_mpan(CORE_14)), frame, policy=LOOKUP, flex_fraction=0.3,
                        on=DAY)
    assert looked.duos is None
    assert any(w.startswith("annual DUoS not computed: 1 kWh values are missing")
               for w in looked.warnings)
    strict = dataclasses.replace(PORTFOLIO, gaps="zero")  # NaN reaches the DUoS step
    with pytest.raises(ValuationError) as info:
        value_site(Site(parse_mpan(CORE_14)), frame, policy=strict, flex_fraction=0.3)
    assert info.value.stage == "duos"


def test_a_dno_sites_postcode_is_checked_only_by_the_lookup() -> None:
    calls: list[str] = []

    def lookup(postcode):
        calls.append(str(postcode))
        return AreaResult(postcode, "_C", ("_C",), "test", "test", "postcode", "high", False,
                          dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    site = Site(parse_mpan(CORE_14), postcode="SW1A 1AA")
    looked = value_site(site, None, policy=LOOKUP, flex_fraction=0.3, on=DAY,
                        area_lookup=lookup)
    assert calls and "using the MPAN's area" in looked.warnings[0]
    calls.clear()
    valued = value_site(site, _frame(), policy=PORTFOLIO, flex_fraction=0.3,
                        area_lookup=lookup)
    assert calls == [] and valued.area.distributor_id == 14 and not valued.warnings


def test_an_idno_site_takes_its_area_from_the_postcode_under_both() -> None:
    idno = Site(parse_mpan(generate_cores(1, 24, seed=8)[0]), postcode="B1 1AA")
    for policy in (LOOKUP, PORTFOLIO):
        valued = value_site(idno, None if policy is LOOKUP else _frame(), policy=policy,
                            flex_fraction=0.3, on=DAY, area_lookup=_b_is_e)
        assert valued.area.distributor_id == 14 and valued.area.source == "postcode"
        assert valued.tariff.dno_id == 24


def test_policies_are_frozen_values() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LOOKUP.partial = False  # type: ignore[misc]
    assert LOOKUP != PORTFOLIO and hash(LOOKUP) != hash(PORTFOLIO)


def test_without_a_profile_a_tariff_per_year_gives_the_years_tariff() -> None:
    site = Site(parse_mpan(CORE_14), voltage="HV", kva=400)
    valued = value_site(site, None, policy=PORTFOLIO, flex_fraction=0.3, on=DAY)
    assert valued.tariff == resolve_tariff(14, on=dt.date(2026, 4, 1), voltage="HV", kva=400)
    assert valued.duos is None and valued.flexibility is None


def test_each_charging_years_tariff_is_resolved_once_per_site(monkeypatch) -> None:
    """With a tariff per year, charging asks for every year's tariff and the result for the
    first year's again: each year is resolved once, and the result's tariff is the one that
    charged its year."""
    import bess_duos.core.valuation as valuation

    asked: list[int | None] = []
    resolve = valuation._resolve

    def counted(query, policy, warnings):
        asked.append(query.on.year if query.on else None)
        return resolve(query, policy, warnings)

    monkeypatch.setattr(valuation, "_resolve", counted)
    site = Site(parse_mpan(generate_cores(1, 14, seed=12)[0]), voltage="HV", kva=300.0)
    valued = value_site(site, _frame("2026-03-20", "2026-04-20"), policy=PORTFOLIO,
                        flex_fraction=0.3)
    assert valued.duos.charging_years == (2025, 2026)
    assert sorted(asked) == [2025, 2026]  # before: 2025 twice
    assert valued.tariff.year == 2025 and valued.tariff.tariff_name in valued.duos.tariffs[0]


def test_a_profile_given_as_its_kwh_series_is_valued_as_its_frame() -> None:
    """A profile may be its `kwh` column alone (the portfolio's sliced profiles are): every
    figure, warning and note is the frame's, together with frames (the portfolio) and alone
    with results remembered (the lookup's memo key)."""
    cores = generate_cores(3, 14, seed=11)
    frame = _frame("2026-03-20", "2026-04-20")  # two charging years
    sites = [Site(parse_mpan(cores[0]), voltage="HV", kva=300.0),
             Site(parse_mpan(cores[1]), voltage="LV"), Site(parse_mpan(cores[2]), voltage="LV")]
    profiles = [frame, frame * 0.5, frame * 2.0]
    as_frames = value_sites([SiteJob(s, p) for s, p in zip(sites, profiles, strict=True)],
                            policy=PORTFOLIO, flex_fraction=0.3)
    mixed = value_sites([SiteJob(sites[0], profiles[0]["kwh"]), SiteJob(sites[1], profiles[1]),
                         SiteJob(sites[2], profiles[2]["kwh"])],
                        policy=PORTFOLIO, flex_fraction=0.3)
    for framed, given in zip(as_frames, mixed, strict=True):
        assert given.duos == framed.duos and given.duos.total_gbp > 0
        assert np.array_equal(given.bands, framed.bands)
        assert given.flexibility.value_gbp == framed.flexibility.value_gbp > 0
        assert given.kwh.equals(framed.kwh)
        assert (given.warnings, given.notes) == (framed.warnings, framed.notes)
    looked = value_site(sites[0], frame["kwh"], policy=LOOKUP, flex_fraction=0.3, on=DAY)
    again = value_site(sites[0], frame, policy=LOOKUP, flex_fraction=0.3, on=DAY)
    assert looked.duos == again.duos and looked.duos.total_gbp > 0
    assert looked.flexibility.value_gbp == again.flexibility.value_gbp


def test_sites_valued_together_equal_each_alone_and_keep_their_own_failures(monkeypatch) -> None:
    """value_sites charges and plans the sites of one grid as one array; each result equals
    value_site's for that site alone, and a site the batch cannot take (here a tariff name no
    year publishes: found only when charging) fails with its own stage and reason while the
    others are still valued together (the failing batch is halved until its parts succeed)."""
    import bess_duos.core.duos as duos

    batches: list[int] = []
    charge_many = duos.charge_many

    def counted(utc, kwh, *args, **kwargs):
        batches.append(len(kwh))
        return charge_many(utc, kwh, *args, **kwargs)

    monkeypatch.setattr(duos, "charge_many", counted)
    cores = generate_cores(4, 14, seed=3)
    frame = _frame("2026-03-20", "2026-04-20")  # across 1 April: two charging years
    jobs = [SiteJob(Site(parse_mpan(cores[0]), voltage="HV", kva=300.0), frame),
            SiteJob(Site(parse_mpan(cores[1]), voltage="LV"), frame * 0.5),
            SiteJob(Site(parse_mpan(cores[2]), voltage="LV", tariff_name="No Such Tariff"),
                    frame),
            SiteJob(Site(parse_mpan(cores[3]), voltage="HV", kva=150.0), frame * 2.0)]
    together = value_sites(jobs, policy=PORTFOLIO, flex_fraction=0.3)
    assert batches == [4, 2, 2]  # four fail; the first two succeed; the last two fail: alone
    failed = together[2]
    assert isinstance(failed, ValuationError) and failed.stage == "tariff"
    with pytest.raises(ValuationError) as alone_failure:
        value_site(jobs[2].site, frame, policy=PORTFOLIO, flex_fraction=0.3)
    assert failed.reason == alone_failure.value.reason
    for job, valued in zip(jobs, together, strict=True):
        if job is jobs[2]:
            continue
        alone = value_site(job.site, job.profile, policy=PORTFOLIO, flex_fraction=0.3)
        assert valued.duos == alone.duos and valued.duos.charging_years == (2025, 2026)
        assert np.array_equal(valued.bands, alone.bands)
        flex, flex_alone = valued.flexibility, alone.flexibility
        assert flex.value_gbp == flex_alone.value_gbp > 0
        assert flex.shifted_kwh == flex_alone.shifted_kwh
        assert flex.flexed_profile.equals(flex_alone.flexed_profile)
        assert valued.warnings == alone.warnings and valued.notes == alone.notes
    assert together[0].duos.total_gbp * 0.5 != together[1].duos.total_gbp  # LV vs HV rates


def test_remembered_results_are_keyed_by_the_profiles_own_times_and_values() -> None:
    """The lookup remembers DUoS, features and flexibility per profile digest: the same kWh on
    times a day later (a regular grid all the same), on an irregular grid, or with one value
    changed are other profiles, each charged as if nothing were remembered."""
    from bess_duos.core.valuation import clear_memos

    site = Site(parse_mpan(CORE_14), voltage="LV")
    frame = _frame("2026-06-01", "2026-06-15")
    later = frame.set_axis(frame.index + pd.Timedelta(days=1))
    gappy = frame.drop(frame.index[100:110])
    changed = frame.copy()
    changed.iloc[500, 0] += 1.0
    profiles = [frame, later, gappy, changed, frame]

    def totals() -> list[float]:
        return [value_site(site, p, policy=LOOKUP, flex_fraction=0.3, on=DAY).duos.unit_gbp
                for p in profiles]

    clear_memos()
    remembered = totals()  # each after the ones before it: the memo is warm
    fresh = []
    for profile in profiles:
        clear_memos()
        fresh.append(value_site(site, profile, policy=LOOKUP, flex_fraction=0.3,
                                on=DAY).duos.unit_gbp)
    assert remembered == fresh
    assert len(set(fresh[:4])) == 4 and fresh[4] == fresh[0]


def test_profiles_with_and_without_kvarh_on_one_grid_are_charged_together_by_kind(
        monkeypatch) -> None:
    """Sites of one grid, some with reactive energy: one batch per kind, each site as alone."""
    import bess_duos.core.duos as duos

    batches: list[tuple[int, bool]] = []
    charge_many = duos.charge_many

    def counted(utc, kwh, *args, **kwargs):
        batches.append((len(kwh), kwargs.get("kvarh") is not None))
        return charge_many(utc, kwh, *args, **kwargs)

    monkeypatch.setattr(duos, "charge_many", counted)
    cores = generate_cores(3, 14, seed=4)
    frame = _frame("2026-06-01", "2026-06-20")
    reactive = frame.assign(kvarh=frame["kwh"] * 0.9)
    jobs = [SiteJob(Site(parse_mpan(core), voltage="HV", kva=200.0), profile)
            for core, profile in zip(cores, [frame, reactive, frame * 1.5], strict=True)]
    together = value_sites(jobs, policy=PORTFOLIO, flex_fraction=0.3)
    assert sorted(batches) == [(1, True), (2, False)]
    for job, valued in zip(jobs, together, strict=True):
        alone = value_site(job.site, job.profile, policy=PORTFOLIO, flex_fraction=0.3)
        assert valued.duos == alone.duos
    assert together[1].duos.reactive_gbp > 0 == together[0].duos.reactive_gbp


def _sha256_digest(data: pd.DataFrame) -> bytes:
    """The memo key before issue 18: a SHA-256 of the zone, times (or grid) and numbers."""
    import hashlib

    from bess_duos.core.bands import half_hour_grid

    digest = hashlib.sha256(str(getattr(data.index, "tz", None)).encode())
    times = pd.DatetimeIndex(data.index).as_unit("ns").asi8
    grid = half_hour_grid(times)
    if grid is not None:
        digest.update(f"grid {grid[0]} {grid[1]};".encode())
    else:
        digest.update(memoryview(np.ascontiguousarray(times)))
    for name in data.columns:
        digest.update(repr(name).encode())
        digest.update(memoryview(np.ascontiguousarray(data[name].to_numpy(np.float64))))
    return digest.digest()


def test_a_valued_site_hands_back_its_profile_key_when_results_are_remembered() -> None:
    """The lookup reuses the valuation's key (its weekday load memo) instead of building it
    again: the key of a remembering policy is `profile_key`'s, and None when not remembered."""
    from bess_duos.core.valuation import profile_key

    site = Site(parse_mpan(CORE_14), kva=200)
    frame = _frame()
    looked = value_site(site, frame, policy=LOOKUP, flex_fraction=0.3, on=DAY)
    assert looked.key is not None and looked.key is profile_key(frame)
    forgetful = dataclasses.replace(LOOKUP, remember=False)
    assert value_site(site, frame, policy=forgetful, flex_fraction=0.3, on=DAY).key is None


def test_an_equal_profile_takes_the_key_seen_before() -> None:
    """Frames of the same times and numbers share one key object (so the memos find it by
    identity); a frame differing in one bit gets its own; `clear_memos` forgets them."""
    from bess_duos.core.valuation import clear_memos, profile_key

    clear_memos()
    index = pd.date_range("2025-04-01", periods=17_520, freq="30min", tz="UTC")
    kwh = np.random.default_rng(5).lognormal(0, 1, index.size)
    first = profile_key(pd.DataFrame({"kwh": kwh}, index=index))
    again = profile_key(pd.DataFrame({"kwh": kwh.copy()}, index=index.copy()))
    assert again is first
    changed = kwh.copy()
    changed[9_000] = np.nextafter(changed[9_000], np.inf)
    other = profile_key(pd.DataFrame({"kwh": changed}, index=index))
    assert other is not first and other != first
    clear_memos()
    fresh = profile_key(pd.DataFrame({"kwh": kwh}, index=index))
    assert fresh == first and fresh is not first


def test_profile_keys_are_equal_exactly_when_the_digests_are() -> None:
    """The memo key compares profiles in full: equal keys (and hashes) for frames whose
    SHA-256 digest is equal, unequal for every change of one bit, name, zone or time."""
    from bess_duos.core.valuation import profile_key

    rng = np.random.default_rng(18)
    frames = []
    for n in (2, 5, 17_520):
        index = pd.date_range("2025-03-29", periods=n, freq="30min", tz="UTC")
        base = pd.DataFrame({"kwh": rng.lognormal(0, 1, n)}, index=index)
        changed = [base.copy() for _ in range(8)]
        at = int(rng.integers(0, n))
        changed[0].iloc[at, 0] = np.nextafter(changed[0].iloc[at, 0], np.inf)  # one ulp
        changed[1].iloc[at, 0] = np.nan
        changed[2]["kwh"] = changed[2]["kwh"] * 0.0  # +0.0 ...
        changed[3]["kwh"] = changed[3]["kwh"] * -0.0  # ... and -0.0 are different bits
        changed[4] = changed[4].rename(columns={"kwh": "kWh"})
        changed[5].index = changed[5].index.tz_convert("Europe/London")  # same instants
        changed[6].index = changed[6].index[::-1]  # not a grid: times compared
        changed[7]["kvarh"] = 0.5
        nan_again = changed[1].copy()
        frames += [base, base.copy(), *changed, nan_again]
        # column types: ints beside floats, ints alone, float32 (each read as float64)
        whole = base.assign(kwh=np.floor(base["kwh"] * 10))
        frames += [whole, whole.astype(np.int64), whole.astype(np.float32),
                   base.assign(kvarh=np.arange(n)), base.assign(kvarh=np.arange(n) * 1.0),
                   base.assign(kvarh=np.arange(n, dtype=np.float32)),
                   base.assign(kvarh=True)]
        if n > 64:  # a number between the hashed sample's: same hash, still unequal
            other = base.copy()
            other.iloc[1, 0] += 1.0
            frames.append(other)
    keys = [profile_key(frame) for frame in frames]
    digests = [_sha256_digest(frame) for frame in frames]
    for i, (a, da) in enumerate(zip(keys, digests, strict=True)):
        for j, (b, db) in enumerate(zip(keys, digests, strict=True)):
            assert (a == b) == (da == db), (i, j)
            if da == db:
                assert hash(a) == hash(b)
    assert profile_key(pd.DataFrame({"kwh": ["a", "b"]}, index=frames[0].index)) is None


def test_the_refusing_kwh_series_is_what_validate_profile_builds() -> None:
    """The portfolio's kWh series (gaps refused): a UTC float frame's own column, checked by
    validate_profile's rules, equal to the series it builds; other frames go through it;
    the same errors (stage ``profile``) for gaps, NaN and hourly data."""
    from bess_duos.core.features import validate_profile
    from bess_duos.core.valuation import _kwh_series, _Run

    rng = np.random.default_rng(18)
    frames = []
    for n in (1, 2, 48, 17_520):
        index = pd.date_range("2025-03-29 22:00", periods=n, freq="30min", tz="UTC")
        kwh = rng.lognormal(0, 1, n)
        frames += [pd.DataFrame({"kwh": kwh}, index=index),
                   pd.DataFrame({"kwh": kwh, "kvarh": kwh / 3}, index=index),
                   pd.DataFrame({"kwh": kwh.astype(np.float32)}, index=index),
                   pd.DataFrame({"kwh": kwh}, index=index.tz_convert("Europe/London")),
                   pd.DataFrame({"kwh": kwh}, index=index.as_unit("us"))]
        if n > 2:
            frames += [pd.DataFrame({"kwh": np.where(np.arange(n) == n // 2, np.nan, kwh)},
                                    index=index),
                       pd.DataFrame({"kwh": kwh[:-1]}, index=index.delete(n // 2)),
                       pd.DataFrame({"kwh": kwh}, index=pd.date_range(
                           "2025-03-29", periods=n, freq="60min", tz="UTC"))]
    for frame in frames:
        run = _Run(PORTFOLIO, None, None, None, None, [], [])  # type: ignore[arg-type]
        try:
            want = validate_profile(frame["kwh"].rename("kwh"), "site 'a'")
        except ValueError as exc:
            with pytest.raises(ValuationError, match="^" + re.escape(str(exc)) + "$") as got:
                _kwh_series(frame, run, "site 'a'")
            assert got.value.stage == "profile"
            continue
        got = _kwh_series(frame, run, "site 'a'")
        pd.testing.assert_series_equal(got, want, check_exact=True)
        assert got.index.equals(want.index) and str(got.index.tz) == "UTC"


def test_flexibility_against_rates_as_an_array_equals_them_as_a_series() -> None:
    """The lookup hands finite DUoS rates to the flexibility as an array: on seeded random
    profiles (UTC, UK and second-unit indexes, several lengths) and rates, the result equals
    planning against the same rates as a Series on the profile's index; a NaN rate still
    gives the Series' refusal."""
    from bess_duos.core.flexibility import plan_flexibility
    from bess_duos.core.valuation import LOOKUP, _flexibility, _Run

    tariff = resolve_tariff(14, on=DAY, voltage="LV")
    for seed in range(24):
        rng = np.random.default_rng(18_000 + seed)
        n = int(rng.choice([48, 50, 336, 1_488]))
        start = pd.Timestamp("2026-03-28 23:00", tz="UTC") + pd.Timedelta(
            minutes=30 * int(rng.integers(0, 400)))
        index = pd.date_range(start, periods=n, freq="30min")
        if seed % 3 == 1:
            index = index.tz_convert("Europe/London")
        elif seed % 3 == 2:
            index = index.as_unit("s")
        series = pd.Series(rng.lognormal(0, 1, n) * rng.choice([1.0, 0.0], n, p=[0.9, 0.1]),
                           index=index, name="kwh")
        rates = rng.choice([tariff.red_rate, tariff.amber_rate, tariff.green_rate,
                            float(rng.uniform(0, 30))], n)
        share = float(rng.choice([0.0, 0.3, 1.0]))
        run = _Run(LOOKUP, tariff, None, None, None, [], [])
        got = _flexibility(series, rates, share, run)
        expected = plan_flexibility(series, pd.Series(rates, index=series.index),
                                    published_rates=True).value(share)
        for name in ("value_gbp", "saving_pct", "base_cost_gbp", "flexed_cost_gbp",
                     "shifted_kwh", "annual_value_gbp", "power_limit_kw"):
            assert np.array_equal(getattr(got, name), getattr(expected, name), equal_nan=True)
        assert got.flexed_profile.equals(expected.flexed_profile)
        assert not run.warnings
    rates[3] = np.nan
    run = _Run(LOOKUP, tariff, None, None, None, [], [])
    assert _flexibility(series, rates, 0.3, run) is None
    with pytest.raises(ValueError) as refused:
        plan_flexibility(series, pd.Series(rates, index=series.index), published_rates=True)
    assert run.warnings == [f"flexibility not computed: {refused.value}"]


def test_stacked_rows_equals_vstack_and_views_only_rows_laid_one_after_another() -> None:
    """`stacked_rows` gives np.vstack's array (read-only); it is a view of the rows' own array
    only where the rows lie one after another in it, in order, else a copy."""
    from bess_duos.core.valuation import stacked_rows

    rng = np.random.default_rng(51_000)
    for seed in range(40):
        n, size = int(rng.integers(1, 9)), int(rng.integers(1, 60))
        part = rng.normal(size=2 * (n + 2) * (size + 1))  # room for every case's rows
        rows = [part[i * size:(i + 1) * size] for i in range(n)]  # one after another
        cases = {"consecutive": (rows, True),
                 "offset": ([part[1 + i * size:1 + (i + 1) * size] for i in range(n)], True),
                 "reversed": (rows[::-1], n == 1),
                 "gap": ([part[i * (size + 1):i * (size + 1) + size] for i in range(n)],
                         n == 1),
                 "copies": ([row.copy() for row in rows], False),
                 "strided": ([part[i:i + 2 * size:2] for i in range(n)], False)}
        for name, (case, viewed) in cases.items():
            got = stacked_rows(case)
            assert np.array_equal(got, np.vstack(case)), (seed, name)
            assert got.shape == (n, size) and not got.flags.writeable, (seed, name)
            if viewed is not None:
                assert np.shares_memory(got, part) == viewed, (seed, name)
