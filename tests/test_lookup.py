"""core.lookup: input checks, the area rules wiring, tariff choice, and hand-worked numbers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.area_resolver import AreaResult
from bess_duos.core.duos import duos_charges, unit_costs
from bess_duos.core.features import profile_features
from bess_duos.core.flexibility import calculate_flexibility_value
from bess_duos.core.lookup import (
    InputErrors,
    LookupFailed,
    parse_inputs,
    run_lookup,
    year_label,
)
from bess_duos.core.postcodes import Postcode
from bess_duos.core.synthetic import generate_profile
from bess_duos.core.tariffs import resolve_tariff
from bess_duos.webhook.layout import default_layout, result_fields

DAY = dt.date(2026, 11, 24)
SEED = "00800999932 1405566778899"
GOOD_14 = "1405566778898"
IDNO_24 = "2451182162479"
AREAS = {"B": "_E", "SW": "_C"}


def fake_area(pc: Postcode) -> AreaResult:
    group = AREAS[pc.area]
    return AreaResult(pc, group, (group,), "test", "test", "postcode", "high", False,
                      dt.datetime.now(dt.UTC))


# --- inputs ------------------------------------------------------------------------------


def test_parse_inputs_reads_sheet_strings() -> None:
    inputs = parse_inputs({"mpan": SEED, "voltage": "lv sub", "kva": "1,000 kVA",
                           "flex_fraction": "25%", "postcode": "b1 1aa",
                           "profile_url": " https://x.test/p.csv "})
    assert inputs.mpan is not None and inputs.mpan.core == "1405566778899"
    assert inputs.mpan.check_digit_valid is False and inputs.mpan.distributor_id == 14
    assert (inputs.voltage, inputs.kva, inputs.flex_fraction) == ("LV Sub", 1000.0, 0.25)
    assert inputs.postcode == "B1 1AA" and inputs.profile_url == "https://x.test/p.csv"


@pytest.mark.parametrize(("given", "expected"), [
    ("30%", 0.30), ("0.3", 0.30), (0.45, 0.45), (40, 0.40), ("", 0.30), (None, 0.30), ("0", 0.0),
])
def test_flex_fraction_forms(given: object, expected: float) -> None:
    assert parse_inputs({"mpan": GOOD_14, "flex_fraction": given}).flex_fraction == (
        pytest.approx(expected))


def test_mpan_as_sheet_number() -> None:
    assert parse_inputs({"mpan": 1405566778898}).mpan.core == GOOD_14
    assert parse_inputs({"mpan": 1405566778898.0}).mpan.core == GOOD_14
    seed_number = parse_inputs({"mpan": 1405566778899.0}).mpan
    assert seed_number.core == "1405566778899" and not seed_number.check_digit_valid
    with pytest.raises(InputErrors) as info:
        parse_inputs({"mpan": "1.40556677889E+12"})
    assert "rounded" in info.value.errors["mpan"]


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InputErrors) as info:
        parse_inputs({"mpan": "99-123", "voltage": "MV", "kva": "0", "flex_fraction": "150%",
                      "postcode": "NOT A POSTCODE", "profile_url": 5})
    assert set(info.value.errors) == {"mpan", "voltage", "kva", "flex_fraction", "postcode",
                                      "profile_url"}
    assert "LV, LV Sub, HV, EHV" in info.value.errors["voltage"]
    with pytest.raises(InputErrors) as info:
        parse_inputs({"mpan": " ", "postcode": ""})
    assert set(info.value.errors) == {"mpan", "postcode"}
    with pytest.raises(InputErrors) as info:
        parse_inputs({"mpan": GOOD_14, "spreadsheet": "x"})
    assert info.value.errors == {"spreadsheet": "unknown input field"}


# --- rules and tariff --------------------------------------------------------------------


def test_seed_example_names_14_reports_check_digit_and_computes() -> None:
    result = run_lookup(parse_inputs({"mpan": SEED}), on=DAY)
    tariff = resolve_tariff(14, on=DAY)
    assert result.status == "warning"
    assert "wrong check digit (expected 8)" in result.message
    fields = result_fields(result)
    assert fields["distributor_id"] == 14 and fields["mpid"] == "MIDE"
    assert fields["gsp_group_id"] == "_E" and fields["gsp_group_name"] == "Midlands"
    # NGED West Midlands 2026/27 LV site-specific band 1, as published (Annex 1 row 21).
    assert (fields["red_rate_p_per_kwh"], fields["amber_rate_p_per_kwh"],
            fields["green_rate_p_per_kwh"]) == (6.515, 0.827, 0.1) == tariff.unit_rates_p_per_kwh
    assert [fields[f"red_period_{i}"] for i in range(1, 5)] == [
        "Mon–Fri 16:00–19:00", None, None, None]
    assert fields["green_period_3"] == "Sat–Sun 00:00–24:00"
    assert fields["annual_duos_gbp"] is None and "no profile" in " ".join(result.notes)
    assert set(fields) >= default_layout().output_fields


def test_good_mpan_is_ok() -> None:
    result = run_lookup(parse_inputs({"mpan": GOOD_14}), on=DAY)
    assert result.status == "ok" and result.warnings == ()
    assert result.message.startswith("NGED-WM (ID 14)")


def test_dno_mpan_wins_over_disagreeing_postcode() -> None:
    result = run_lookup(parse_inputs({"mpan": GOOD_14, "postcode": "SW1A 1AA"}), on=DAY,
                        area_lookup=fake_area)
    assert result_fields(result)["distributor_id"] == 14 and result.site.source == "mpan"
    assert any("using the MPAN's area" in w for w in result.warnings)


def test_idno_takes_area_from_postcode() -> None:
    result = run_lookup(parse_inputs({"mpan": IDNO_24, "postcode": "B1 1AA"}), on=DAY,
                        area_lookup=fake_area)
    fields = result_fields(result)
    assert fields["distributor_id"] == 24 and fields["gsp_group_id"] == "_E"
    tariff = resolve_tariff(24, on=DAY, area_distributor_id=14)
    assert fields["red_rate_p_per_kwh"] == tariff.red_rate
    with pytest.raises(InputErrors) as info:
        run_lookup(parse_inputs({"mpan": IDNO_24}), on=DAY, area_lookup=fake_area)
    assert "postcode" in info.value.errors and "IDNO" in info.value.errors["postcode"]


def test_postcode_only() -> None:
    result = run_lookup(parse_inputs({"postcode": "SW1A 1AA"}), on=DAY, area_lookup=fake_area)
    assert result_fields(result)["distributor_id"] == 12 and result.site.source == "postcode"


def test_voltage_and_kva_pick_the_row() -> None:
    hv = run_lookup(parse_inputs({"mpan": GOOD_14, "voltage": "HV", "kva": "1500"}), on=DAY)
    expected = resolve_tariff(14, on=DAY, voltage="HV", kva=1500)
    assert hv.tariff == expected and hv.tariff.voltage_level == "HV"


def test_missing_year_falls_back_with_warning_and_no_year_fails() -> None:
    later = run_lookup(parse_inputs({"mpan": GOOD_14}), on=dt.date(2029, 6, 1))
    assert later.tariff.year == 2027
    assert any("no 2029/30 tariffs" in w and "2027/28" in w for w in later.warnings)
    with pytest.raises(LookupFailed) as info:
        run_lookup(parse_inputs({"mpan": GOOD_14}), on=dt.date(2021, 6, 1))
    failed = info.value.result
    assert failed.status == "error" and result_fields(failed)["distributor_id"] == 14
    assert result_fields(failed)["red_rate_p_per_kwh"] is None
    assert year_label(2026) == "2026/27"


# --- with a profile: hand-worked and against the core functions ---------------------------


def test_flat_week_hand_worked() -> None:
    """1 kWh every half hour, Mon 1 - Sun 7 June 2026 (BST), NGED-WM LV band 1 2026/27.

    Weekday: 6 red x 6.515 + 21 amber x 0.827 + 21 green x 0.1 = 58.557 p; weekend day
    48 x 0.1 = 4.8 p. Week: 5 x 58.557 + 2 x 4.8 = 302.385 p. Fixed 129.59 p/day.
    Annualised: £0.58557 x 365x5/7 + £0.048 x 365x2/7 + £1.2959 x 365.
    """
    index = pd.date_range("2026-05-31T23:00Z", periods=7 * 48, freq="30min")
    frame = pd.DataFrame({"kwh": 1.0}, index=index)
    result = run_lookup(parse_inputs({"mpan": GOOD_14}), profile=frame, on=DAY)
    assert result.duos.unit_gbp == pytest.approx(3.02385)
    assert result.duos.fixed_gbp == pytest.approx(7 * 1.2959)
    annual = 0.58557 * 365 * 5 / 7 + 0.048 * 365 * 2 / 7 + 1.2959 * 365
    assert result_fields(result)["annual_duos_gbp"] == round(annual, 2) == 630.68
    fields = result_fields(result)
    assert (fields["peak_ratio"], fields["load_factor"], fields["weekend_factor"]) == (1, 1, 1)
    assert fields["flex_value_gbp_per_year"] == 0.0  # flat: no headroom under its max demand


def test_one_day_flex_hand_worked() -> None:
    """Tue 2 June 2026: 1 kWh per half hour, 2 kWh at 16:00-16:30 BST; 30% flexible.

    Limit = max demand 4 kW = 2 kWh per half hour, so each other half hour can take 1 kWh.
    Move the 7 red kWh to green (6.515 -> 0.1) and 7.7 amber kWh (budget 14.7 - 7) to green
    (0.827 -> 0.1): 7 x 6.415 + 7.7 x 0.727 = 50.5029 p. Base cost 45.605 + 17.367 + 2.1 =
    65.072 p, so 77.61%. Per year: £0.505029 x 365.
    """
    index = pd.date_range("2026-06-01T23:00Z", periods=48, freq="30min")
    kwh = np.ones(48)
    kwh[index.get_loc(pd.Timestamp("2026-06-02T15:00Z"))] = 2.0
    frame = pd.DataFrame({"kwh": kwh}, index=index)
    result = run_lookup(parse_inputs({"mpan": GOOD_14}), profile=frame, on=DAY)
    assert result.flexibility.value_gbp == pytest.approx(0.505029)
    fields = result_fields(result)
    # One day is under the 7 the policy needs for a year: the annual figures are blank (not 0)
    # and the status row says why; the day's own value stays in the JSON.
    assert fields["flex_value_gbp_per_year"] is None and fields["annual_duos_gbp"] is None
    assert fields["flex_saving_pct"] is None
    assert any(w.startswith("only 1 day(s) of data: annual DUoS £") for w in result.warnings)
    saving = calculate_flexibility_value(frame["kwh"], 0.3, pd.Series(
        unit_costs(index, kwh, result.tariff)[1], index=index)).saving_pct
    assert saving == pytest.approx(50.5029 / 65.072 * 100, abs=1e-3)
    assert fields["weekend_factor"] is None  # one weekday only: refused, with the reason
    assert any("weekend factor not computed" in w for w in result.warnings)
    assert fields["peak_ratio"] == round(2 / (49 / 48), 4)


def test_year_profile_matches_core_functions() -> None:
    series = generate_profile("office", 250_000, start="2025-04-01", seed=3)
    frame = series.to_frame("kwh")
    result = run_lookup(parse_inputs({"mpan": SEED, "kva": "150", "flex_fraction": "20%"}),
                        profile=frame, on=DAY)
    tariff = resolve_tariff(14, on=DAY, kva=150)
    charged = duos_charges(frame, tariff, agreed_kva=150)
    features = profile_features(series)
    prices = pd.Series(charged.frame["unit_rate_p_per_kwh"].to_numpy(), index=series.index)
    flex = calculate_flexibility_value(series, 0.20, prices)
    fields = result_fields(result)
    assert fields["annual_duos_gbp"] == round(charged.summary.annualised_total_gbp, 2)
    assert charged.summary.capacity_gbp > 0
    for name in ("peak_ratio", "load_factor", "weekend_factor"):
        assert fields[name] == round(features.values[name], 4)
    assert fields["flex_value_gbp_per_year"] == round(flex.annual_value_gbp, 2)
    assert fields["flex_saving_pct"] == round(flex.saving_pct, 2)
    data = result.to_dict()
    assert data["duos"]["annualised_total_gbp"] == charged.summary.annualised_total_gbp
    assert data["tariff"]["red_rate_p_per_kwh"] == tariff.red_rate


def test_profile_gaps_are_filled_for_features_and_reported() -> None:
    index = pd.date_range("2026-06-01T23:00Z", periods=7 * 48, freq="30min")
    frame = pd.DataFrame({"kwh": 1.0}, index=index).drop(index[100:104])
    result = run_lookup(parse_inputs({"mpan": GOOD_14}), profile=frame, on=DAY)
    assert any("4 missing half hour(s)" in w for w in result.warnings)
    assert result_fields(result)["peak_ratio"] == round(1 / (332 / 336), 4)


def test_gap_half_hours_keep_their_band_price_for_flexibility() -> None:
    """A missing half hour is 0 kWh but still priced at its band's rate (not free)."""
    from bess_duos.core.duos import unit_costs

    index = pd.date_range("2026-06-01T23:00Z", periods=48, freq="30min")
    kwh = np.ones(48)
    kwh[index.get_loc(pd.Timestamp("2026-06-02T15:00Z"))] = 2.0
    frame = pd.DataFrame({"kwh": kwh}, index=index).drop(index[[2, 3]])  # 00:00-01:00 BST gone
    result = run_lookup(parse_inputs({"mpan": GOOD_14}), profile=frame, on=DAY)
    series = frame["kwh"].reindex(index, fill_value=0.0)
    tariff = resolve_tariff(14, on=DAY)
    prices = pd.Series(unit_costs(index, series.to_numpy(), tariff)[1], index=index)
    assert prices.iloc[2] == 0.1  # green, not 0
    expected = calculate_flexibility_value(series, 0.30, prices)
    assert result.flexibility.value_gbp == pytest.approx(expected.value_gbp)
    # Hand check: as the no-gap day, less 2 kWh of amber load that is no longer there to move,
    # plus 2 more green slots with room for 2 kWh each (the budget binds first):
    # budget 0.3 x 47 = 14.1 kWh: 7 red kWh to green (6.415 p each) + 7.1 amber kWh (0.727 p).
    assert result.flexibility.value_gbp == pytest.approx((7 * 6.415 + 7.1 * 0.727) / 100)


