"""The seed toolkit's modules against the typed API: units, distributor IDs, time zones."""

from __future__ import annotations

import math
import warnings

import duos_cost_calculator as seed_duos
import mpan_generator_validator as seed_mpan
import numpy as np
import pandas as pd
import profile_clustering_features as seed_features
import pytest
from bess_duos.core.duos import calculate_duos_costs as typed_costs
from bess_duos.core.features import FeatureError
from bess_duos.core.flexibility import calculate_flexibility_value as typed_flex
from bess_duos.core.tariffs import DuosTariff, UnitWarning, list_tariffs

# --- (b) the seed's £/kWh DuosTariff and the typed p/kWh one give the same £ ---------------


def _week(start: str = "2025-01-06") -> pd.DataFrame:
    """Mon-Sun, naive UK clock time, kWh varying by half hour (seeded)."""
    times = pd.date_range(start, periods=7 * 48, freq="30min")
    kwh = np.random.default_rng(14).uniform(20, 80, times.size).round(3)
    return pd.DataFrame({"timestamp": times, "kwh": kwh})


@pytest.mark.parametrize("dno_id", ["10", 10])
def test_seed_pounds_tariff_and_typed_pence_tariff_give_the_same_pounds(dno_id: str | int):
    df = _week()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitWarning)  # neither tariff is in the wrong unit
        seed = seed_duos.DuosTariff(dno_id, "HV", "HV", 0.04837, 0.00457, 0.00038,
                                    fixed_p_per_day=120, capacity_p_per_kva_per_day=5)
        typed = DuosTariff(dno_id, "HV", "HV", 4.837, 0.457, 0.038,
                           fixed_p_per_day=120, capacity_p_per_kva_per_day=5)
    seed_out = seed_duos.calculate_duos_costs(df, seed, kva_capacity=300)
    typed_out = typed_costs(df, typed, kva_capacity=300)
    seed_total = seed_out["duos_total_cost"].sum()
    assert round(seed_total, 2) == round(typed_out["duos_total_cost"].sum(), 2)
    assert seed_total == pytest.approx(typed_out["duos_total_cost"].sum(), abs=1e-9)
    # By hand, area 10 2024/25 bands (red 16-19, amber 07-16 and 19-23 Mon-Fri, else green):
    t = df["timestamp"]
    weekday, hour = t.dt.day_of_week < 5, t.dt.hour
    red = weekday & hour.between(16, 18)
    amber = weekday & (hour.between(7, 15) | hour.between(19, 22))
    rate = np.where(red, 4.837, np.where(amber, 0.457, 0.038))
    by_hand = (df["kwh"] * rate).sum() / 100 + 7 * 1.20 + 7 * 5 * 300 / 100
    assert round(seed_total, 2) == round(by_hand, 2)
    assert seed_out["unit_rate"].max() == pytest.approx(0.04837)  # £/kWh at the seed's boundary
    summary = seed_duos.summarize_duos_costs(seed_out)
    assert summary["by_band"]["red"]["periods"] == 5 * 6
    assert summary["fixed_cap_cost_gbp"] == pytest.approx(7 * 1.20 + 7 * 15.0)


def test_pounds_in_the_typed_tariff_warn_naming_the_unit() -> None:
    with pytest.warns(UnitWarning, match=r"p/kWh.*looks like £/kWh"):
        DuosTariff("10", "HV", "HV", 0.04837, 0.00457, 0.00038)
    with pytest.warns(UnitWarning, match="are £/kWh"):
        seed_duos.DuosTariff("10", "HV", "HV", 4.837, 0.457, 0.038)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitWarning)
        DuosTariff(12, "HV band 2", "HV", 0.009, 0.0, 0.0)  # a real HV row: one small rate
        for year in (2024, 2025, 2026, 2027):
            for area in range(10, 24):
                list_tariffs(area, year)  # no shipped tariff looks like £/kWh


def test_bad_distributor_id_is_named() -> None:
    with pytest.raises(ValueError, match="dno_id 'x'"):
        DuosTariff("x", "HV", "HV", 4.8, 0.4, 0.03)


def test_windows_and_kw_column() -> None:
    df = _week()
    seed = seed_duos.DuosTariff("10", "HV", "HV", 0.04837, 0.00457, 0.00038)
    # The seed's default windows on request: red 16:00-19:30 Mon-Fri (7 half hours a day).
    out = seed_duos.calculate_duos_costs(df, seed, red_windows=((16, 19.5),))
    assert (out["band"] == "red").sum() == 5 * 7
    assert seed_duos.duos_band_for_hh(pd.Timestamp("2025-01-06 19:00")) == "red"
    assert seed_duos.duos_band_for_hh(pd.Timestamp("2025-01-06 22:00")) == "green"
    assert seed_duos.duos_band_for_hh(pd.Timestamp("2025-01-11 17:00")) == "green"  # Saturday
    # 17:00 UTC on 2 June is 18:00 BST: red in clock time.
    assert seed_duos.duos_band_for_hh(pd.Timestamp("2025-06-02 15:30", tz="UTC")) == "red"
    as_kw = df.assign(kw=df["kwh"] * 2).drop(columns="kwh")
    assert seed_duos.calculate_duos_costs(as_kw, seed)["duos_total_cost"].sum() == pytest.approx(
        seed_duos.calculate_duos_costs(df, seed)["duos_total_cost"].sum()
    )


