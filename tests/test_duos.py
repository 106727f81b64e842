"""DUoS charges, hand-worked from the NGED West Midlands (14) workbooks' HV rates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.duos import (
    REACTIVE_FREE_RATIO,
    DuosError,
    calculate_duos_costs,
    charge_arrays,
    duos_charges,
    duos_for_site,
)
from bess_duos.core.tariffs import DuosTariff, TariffQuery
from bess_duos.core.timebands import TimeBands
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.mide_2026 import MIDE_PERIODS

# Time bands: tests/mide_2026.py (the 2026 and 2025 MIDE workbooks' Annex 1, rows 5-8).
# HV Site Specific No Residual (LLFCs H00, HST), the same workbooks' sheet 'Annex 1 LV, HV and UMS
# charges', row 30 of each workbook:
#   2026: red 1.764, amber 0.205, green 0.011 p/kWh, fixed 105.84 p/day, capacity 9.26,
#         exceeded 9.26 p/kVA/day, reactive 0.027 p/kVArh
#   2025: red 1.642, amber 0.237, green 0.021 p/kWh, fixed 110.87 p/day, capacity 9.5,
#         exceeded 9.5 p/kVA/day, reactive 0.037 p/kVArh
HV_2026 = DuosTariff(
    14, "HV Site Specific No Residual", "HV", 1.764, 0.205, 0.011, 105.84, 9.26, 9.26, 0.027,
    year=2026, time_bands=TimeBands(14, 2026, MIDE_PERIODS),
)  # fmt: skip
HV_2025 = DuosTariff(
    14, "HV Site Specific No Residual", "HV", 1.642, 0.237, 0.021, 110.87, 9.5, 9.5, 0.037,
    year=2025, time_bands=TimeBands(14, 2025, MIDE_PERIODS),
)  # fmt: skip
BOTH_YEARS = {2025: HV_2025, 2026: HV_2026}


def _week_profile(start_local: str, red: float, amber: float, green: float, weekend: float):
    """kWh per half hour by band over 7 UK days from `start_local` (a Monday), UTC-indexed."""
    first = pd.Timestamp(start_local, tz="Europe/London")
    # Every half hour of the 7 UK days (46 or 50 on a clock-change Sunday).
    local = pd.date_range(first, first + pd.DateOffset(days=7), freq="30min", inclusive="left")
    minutes = local.hour * 60 + local.minute
    is_red = (minutes >= 16 * 60) & (minutes < 19 * 60)
    is_amber = ((minutes >= 7 * 60 + 30) & (minutes < 16 * 60)) | (
        (minutes >= 19 * 60) & (minutes < 21 * 60)
    )
    kwh = np.where(is_red, red, np.where(is_amber, amber, green))
    kwh = np.where(local.day_of_week >= 5, weekend, kwh)
    return pd.DataFrame({"kwh": kwh}, index=local.tz_convert("UTC"))


def test_week_in_june_gives_the_hand_worked_total() -> None:
    # Mon 8 - Sun 14 June 2026 (BST). Per weekday: red 6 half hours x 10 kWh = 60 kWh,
    # amber 21 x 4 = 84, green 21 x 1 = 21; weekend 96 half hours x 2 = 192 kWh (all green).
    # kWh: red 5 x 60 = 300, amber 5 x 84 = 420, green 5 x 21 + 192 = 297.
    # Units: 300 x 1.764 = 529.2 p; 420 x 0.205 = 86.1 p; 297 x 0.011 = 3.267 p -> £6.18567.
    # Fixed 7 x 105.84 = 740.88 p = £7.4088. Capacity 300 kVA x 9.26 x 7 = 19,446 p = £194.46.
    # Max demand 2 x 10 / 0.95 = 21.05 kVA < 300: no exceeded capacity. No kVArh: no reactive.
    # Total £6.18567 + £7.4088 + £194.46 = £208.05447.
    result = duos_charges(_week_profile("2026-06-08", 10, 4, 1, 2), HV_2026, agreed_kva=300)
    s = result.summary
    assert s.kwh_by_band == {"red": 300.0, "amber": 420.0, "green": 297.0}
    assert s.unit_gbp_by_band["red"] == pytest.approx(5.292, abs=1e-12)
    assert s.unit_gbp_by_band["amber"] == pytest.approx(0.861, abs=1e-12)
    assert s.unit_gbp_by_band["green"] == pytest.approx(0.03267, abs=1e-12)
    assert s.unit_gbp == pytest.approx(6.18567, abs=1e-9)
    assert s.fixed_gbp == pytest.approx(7.4088, abs=1e-9)
    assert s.capacity_gbp == pytest.approx(194.46, abs=1e-9)
    assert s.exceeded_capacity_gbp == 0
    assert s.reactive_gbp == 0
    assert s.total_gbp == pytest.approx(208.05447, abs=1e-9)
    assert s.days_covered == 7 and s.weekday_days == 5 and s.weekend_days == 2
    assert s.max_demand_kva == pytest.approx(20 / 0.95)
    assert s.assumed_power_factor == 0.95
    # The per-half-hour frame: seed columns, and the rows sum back to the total.
    frame = result.frame
    assert frame["duos_total_cost"].sum() == pytest.approx(208.05447, abs=1e-9)
    assert frame["duos_unit_cost"].sum() == pytest.approx(6.18567, abs=1e-9)
    at_1600_bst = frame.loc[pd.Timestamp("2026-06-08 15:00", tz="UTC")]
    assert at_1600_bst["band"] == "red" and at_1600_bst["unit_rate_p_per_kwh"] == 1.764


def test_week_annualised_by_day_type() -> None:
    # Units + reactive by day type: weekday £ = 5 x (60 x 1.764 + 84 x 0.205 + 21 x 0.011)/100
    # = 5 x 1.23291 = £6.16455 over 5 days; weekend £ = 192 x 0.011 / 100 = £0.02112 over 2.
    # Year: 1.23291 x 365 x 5/7 + 0.01056 x 365 x 2/7; per-day (fixed + capacity):
    # (7.4088 + 194.46) / 7 x 365.
    s = duos_charges(_week_profile("2026-06-08", 10, 4, 1, 2), HV_2026, agreed_kva=300).summary
    expected = 1.23291 * 365 * 5 / 7 + 0.01056 * 365 * 2 / 7 + (7.4088 + 194.46) / 7 * 365
    assert s.annualised_total_gbp == pytest.approx(expected, abs=1e-9)
    assert "by day type" in s.annualisation_method
    assert "52" not in s.annualisation_method


def test_full_year_is_summed() -> None:
    index = pd.date_range("2026-04-01", "2027-04-01", freq="30min", tz="Europe/London")[:-1]
    profile = pd.DataFrame({"kwh": 1.0}, index=index.tz_convert("UTC"))
    s = duos_charges(profile, HV_2026, agreed_kva=100).summary
    assert s.days_covered == 365
    assert s.annualised_total_gbp == s.total_gbp
    assert s.annualisation_method.startswith("full year")
    # 365 days x 105.84 p fixed, 100 kVA x 9.26 p x 365 days.
    assert s.fixed_gbp == pytest.approx(365 * 1.0584)
    assert s.capacity_gbp == pytest.approx(365 * 100 * 0.0926)


def test_exceeded_capacity_and_reactive_with_kvarh() -> None:
    # Same June week, red half hours also draw 6 kVArh (others 0). Agreed capacity 20 kVA.
    # kVA in a red half hour = 2 x sqrt(10^2 + 6^2) = 23.3238...; June's excess
    # 23.3238 - 20 = 3.3238 kVA, charged 9.26 p/kVA/day on the 7 June days with data.
    # Chargeable reactive per red half hour = 6 - 10 x sqrt(1/0.95^2 - 1), the square root "to
    # two decimal places" (ESP LC14 DUoS statement April 2026, para 2.52) = 6 - 10 x 0.33 =
    # 2.7 kVArh; 30 red half hours -> 81 kVArh x 0.027 p.
    profile = _week_profile("2026-06-08", 10, 4, 1, 2)
    profile["kvarh"] = np.where(profile["kwh"] == 10, 6.0, 0.0)
    s = duos_charges(profile, HV_2026, agreed_kva=20).summary
    kva_peak = 2 * math.sqrt(10**2 + 6**2)
    assert s.max_demand_kva == pytest.approx(kva_peak)
    assert s.assumed_power_factor is None
    assert s.exceeded_kva_by_month == {"2026-06": pytest.approx(kva_peak - 20)}
    assert s.exceeded_capacity_gbp == pytest.approx((kva_peak - 20) * 9.26 * 7 / 100)
    assert abs(REACTIVE_FREE_RATIO - 0.328684) < 1e-6  # tan(acos(0.95))
    assert s.chargeable_kvarh == pytest.approx(30 * (6 - 10 * 0.33))
    assert s.reactive_gbp == pytest.approx(30 * (6 - 10 * 0.33) * 0.027 / 100)
    assert s.capacity_gbp == pytest.approx(20 * 9.26 * 7 / 100)
    assert s.total_gbp == pytest.approx(
        6.18567 + 7.4088 + s.capacity_gbp + s.exceeded_capacity_gbp + s.reactive_gbp
    )


def test_assumed_power_factor_sets_max_demand() -> None:
    # Without kVArh, kVA = 2 x kWh / pf. With pf 0.8 the 10 kWh half hours are 25 kVA: 5 over 20.
    s = duos_charges(
        _week_profile("2026-06-08", 10, 4, 1, 2), HV_2026, agreed_kva=20, power_factor=0.8
    ).summary
    assert s.max_demand_kva == pytest.approx(25.0)
    assert s.assumed_power_factor == 0.8
    assert s.exceeded_capacity_gbp == pytest.approx(5 * 9.26 * 7 / 100)


def test_profile_spanning_1_april_2026_uses_both_years() -> None:
    # Mon 30 Mar - Sun 5 Apr 2026, 1 kWh every half hour. 30, 31 March are charging year
    # 2025; 1-5 April are 2026 (Fri 3 April, Good Friday, is an ordinary weekday).
    # 2025, 2 weekdays: red 12 x 1.642 = 19.704, amber 42 x 0.237 = 9.954, green 42 x 0.021
    #   = 0.882 -> 30.54 p.
    # 2026, 3 weekdays + weekend: red 18 x 1.764 = 31.752, amber 63 x 0.205 = 12.915,
    #   green (63 + 96) x 0.011 = 1.749 -> 46.416 p.
    # Fixed 2 x 110.87 + 5 x 105.84 = 750.94 p. Capacity 300 x (2 x 9.5 + 5 x 9.26) = 19,590 p.
    # Total (30.54 + 46.416 + 750.94 + 19,590) / 100 = £204.17896.
    profile = _week_profile("2026-03-30", 1, 1, 1, 1)
    s = duos_charges(profile, BOTH_YEARS, agreed_kva=300).summary
    assert s.charging_years == (2025, 2026)
    assert s.kwh_by_band == {"red": 30.0, "amber": 105.0, "green": 201.0}
    assert s.unit_gbp == pytest.approx((30.54 + 46.416) / 100, abs=1e-12)
    assert s.fixed_gbp == pytest.approx(7.5094, abs=1e-12)
    assert s.capacity_gbp == pytest.approx(195.90, abs=1e-9)
    assert s.total_gbp == pytest.approx(204.17896, abs=1e-9)
    # With the 2026 tariff alone the answer differs (and says so).
    only_2026 = duos_charges(profile, HV_2026, agreed_kva=300).summary
    assert only_2026.total_gbp != pytest.approx(s.total_gbp)
    assert any("applied to charging year 2025/26" in n for n in only_2026.notes)


def test_missing_year_tariff_is_a_clear_error() -> None:
    with pytest.raises(DuosError, match="no tariff for charging year 2025/26"):
        duos_charges(_week_profile("2026-03-30", 1, 1, 1, 1), {2026: HV_2026})


def test_utc_and_local_copies_of_a_clock_change_week_agree() -> None:
    # 19-25 Oct 2026 (25 Oct has 50 half hours). Seed API with naive local times vs UTC times.
    utc_profile = _week_profile("2026-10-19", 10, 4, 1, 2)
    naive_local = utc_profile.index.tz_convert("Europe/London").tz_localize(None)
    local_df = pd.DataFrame({"timestamp": naive_local, "kwh": utc_profile["kwh"].to_numpy()})
    utc_df = pd.DataFrame({"timestamp": utc_profile.index, "kwh": utc_profile["kwh"].to_numpy()})
    from_local = calculate_duos_costs(local_df, HV_2026, kva_capacity=300)
    from_utc = calculate_duos_costs(utc_df, HV_2026, kva_capacity=300)
    assert list(from_local["band"]) == list(from_utc["band"])
    assert from_local["duos_total_cost"].sum() == pytest.approx(from_utc["duos_total_cost"].sum())
    # Same week, same kWh per band as the June week, 7 days: £208.05447 + 2 extra green
    # weekend half hours on 25 Oct (the repeated hour) x 2 kWh x 0.011 p.
    assert from_utc["duos_total_cost"].sum() == pytest.approx(208.05447 + 4 * 0.011 / 100)


def test_seed_api_keeps_rows_and_accepts_consumption_kwh() -> None:
    profile = _week_profile("2026-06-08", 10, 4, 1, 2)
    df = pd.DataFrame({"consumption_kwh": profile["kwh"].to_numpy()}, index=profile.index)
    out = calculate_duos_costs(df, HV_2026, kva_capacity=300)
    assert list(out.columns) == ["consumption_kwh", "band", "unit_rate_p_per_kwh", "duos_unit_cost",
                                 "duos_fixed_cap_cost", "duos_reactive_cost", "duos_total_cost"]
    parts = out[["duos_unit_cost", "duos_fixed_cap_cost", "duos_reactive_cost"]].sum(axis=1)
    assert np.allclose(parts, out["duos_total_cost"])
    assert out.index.equals(df.index)
    assert out["duos_total_cost"].sum() == pytest.approx(208.05447, abs=1e-9)
    # 16:00 BST on Monday 8 June: red, 10 kWh x 1.764 p = £0.1764.
    assert out.loc[pd.Timestamp("2026-06-08 15:00", tz="UTC"), "duos_unit_cost"] == pytest.approx(
        0.1764
    )


def test_seed_api_errors_name_the_columns() -> None:
    with pytest.raises(DuosError, match=r"'kwh' or 'consumption_kwh' column \(or 'kw'"):
        calculate_duos_costs(pd.DataFrame({"timestamp": ["2026-06-08T00:00Z"], "load": [1.0],
                                           "site": ["a"]}), HV_2026)
    with pytest.raises(DuosError, match=r"'timestamp' \(or 'datetime'\) column or a DatetimeIndex"):
        calculate_duos_costs(pd.DataFrame({"kwh": [1.0]}), HV_2026)


def test_nan_kwh_is_refused_not_summed_as_zero() -> None:
    profile = _week_profile("2026-06-08", 10, 4, 1, 2)
    profile.iloc[3, 0] = np.nan
    with pytest.raises(DuosError, match="1 kWh values are missing"):
        duos_charges(profile, HV_2026)


def test_tariff_without_time_bands_needs_them() -> None:
    bare = DuosTariff(14, "HV", "HV", 1.764, 0.205, 0.011)
    profile = _week_profile("2026-06-08", 10, 4, 1, 2)
    try:
        from bess_duos.core.tariffs import load_time_bands  # noqa: F401
    except ImportError:
        with pytest.raises(DuosError, match="has no time_bands"):
            duos_charges(profile, bare)
    else:
        # The resolver reads MIDE's own bands, so the units match the hand-worked week.
        assert duos_charges(profile, bare).summary.unit_gbp == pytest.approx(6.18567)


def test_summary_to_dict_and_format() -> None:
    s = duos_charges(_week_profile("2026-06-08", 10, 4, 1, 2), HV_2026, agreed_kva=300).summary
    data = s.to_dict()
    assert data["total_gbp"] == pytest.approx(208.05447)
    assert data["total_kwh"] == 1017.0
    text = s.format()
    assert "Total             £      208.05" in text and "partial year (7 days)" in text


def test_duos_for_site_resolves_each_years_tariff_from_the_workbooks() -> None:
    # 300 kVA at HV in area 14 is residual band 1 (2026 workbook: 0 < kVA <= 500), so
    # 'HV Site Specific Band 1' (row 31): same unit and capacity rates as row 30, fixed
    # 824.91 p/day. June week: units £6.18567 + fixed 7 x 824.91 = 5,774.37 p = £57.7437 +
    # capacity £194.46 = £258.38937.
    profile = _week_profile("2026-06-08", 10, 4, 1, 2)
    s = duos_for_site(profile, TariffQuery(14, voltage="HV", kva=300)).summary
    assert s.total_gbp == pytest.approx(258.38937, abs=1e-9)
    assert s.tariffs[0].startswith("HV Site Specific Band 1 (distributor 14, HV 2026/27)")
    assert any("residual band 1" in note for note in s.notes)
    # Across 1 April the 2025 row 31 applies to 30-31 March: fixed 443.28 p/day, capacity 9.5.
    # Units as in the spanning test (30.54 + 46.416 p); fixed 2 x 443.28 + 5 x 824.91 =
    # 5,011.11 p; capacity 300 x (2 x 9.5 + 5 x 9.26) = 19,590 p -> 24,678.066 p = £246.78066.
    spanning = duos_for_site(_week_profile("2026-03-30", 1, 1, 1, 1),
                             TariffQuery(14, voltage="HV", kva=300))
    assert spanning.summary.total_gbp == pytest.approx(246.78066, abs=1e-9)


def test_late_march_week_from_a_naive_local_file(tmp_path) -> None:
    # Mon 23 - Sun 29 Mar 2026 written in UK clock time; Sunday has 46 half hours (no 01:00,
    # 01:30). Weekdays as the June week: red 300, amber 420, green 105 kWh; weekend
    # (48 + 46) x 2 = 188 kWh green.
    from bess_duos.core.profiles import load_profile

    utc = _week_profile("2026-03-23", 10, 4, 1, 2)
    local = utc.index.tz_convert("Europe/London").strftime("%Y-%m-%d %H:%M")
    pd.DataFrame({"timestamp": local, "kwh": utc["kwh"].to_numpy()}).to_csv(
        tmp_path / "march.csv", index=False
    )
    profile = load_profile(tmp_path / "march.csv")
    assert profile.data.shape[0] == 6 * 48 + 46
    s = duos_charges(profile.data, BOTH_YEARS, agreed_kva=300).summary
    assert s.kwh_by_band == {"red": 300.0, "amber": 420.0, "green": 293.0}
    # All seven days are charging year 2025 (before 1 April): the 2025 rates apply.
    # Units 300 x 1.642 + 420 x 0.237 + 293 x 0.021 = 492.6 + 99.54 + 6.153 = 598.293 p.
    assert s.charging_years == (2025,)
    assert s.unit_gbp == pytest.approx(5.98293, abs=1e-12)


def test_two_years_are_averaged_to_one_by_day_type() -> None:
    # 1 Apr 2026 - 31 Mar 2028 at a flat 1 kWh per half hour with the 2026 tariff for both
    # years: the annualised figure is the two-year total scaled to 365 days by day type, so
    # it lies close to half the total (not the total, not x 52 of a week).
    index = pd.date_range("2026-04-01", "2028-04-01", freq="30min", tz="Europe/London")[:-1]
    profile = pd.DataFrame({"kwh": 1.0}, index=index.tz_convert("UTC"))
    s = duos_charges(profile, HV_2026, agreed_kva=100).summary
    assert s.days_covered == 731
    assert "731 days, more than a year" in s.annualisation_method
    assert s.annualised_total_gbp == pytest.approx(s.total_gbp / 2, rel=0.002)
    # Per-day charges: (fixed 105.84 + capacity 100 x 9.26) p x 365 exactly.
    weekday_kwh_gbp = (6 * 1.764 + 21 * 0.205 + 21 * 0.011) / 100  # one weekday's units
    weekend_kwh_gbp = 48 * 0.011 / 100
    expected = (
        weekday_kwh_gbp * 365 * 5 / 7 + weekend_kwh_gbp * 365 * 2 / 7 + (105.84 + 926) / 100 * 365
    )
    # Clock-change days make the per-day-type averages differ by a hair from a clean day.
    assert s.annualised_total_gbp == pytest.approx(expected, rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(0, 3 * 365 * 48),  # any half hour from April 2025 to early 2028
    length=st.integers(1, 20 * 48),
    seed=st.integers(0, 2**16),
)
def test_utc_and_local_inputs_always_agree(start: int, length: int, seed: int) -> None:
    from bess_duos.core.profiles import load_profile

    utc = pd.date_range("2025-04-01", periods=start + length, freq="30min", tz="UTC")[start:]
    # A naive file that starts inside the second (GMT) pass of October's repeated hour cannot
    # say so: row order is the only clue (documented limitation).
    first_local = utc[0].tz_convert("Europe/London")
    assume(
        not (
            first_local.month == 10
            and first_local.hour == 1
            and first_local.dst() == pd.Timedelta(0)
        )
    )
    kwh = np.random.default_rng(seed).gamma(2.0, 5.0, length)
    naive_local = utc.tz_convert("Europe/London").tz_localize(None).strftime("%Y-%m-%d %H:%M")
    as_local = load_profile(pd.DataFrame({"timestamp": naive_local, "kwh": kwh})).data
    as_utc = load_profile(pd.DataFrame({"timestamp": utc, "kwh": kwh})).data
    pd.testing.assert_frame_equal(as_local, as_utc)
    tariffs = {year: HV_2026 for year in (2025, 2026, 2027, 2028)}
    a = duos_charges(as_local, tariffs, agreed_kva=50).summary
    b = duos_charges(as_utc, tariffs, agreed_kva=50).summary
    assert a == b


def test_net_export_half_hours_are_not_credited_on_the_import_tariff() -> None:
    # HV_2026 (row 30 above): Monday 8 June 2026, 16:00-17:00 BST is red (1.764 p/kWh);
    # +10 kWh then -4 kWh. Units billed: 10 x 1.764 p = 17.64 p = £0.1764, no credit for the
    # -4 kWh; fixed 105.84 p for the one day = £1.0584.
    utc = pd.DatetimeIndex(["2026-06-08 15:00", "2026-06-08 15:30"], tz="UTC")
    _, summary = charge_arrays(utc, np.array([10.0, -4.0]), HV_2026)
    assert summary.unit_gbp == pytest.approx(0.1764)
    assert summary.total_gbp == pytest.approx(0.1764 + 1.0584)
    assert summary.kwh_by_band["red"] == pytest.approx(10.0)
    assert any("net export (4.0 kWh) not charged" in note for note in summary.notes)