def test_read_profile_takes_utc_and_hourly_files_as_they_come(reference_data) -> None:
    """The Cambridge file is hourly with naive UTC times: read as UTC, split, and said."""
    from bess_duos.core.lookup import read_profile
    from bess_duos.core.profiles import load_profile

    path = (reference_data / "profiles" / "cambridge_estates"
            / "UCam_Building_b0_electricity_2019_hourly_kwh.csv")
    profile = read_profile(path)
    direct = load_profile(path, tz="UTC", resample="split")
    pd.testing.assert_frame_equal(profile.data, direct.data)
    assert any("read as UTC" in w for w in profile.quality.warnings)
    assert len(profile.quality.warnings) == len(direct.quality.warnings) + 1


# --- the GSP group input (JSON and CLI only: the sheet has no cell for it) -----------------


def _never(pc: Postcode) -> AreaResult:
    raise AssertionError(f"postcode {pc.unit} should not have been looked up")


def test_gsp_group_input_forms_and_errors() -> None:
    for given in ("_E", "E", "e", " _e "):
        assert parse_inputs({"mpan": IDNO_24, "gsp_group": given}).gsp_group == "_E"
    assert parse_inputs({"mpan": IDNO_24, "gsp_group": ""}).gsp_group is None
    alone = parse_inputs({"gsp_group": "_G"})  # enough on its own, like a postcode
    assert (alone.mpan, alone.postcode, alone.gsp_group) == (None, None, "_G")
    with pytest.raises(InputErrors) as info:
        parse_inputs({"mpan": IDNO_24, "gsp_group": "_Z", "kva": "-1"})
    assert set(info.value.errors) == {"gsp_group", "kva"}
    assert "unknown GSP group '_Z'" in info.value.errors["gsp_group"]
    assert "_A, _B, _C" in info.value.errors["gsp_group"]
    with pytest.raises(InputErrors) as info:
        parse_inputs({"mpan": IDNO_24, "gsp_group": 5})
    assert info.value.errors == {"gsp_group": "the GSP group must be text, e.g. '_E'"}
    with pytest.raises(InputErrors) as info:
        parse_inputs({"gsp_group": " "})
    assert set(info.value.errors) == {"mpan", "postcode"}