# --- (c) flexibility: naive UK clock, UTC and offsets agree over the October change ---------


def _october_week() -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """UK days Wed 22 - Tue 28 Oct 2025 (Sunday 26th has 50 half hours), as UTC instants, with
    the guide's shape and prices by UK clock hour."""
    utc = pd.date_range("2025-10-21 23:00", "2025-10-29 00:00", freq="30min", tz="UTC",
                        inclusive="left")
    hour = utc.tz_convert("Europe/London").hour.to_numpy()
    kwh = 100 + 50 * np.sin((hour - 12) * np.pi / 12)
    pence = np.where((hour >= 16) & (hour < 19), 15.0, 5.0)
    return utc, kwh, pence


def test_flexibility_is_the_same_for_naive_uk_utc_and_offset_times() -> None:
    utc, kwh, pence = _october_week()
    assert utc.size == 7 * 48 + 2
    local = utc.tz_convert("Europe/London")
    forms = {
        "naive UK clock": local.tz_localize(None),
        "UTC": utc,
        "UK with offsets": pd.Index(local.strftime("%Y-%m-%dT%H:%M:%S%z")),
    }
    values = {name: typed_flex(pd.DataFrame({"timestamp": t, "kwh": kwh}), 0.3, pence).value_gbp
              for name, t in forms.items()}
    # Each UK day: the 16:00-19:00 half hours hold 2 x (k16 + k17 + k18) kWh, all of it moved
    # 10 p cheaper (budget 30% of the day, headroom under the 150 kWh peak is ample).
    red = 2 * sum(100 + 50 * math.sin((h - 12) * math.pi / 12) for h in (16, 17, 18))
    assert values == {name: pytest.approx(7 * red * 0.10) for name in forms}
    assert len(set(values.values())) == 1  # identical, not merely close
    seed = {name: seed_features.calculate_flexibility_value(
                pd.DataFrame({"timestamp": t, "kwh": kwh}), 0.3, pence / 100)["value_gbp"]
            for name, t in forms.items()}
    assert set(seed.values()) == set(values.values())


def test_flexibility_kw_column_is_converted_and_naive_series_is_uk_time() -> None:
    utc, kwh, pence = _october_week()
    naive = utc.tz_convert("Europe/London").tz_localize(None)
    as_kwh = typed_flex(pd.DataFrame({"timestamp": naive, "kwh": kwh}), 0.3, pence)
    as_kw = typed_flex(pd.DataFrame({"timestamp": naive, "kw": kwh * 2}), 0.3, pence)
    assert as_kw.value_gbp == as_kwh.value_gbp
    assert typed_flex(pd.Series(kwh, index=naive), 0.3, pence).value_gbp == as_kwh.value_gbp


def test_flexibility_prices_in_pounds_warn() -> None:
    utc, kwh, pence = _october_week()
    with pytest.warns(UnitWarning, match="prices_hh"):
        typed_flex(pd.Series(kwh, index=utc), 0.3, pence / 100)


def test_battery_import_prices_in_pounds_warn() -> None:
    from bess_duos.core.bess import Battery, optimise_battery

    utc, kwh, pence = _october_week()
    with pytest.warns(UnitWarning, match="import_prices"):
        optimise_battery(pd.Series(kwh[:48], index=utc[:48]), Battery(10, 20), pence[:48] / 100,
                         block="day")


def test_naive_march_gap_is_refused_with_advice() -> None:
    times = pd.date_range("2025-03-30 00:00", periods=48, freq="30min")  # 01:00 does not exist
    with pytest.raises(FeatureError, match="does not exist in UK clock time"):
        typed_flex(pd.DataFrame({"timestamp": times, "kwh": 1.0}), 0.3, 5.0)


def test_seed_flexibility_dict_and_red_periods() -> None:
    # One weekday: the power limit is the site's own peak (2 kWh a half hour), so the cheap
    # morning half hours at 1 kWh have 1 kWh of room each.
    times = pd.date_range("2025-01-06", periods=48, freq="30min")
    kwh = np.where(times.hour < 12, 1.0, 2.0)  # morning 1 kWh, afternoon 2 kWh
    prices = np.where(times.hour >= 12, 0.20, 0.05)  # £/kWh
    flex = seed_features.calculate_flexibility_value(
        pd.DataFrame({"timestamp": times, "kwh": kwh}), 0.25, prices
    )
    # Budget 25% x 72 kWh = 18 kWh, from £0.20 to £0.05 half hours (each can take 1 kWh up to
    # the 2 kWh peak: 24 kWh of room): saving 18 x £0.15 = £2.70 of a £9.60 + £1.20 base.
    assert flex["value_gbp"] == pytest.approx(2.70)
    assert flex["value_percent"] == pytest.approx(25.0)
    assert flex["energy_reduced_red_kwh"] == pytest.approx(18.0)
    assert flex["energy_added_green_kwh"] == pytest.approx(18.0)
    assert flex["avg_red_price"] == pytest.approx(0.20)
    # Only the last 4 afternoon half hours may give energy: 4 x 2 kWh = 8 kWh x £0.15.
    red = times.hour >= 22
    limited = seed_features.calculate_flexibility_value(
        pd.DataFrame({"timestamp": times, "kwh": kwh}), 0.25, prices, red_periods=red
    )
    assert limited["value_gbp"] == pytest.approx(1.20)
    assert (limited["red_periods_count"], limited["green_periods_count"]) == (4, 44)


