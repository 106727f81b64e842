"""The battery in the lookup: its inputs, and its value hand-worked on NGED-WM LV 2026/27."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from bess_duos.core.battery_value import BATTERY_FIELDS, parse_battery_inputs
from bess_duos.core.lookup import InputErrors, parse_inputs, run_lookup

DAY = dt.date(2026, 11, 24)
GOOD_14 = "1405566778898"  # NGED West Midlands: LV band 1 2026/27 (see tests/test_lookup.py)


def _parse(raw: dict) -> tuple[object, dict[str, str]]:
    errors: dict[str, str] = {}
    return parse_battery_inputs(raw, errors), errors


def test_battery_inputs_are_optional_and_checked_by_name():
    assert _parse({}) == (None, {})
    battery, errors = _parse({"battery_power_kw": "100 kW", "battery_energy_kwh": 200,
                              "battery_efficiency": "85%", "export_price_p_per_kwh": "5p"})
    assert errors == {}
    assert (battery.power_kw, battery.energy_kwh, battery.round_trip_efficiency,
            battery.export_price_p_per_kwh) == (100, 200, 0.85, 5)
    assert _parse({"battery_power_kw": 50, "battery_energy_kwh": 100,
                   "battery_efficiency": 90})[0].round_trip_efficiency == 0.9
    _, errors = _parse({"battery_power_kw": 100})
    assert list(errors) == ["battery_energy_kwh"] and "together" in errors["battery_energy_kwh"]
    _, errors = _parse({"battery_power_kw": -1, "battery_energy_kwh": 10,
                        "battery_efficiency": "120%", "export_price_p_per_kwh": "cheap"})
    assert set(errors) == {"battery_power_kw", "battery_efficiency", "export_price_p_per_kwh"}
    with pytest.raises(InputErrors) as caught:
        parse_inputs({"mpan": GOOD_14, "battery_energy_kwh": "ten"})
    assert set(caught.value.errors) == {"battery_power_kw", "battery_energy_kwh"}
    assert set(BATTERY_FIELDS) <= set(parse_inputs.__globals__["INPUT_FIELDS"])


def _weekday() -> pd.DataFrame:
    """Wed 3 June 2026 (BST), 10 kWh every half hour (20 kW)."""
    index = pd.date_range("2026-06-02T23:00Z", periods=48, freq="30min")
    return pd.DataFrame({"kwh": 10.0}, index=index)


def test_battery_value_in_the_lookup_is_hand_worked():
    # NGED-WM LV band 1 2026/27: red 6.515 (16:00-19:00), amber 0.827, green 0.1 p/kWh.
    # 10 kW / 10 kWh at 81% (0.9 each way), half full at the start and the end. Best day: fill
    # 5 -> 10 kWh in the morning green, empty 10 kWh in red (9 kWh delivered, 2 half hours),
    # refill 0 -> 5 in the evening green: 11.111 kWh bought at 0.1 p. (Using amber is worse:
    # no green between amber and red, and 0.81 x 0.827 < 0.827.)
    # Red saves 9 x 6.515 = 58.635 p, green costs 1.111 p: 57.524 p a day, one cycle a day.
    raw = {"mpan": GOOD_14, "battery_power_kw": 10, "battery_energy_kwh": 10,
           "battery_efficiency": "81%"}
    result = run_lookup(parse_inputs(raw), profile=_weekday(), on=DAY)
    battery = result.battery
    assert battery.value_gbp == pytest.approx(0.57524, abs=1e-5)
    assert battery.annual_value_gbp == pytest.approx(0.57524 * 365, abs=5e-3)
    assert battery.cycles_per_year == pytest.approx(365, abs=1e-4)
    saving = battery.duos_saving_gbp
    assert saving["red_units"] == pytest.approx(0.58635 * 365, abs=1e-3)
    assert saving["amber_units"] == pytest.approx(0.0, abs=1e-6)
    assert saving["green_units"] == pytest.approx(-0.1 * (10 / 0.9) / 100 * 365, abs=1e-4)
    assert saving["exceeded_capacity"] == 0.0
    assert saving["total"] == pytest.approx(battery.annual_value_gbp, abs=1e-6)
    data = result.to_dict()
    assert data["battery"]["annual_value_gbp"] == battery.annual_value_gbp
    assert data["inputs"]["battery"]["round_trip_efficiency"] == 0.81
    from bess_duos.webhook.layout import default_layout, result_fields

    no_cells = result_fields(result, default_layout())
    assert not any(k.startswith("battery") for k in no_cells)  # no sheet cells

    # Export price 5 p: energy valued at 5 p both ways. The load (10 kWh) is above the
    # battery's 5 kWh a half hour, so nothing is exported; the 2.111 kWh lost cost 5 p each:
    # 57.524 - 10.556 = 46.968 p a day, the DUoS saving unchanged.
    raw["export_price_p_per_kwh"] = 5
    export = run_lookup(parse_inputs(raw), profile=_weekday(), on=DAY).battery
    assert export.value_gbp == pytest.approx(0.46968, abs=1e-5)
    assert export.losses_kwh_per_year == pytest.approx((10 / 0.9 - 9) * 365, abs=1e-3)
    assert export.export_kwh_per_year == pytest.approx(0.0, abs=1e-6)
    assert export.duos_saving_gbp["total"] == pytest.approx(saving["total"], abs=1e-6)


def test_no_battery_inputs_no_battery_and_no_profile_no_value():
    plain = run_lookup(parse_inputs({"mpan": GOOD_14}), profile=_weekday(), on=DAY)
    assert plain.battery is None and plain.to_dict()["battery"] is None
    no_profile = run_lookup(parse_inputs({"mpan": GOOD_14, "battery_power_kw": 10,
                                          "battery_energy_kwh": 10}), on=DAY)
    assert no_profile.battery is None


def test_cli_lookup_takes_the_battery_and_answers_in_json(tmp_path, capsys):
    import json

    from bess_duos.webhook.cli import main

    csv = tmp_path / "site.csv"
    _weekday().rename_axis("timestamp").to_csv(csv, date_format="%Y-%m-%dT%H:%M:%SZ")
    code = main(["lookup", "--mpan", GOOD_14, "--profile", str(csv), "--date", "2026-11-24",
                 "--no-write", "--json", "--battery-kw", "10", "--battery-kwh", "10",
                 "--battery-efficiency", "81%"])
    assert code == 0, capsys.readouterr().err
    answer = json.loads(capsys.readouterr().out)
    assert answer["battery"]["value_gbp"] == pytest.approx(0.57524, abs=1e-5)  # as above
    assert main(["lookup", "--mpan", GOOD_14, "--no-write", "--battery-kw", "10"]) == 2
    assert "battery_energy_kwh" in capsys.readouterr().err