def test_idno_with_gsp_group_needs_no_postcode_lookup() -> None:
    result = run_lookup(parse_inputs({"mpan": IDNO_24, "gsp_group": "e"}), on=DAY,
                        area_lookup=_never)
    fields = result_fields(result)
    assert (fields["distributor_id"], fields["gsp_group_id"]) == (24, "_E")
    assert result.site.source == "gsp_group" and result.status == "ok"
    tariff = resolve_tariff(24, on=DAY, area_distributor_id=14)
    assert fields["red_rate_p_per_kwh"] == tariff.red_rate
    assert result.to_dict()["inputs"]["gsp_group"] == "_E"
    dno = run_lookup(parse_inputs({"mpan": GOOD_14, "gsp_group": "_C"}), on=DAY,
                     area_lookup=_never)
    assert result_fields(dno)["distributor_id"] == 14 and dno.status == "warning"
    assert "GSP group _C" in dno.message and "using the MPAN's area" in dno.message


def test_tariff_name_input_and_ambiguous_llfc() -> None:
    named = run_lookup(parse_inputs({"mpan": GOOD_14, "tariff_name": "hv site specific band 3"}),
                       on=DAY)
    # MIDE 2026 'Annex 1 LV, HV and UMS charges' row 33: HV Site Specific Band 3
    assert named.tariff.tariff_name == "HV Site Specific Band 3"
    assert "row 33" in named.tariff.source and "as named" in named.tariff.selection_note
    sweb = "2200000000014"  # check digit: 2x3 + 2x5 + 1x43 = 59; 59 mod 11 = 4; 4 mod 10 = 4
    with pytest.raises(LookupFailed) as info:
        run_lookup(parse_inputs({"mpan": f"00 845 581 {sweb}"}), on=DAY)
    message = info.value.result.message
    assert "'LV Generation Aggregated' and 'LV Generation Site Specific'" in message
    nhh = run_lookup(parse_inputs({"mpan": f"05 845 581 {sweb}"}), on=DAY)
    assert nhh.tariff.tariff_name == "LV Generation Aggregated"
    chosen = run_lookup(parse_inputs({"mpan": f"00 845 581 {sweb}",
                                      "tariff_name": "LV Generation Site Specific"}), on=DAY)
    # SWEB 2026 Annex 1 row 39: B39 "581, 527", J39 reactive 0.264 p/kVArh
    assert (chosen.tariff.reactive_p_per_kvarh, chosen.tariff.source[-6:]) == (0.264, "row 39")


def test_area_11_2027_residual_doubt_is_a_warning_in_the_status_cell() -> None:
    result = run_lookup(parse_inputs({"gsp_group": "_B", "kva": "85"}), on=dt.date(2027, 6, 1))
    assert result.status == "warning" and result.tariff.tariff_name == "LV Site Specific Band 2"
    # IPNL GSP B 2027-2028 Annex 1 G24 226.69 (band 2 as published) and G23 139.65 (band 1)
    assert "fixed 226.69 p/MPAN/day" in result.message
    assert "fixed 139.65 p/MPAN/day" in result.message
    settled = run_lookup(parse_inputs({"gsp_group": "_B", "kva": "85",
                                       "tariff_name": "LV Site Specific Band 1"}),
                         on=dt.date(2027, 6, 1))
    assert settled.status == "ok" and settled.tariff.fixed_p_per_day == 139.65