# --- features and MPANs ----------------------------------------------------------------------


def test_profile_features_from_kw_and_kwh_agree_and_refusals_are_nan() -> None:
    times = pd.date_range("2025-01-06", periods=7 * 48, freq="30min")  # Mon-Sun
    kw = np.where((times.day_of_week < 5) & (times.hour >= 8) & (times.hour < 18), 100.0, 20.0)
    f = seed_features.extract_profile_features(pd.DataFrame({"timestamp": times, "kw": kw}), "x")
    g = seed_features.extract_profile_features(
        pd.DataFrame({"timestamp": times.astype(str), "kwh": kw / 2}), "x")
    assert f.to_dict() == g.to_dict()
    # Mean kW: (5 days x (20 h at 100 + 28 h at 20) + 2 days x 48 h at 20) / 336 half hours.
    mean_kw = (5 * (20 * 100 + 28 * 20) + 2 * 48 * 20) / 336
    assert (f.peak_kw, f.mean_kw) == (pytest.approx(100.0), pytest.approx(mean_kw))
    assert f.weekend_factor == pytest.approx(20 / ((20 * 100 + 28 * 20) / 48))
    assert f.peak_ratio == pytest.approx(100 / mean_kw)  # 2.28 > 2: peaky
    assert f.is_weekday_dominant and f.is_peaky and not f.is_baseload and f.monthly_cv == 0.0
    assert str(f) == "office/commercial pattern (weekday-dominant, peaky, variable)"
    weekdays_only = pd.DataFrame({"timestamp": times[: 5 * 48], "kw": kw[: 5 * 48]})
    short = seed_features.extract_profile_features(weekdays_only)
    assert math.isnan(short.weekend_factor) and "weekend_factor" in short.notes
    frame = seed_features.create_features_dataframe({"a": weekdays_only, "b": weekdays_only})
    assert list(frame.columns[:3]) == ["site_id", "peak_ratio", "load_factor"]
    assert frame["notes"].str.startswith("weekend_factor").all()


def test_monthly_cv_by_calendar_month() -> None:
    times = pd.date_range("2025-01-01", "2025-03-01", freq="30min", inclusive="left")
    kwh = np.where(times.month == 1, 10.0, 20.0)
    f = seed_features.extract_profile_features(pd.DataFrame({"timestamp": times, "kwh": kwh}))
    # Means 10 and 20: sample sd 7.071 / mean 15.
    assert f.monthly_cv == pytest.approx(math.sqrt(50) / 15)


def test_mpan_module_keeps_the_seed_contract() -> None:
    assert seed_mpan.DNO_MAP["14"].startswith("National Grid Electricity Distribution")
    assert sorted(seed_mpan.DNO_MAP) == [str(i) for i in range(10, 24)]
    assert seed_mpan.mpan_check_digit("140556677889") == 8
    with pytest.raises(ValueError, match="12 digits"):
        seed_mpan.mpan_check_digit("1405")
    assert seed_mpan.generate_valid_mpan_core()[:2] in seed_mpan.DNO_MAP
    assert seed_mpan.generate_valid_mpan_core(14)[:2] == "14"
    batch = seed_mpan.generate_batch_valid_mpans(200, seed=3)
    assert len(set(batch)) == 200 and all(seed_mpan.is_valid_mpan_core(c) for c in batch)
    assert len({c[:2] for c in batch}) > 5
    info = seed_mpan.mpan_core_lookup("1405566778899")
    assert {k: info[k] for k in ("core", "dno_id", "is_valid", "checksum", "expected_checksum")} \
        == {"core": "1405566778899", "dno_id": "14", "is_valid": False, "checksum": "9",
            "expected_checksum": "8"}
    with pytest.raises(ValueError, match="13 digits"):
        seed_mpan.mpan_core_lookup("14055667788")
    assert seed_mpan.mpan_core_lookup("0012345678904")["is_valid"] is False
    assert seed_mpan.format_mpan_display("1405566778898") == "S 14 0556 6778 898"


def test_the_three_modules_ship_from_compat_as_top_level_modules() -> None:
    import importlib
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    names = ["mpan_generator_validator", "duos_cost_calculator", "profile_clustering_features"]
    assert setuptools["py-modules"] == names and setuptools["package-dir"][""] == "compat"
    assert sorted(p.stem for p in (root / "compat").glob("*.py")) == sorted(names)
    for name in names:
        module = importlib.import_module(name)
        assert Path(module.__file__).name == f"{name}.py" and module.__all__
        assert all(hasattr(module, attr) for attr in module.__all__)
