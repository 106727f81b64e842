"""Battery LP/MILP: hand-worked optima, independent oracles, bounds at every half hour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.bess import Battery, BatteryError, ExceededCapacity, optimise_battery
from bess_duos.core.duos import charge_arrays
from bess_duos.core.flexibility import calculate_flexibility_value
from bess_duos.core.synthetic import generate_profile, half_hour_index
from bess_duos.core.tariffs import DuosTariff
from bess_duos.core.timebands import TimeBands

from tests.mide_2026 import MIDE_PERIODS


def _day(kwh: float, day: str = "2025-06-04") -> pd.Series:
    return pd.Series(kwh, index=half_hour_index(day, pd.Timestamp(day) + pd.Timedelta(days=1)))


def _red_16_19(index: pd.DatetimeIndex, red: float = 20.0, other: float = 2.0) -> np.ndarray:
    hour = index.tz_convert("Europe/London").hour
    return np.where((hour >= 16) & (hour < 19), red, other)


def _tariff(index: pd.DatetimeIndex) -> np.ndarray:
    """Illustrative three-rate prices (p/kWh): red weekdays 16-19, amber 07-21, green else."""
    local = index.tz_convert("Europe/London")
    weekday = local.day_of_week < 5
    red = weekday & (local.hour >= 16) & (local.hour < 19)
    amber = weekday & (local.hour >= 7) & (local.hour < 21)
    return np.where(red, 20.0, np.where(amber, 3.0, 0.5))


def test_one_day_toy_case_equals_the_hand_worked_optimum():
    load = _day(10.0)  # 20 kW all day; prices 20 p 16:00-19:00 (6 half hours), 2 p otherwise
    prices = _red_16_19(load.index)
    battery = Battery(power_kw=10, energy_kwh=10, round_trip_efficiency=0.81, initial_soc=0.0)
    # eta = 0.9 each way. Fill 0 -> 10 kWh: 10 / 0.9 = 11.111 kWh bought at 2 p = 22.222 p.
    # Empty 10 kWh in red: 10 x 0.9 = 9 kWh delivered, displacing 9 x 20 p = 180 p.
    # Saving 180 - 22.222 = 157.778 p. Base: 10 kWh x (6 x 20 + 42 x 2) = 2040 p.
    for end_soc in ("initial", "free"):
        result = optimise_battery(load, battery, prices, block="day", end_soc=end_soc)
        assert result.base_cost_gbp == pytest.approx(20.40)
        assert result.saving_gbp == pytest.approx(1.80 - 0.2 / 0.9, abs=1e-6)
        assert result.equivalent_full_cycles == pytest.approx(1.0, abs=1e-6)
    # a cap of half a cycle a day halves it: 78.889 p
    half = Battery(10, 10, 0.81, initial_soc=0.0, cycles_per_day=0.5)
    assert optimise_battery(load, half, prices, block="day").saving_gbp == pytest.approx(
        0.5 * (1.80 - 0.2 / 0.9), abs=1e-6)


def test_one_day_with_export_valued_at_price_minus_generation_duos():
    load = _day(2.0)  # 4 kW; red-band load 6 x 2 = 12 kWh
    prices = _red_16_19(load.index)
    battery = Battery(10, 20, 0.81, initial_soc=0.0, cycles_per_day=1.0)
    # one cycle: buy 20 / 0.9 = 22.222 kWh at 2 p (44.444 p); deliver 18 kWh:
    # 12 kWh displace red load at 20 p (240 p), 6 kWh exported at 10 p - (-1 p) = 11 p (66 p).
    # saving = 240 + 66 - 44.444 = 261.556 p
    result = optimise_battery(load, battery, prices, export_prices=10.0,
                              generation_duos_rates=-1.0, block="day")
    assert result.saving_gbp == pytest.approx(3.06 - 0.4 / 0.9, abs=1e-6)
    assert result.dispatch["export_kwh"].sum() == pytest.approx(6.0, abs=1e-6)
    # no export without a price for it: only the 12 kWh of red load (a 2/3 cycle) is worth it
    # (extra energy displaced at 2 p costs 2 / 0.81 p): 240 - (12 / 0.81) x 2 p = 210.370 p
    no_export = optimise_battery(load, battery, prices, block="day")
    assert no_export.saving_gbp == pytest.approx(2.40 - 0.24 / 0.81, abs=1e-6)


def test_one_day_exceeded_capacity_is_shaved():
    load = _day(50.0)  # 100 kW
    local = load.index.tz_convert("Europe/London")
    load[(local.hour >= 16) & (local.hour < 19)] = 75.0  # 150 kW for 3 h: 30 kVA over 120
    cap = ExceededCapacity(rate_p_per_kva_day=10.0, agreed_kva=120.0, power_factor=1.0)
    battery = Battery(50, 100, 1.0)
    # base: 30 kVA x 1 day x 10 p = 300 p excess; flat 5 p energy, no losses: saving £3.00
    result = optimise_battery(load, battery, 5.0, exceeded_capacity=cap, block="month")
    assert result.base_cost_gbp == pytest.approx((load.sum() * 5 + 300) / 100)
    assert result.saving_gbp == pytest.approx(3.00, abs=1e-6)
    assert result.dispatch["import_kwh"].max() * 2 <= 120 + 1e-6
    for block in ("day", "week", "year"):
        assert optimise_battery(load, battery, 5.0, exceeded_capacity=cap,
                                block=block).saving_gbp == pytest.approx(3.00, abs=1e-6)


def _jan_feb_case() -> tuple[pd.Series, ExceededCapacity]:
    """Issue 19: 30 Jan - 1 Feb 2026, 50 kWh per half hour, spikes of 100 (31 Jan) and 60
    (1 Feb), agreed 100 kW / 0.95 = 105.263 kVA (the issue's '105.26') at 10 p/kVA/day."""
    index = half_hour_index("2026-01-30", pd.Timestamp("2026-02-02"))
    load = pd.Series(50.0, index=index)
    load[pd.Timestamp("2026-01-31 18:00", tz="UTC")] = 100.0
    load[pd.Timestamp("2026-02-01 18:00", tz="UTC")] = 60.0
    return load, ExceededCapacity(rate_p_per_kva_day=10.0, agreed_kva=100 / 0.95)


def test_exceeded_capacity_is_charged_per_calendar_month_in_any_block():
    load, cap = _jan_feb_case()
    battery = Battery(40, 100)  # 20 kWh per half hour, 90% round trip, starts half full
    # Optimum by hand (flat 10 p): energy 7,260 kWh = 72,600 p. January: the 100 spike is cut
    # by the full 20 kWh to 80 kWh = 160 kW: (160 - 100) / 0.95 = 63.158 kVA x 2 days x 10 p =
    # 1,263.158 p (each kWh shaved saves 42.1 p and loses 1.1 p). February: the 60 spike is
    # cut to 50 with energy charged in January under January's own 80 kWh peak, so nothing
    # exceeds. Losses: (20 + 10) kWh x (1 / 0.9 - 1) = 3.333 kWh = 33.333 p.
    # Total 72,600 + 1,263.158 + 33.333 = 73,896.49 p = £738.9649 (the optimum).
    for block in ("week", "year"):
        result = optimise_battery(load, battery, 10.0, exceeded_capacity=cap, block=block)
        assert result.cost_gbp == pytest.approx(738.9649, abs=5e-5), block
        peaks = result.dispatch["import_kwh"].groupby(result.dispatch.index.month).max()
        assert peaks.to_dict() == pytest.approx({1: 80.0, 2: 50.0}, abs=1e-6)
    # Month (and day) blocks end January at the initial SoC, so February must recharge itself:
    # shaving the spike to p costs (60 - p) / 0.9 kWh spread over the 47 other half hours,
    # so p = 50 + (60 - p) / (0.9 x 47): p = 50.2309. Cost 72,600 + (20 + 9.769) x 1.111 +
    # 1,263.158 + 0.2309 x 2 / 0.95 x 10 = 73,901.10 p = £739.0110 (the figure).
    for block in ("day", "month"):
        result = optimise_battery(load, battery, 10.0, exceeded_capacity=cap, block=block)
        assert result.cost_gbp == pytest.approx(739.0110, abs=5e-5), block
        assert result.dispatch["import_kwh"].iloc[-48:].max() == pytest.approx(
            50 + 10 / (0.9 * 47 + 1), abs=1e-6)


def test_a_year_with_exceeded_capacity_agrees_across_blocks():
    load = generate_profile("office", 500_000, "2025-01-01", seed=7)
    prices = _tariff(load.index)
    cap = ExceededCapacity(15.0, 0.7 * load.max() * 2 / 0.95)  # breached in most months
    battery = Battery(60, 120, 0.9)
    results = {block: optimise_battery(load, battery, prices, exceeded_capacity=cap,
                                       block=block) for block in ("week", "month", "year")}
    year = results["year"]
    for block, result in results.items():
        assert result.cost_gbp == pytest.approx(year.cost_gbp, rel=1e-7), block
        _check_bounds(result, battery)
    # each month keeps its own level: they differ, and each exceeds the agreed capacity
    peaks = year.dispatch["import_kwh"].groupby(year.dispatch.index.month).max() * 2 / 0.95
    assert peaks.round(3).nunique() >= 6 and (peaks >= cap.agreed_kva - 1e-6).all()
    assert (peaks > cap.agreed_kva + 1).sum() >= 6
    assert year.saving_gbp > 0
    # the capacity part of the cost, checked with the DUoS engine (core.duos, per UK month)
    tariff = DuosTariff(14, "exceeded only", "HV", 0.0, 0.0, 0.0,
                        exceeded_capacity_p_per_kva_per_day=15.0,
                        time_bands=TimeBands(14, 2025, MIDE_PERIODS))
    imports = year.dispatch["import_kwh"]
    engine = charge_arrays(imports.index, imports.to_numpy(), tariff,
                           agreed_kva=cap.agreed_kva, power_factor=0.95)[1]
    energy = float(imports.to_numpy() @ prices) / 100
    assert year.cost_gbp - energy == pytest.approx(engine.exceeded_capacity_gbp, rel=1e-9)


def _flat_day_export_oracle(load: float, p_in: float, p_out: float, step: float, rte: float,
                            hh: int = 48) -> float:
    """Best saving (p) of a flat day with export by enumeration, independent of the LP/MILP.

    With exclusive flows a half hour either charges (c <= step, import load + c) or
    discharges (d <= step: load served first at p_in, the rest exported at p_out). The
    discharge value is convex in d (slopes p_in then p_out > p_in) and charging is linear, so
    an optimum has n full-power discharges, at most one partial one (d_p), and buys
    (n step + d_p) / rte kWh in the remaining half hours. With flat prices the order is
    free, so alternating keeps the SoC inside any battery of a few half hours' energy.
    """
    n = np.arange(hh + 1)[:, None]
    d_p = np.unique(np.r_[np.linspace(0, step, 2001), min(load, step)])[None, :]
    value = lambda d: p_in * np.minimum(d, load) + p_out * np.maximum(d - load, 0)  # noqa: E731
    bought = (n * step + d_p) / rte
    room = step * (hh - n - (d_p > 0))
    saving = n * value(step) + value(d_p) - p_in * bought
    return float(np.where(bought <= room + 1e-9, saving, -np.inf).max())


def test_export_above_import_needs_binaries_and_matches_the_oracle():
    # Issue 19: load 5 kWh per half hour, import 10 p, export 15 p, 20 kW / 40 kWh at 81%.
    load = _day(5.0)
    battery = Battery(20, 40, 0.81)
    oracle = _flat_day_export_oracle(5.0, 10.0, 15.0, 10.0, 0.81)
    # 21 full discharges (5 kWh to the load, 5 exported: 125 p each) bought with
    # 21 x 10 / 0.81 = 259.26 kWh at 10 p in 26 of the other 27 half hours: 32.407 p
    assert oracle == pytest.approx(21 * 125 - 2100 / 0.81)
    result = optimise_battery(load, battery, 10.0, export_prices=15.0, block="day")
    assert result.saving_gbp == pytest.approx(oracle / 100, abs=5e-5)
    assert round(result.saving_gbp, 4) == 0.3241  # the MILP figure
    d = result.dispatch
    assert not ((d["charge_kwh"] > 1e-6) & (d["discharge_kwh"] > 1e-6)).any()
    assert not ((d["import_kwh"] > 1e-6) & (d["export_kwh"] > 1e-6)).any()
    assert result.binaries > 0 and result.mip_gap is not None and result.mip_gap <= 1e-3
    _check_bounds(result, battery)
    # the LP relaxation imports and exports at once and claims a saving that is not there
    relaxed = optimise_battery(load, battery, 10.0, export_prices=15.0, block="day",
                               binaries="none")
    assert relaxed.saving_gbp > 6 and relaxed.binaries == 0 and relaxed.mip_gap is None


def test_lp_optimum_is_kept_when_no_half_hour_needs_binaries():
    load = generate_profile("office", 100_000, "2025-03-03", "2025-03-06", seed=2)
    prices = _tariff(load.index) + 10.0  # energy + DUoS
    export = np.where(prices == 30.0, 15.0, 0.0)  # red only, below import: no half hour flagged
    battery = Battery(100, 200, 0.88, soc_min=0.1, soc_max=0.9)
    auto = optimise_battery(load, battery, prices, export_prices=export, block="day")
    assert auto.binaries == 0 and auto.mip_gap is None  # a plain LP
    forced = optimise_battery(load, battery, prices, export_prices=export, block="day",
                              binaries="all", mip_rel_gap=0.0)
    assert forced.binaries == 3 * 48 * 2  # charge/discharge and import/export, every half hour
    assert forced.cost_gbp == pytest.approx(auto.cost_gbp, abs=1e-6)
    # red-band export pays (green energy at 10.5 / 0.88 = 11.9 p < 15 p) and happens
    assert auto.dispatch["export_kwh"].sum() > 0
    d = auto.dispatch
    assert not ((d["import_kwh"] > 1e-6) & (d["export_kwh"] > 1e-6)).any()


def test_negative_prices_do_not_buy_fake_room_by_charging_and_discharging_at_once():
    load = _day(0.0)
    prices = np.r_[np.full(47, 1.0), -10.0]  # a negative price in the last half hour
    full = Battery(10, 10, 0.81, initial_soc=1.0)
    # Full, no load and no export: the battery cannot empty itself, so it can take nothing
    # at -10 p: the saving is exactly 0. The LP relaxation "burns" energy by charging and
    # discharging at once (10% lost each way) to make room and claims a saving.
    result = optimise_battery(load, full, prices, block="day", end_soc="free")
    assert result.saving_gbp == pytest.approx(0.0, abs=1e-9)
    relaxed = optimise_battery(load, full, prices, block="day", end_soc="free", binaries="none")
    assert relaxed.saving_gbp > 0.3


def test_a_time_limited_milp_returns_its_best_feasible_schedule():
    load = _day(5.0)
    battery = Battery(20, 40, 0.81)
    result = optimise_battery(load, battery, 10.0, export_prices=15.0, block="day",
                              mip_rel_gap=0.0, time_limit_s=2.0)
    assert result.time_limited and result.mip_gap > 0 and result.mip_gap_gbp > 0
    assert result.saving_gbp <= 0.3241 + 1e-6
    _check_bounds(result, battery)
    d = result.dispatch
    assert not ((d["import_kwh"] > 1e-6) & (d["export_kwh"] > 1e-6)).any()


def test_weekly_blocks_equal_the_whole_horizon_solve():
    load = generate_profile("office", 500_000, "2025-02-03", "2025-03-17", seed=4)
    prices = _tariff(load.index)
    battery = Battery(120, 240, 0.88, soc_min=0.1, soc_max=0.95, initial_soc=0.5)
    whole = optimise_battery(load, battery, prices, block="year")
    weekly = optimise_battery(load, battery, prices, block="week")
    daily = optimise_battery(load, battery, prices, block="day")
    assert weekly.blocks == 6 and daily.blocks == 42
    # blocks ending at the initial SoC are feasible for the whole horizon: never cheaper;
    # cheap green nights let the whole-horizon optimum pass the initial SoC at midnight,
    # so the costs agree to solver tolerance (1e-6 of the cost)
    for part in (weekly, daily):
        assert part.cost_gbp >= whole.cost_gbp - 1e-6 * whole.cost_gbp
        assert part.cost_gbp == pytest.approx(whole.cost_gbp, rel=1e-6)
    # SoC carried over between blocks: the SoC recursion holds across every boundary
    carried = optimise_battery(load, battery, prices, block="week", end_soc="free")
    _check_bounds(carried, battery)
    assert carried.blocks == 6


def _check_bounds(result, battery: Battery, import_limit_kw: float | None = None) -> None:
    d = result.dispatch
    tol = 1e-6
    eta = battery.one_way_efficiency
    step = battery.power_kw / 2
    assert (d["charge_kwh"] >= -tol).all() and (d["charge_kwh"] <= step + tol).all()
    assert (d["discharge_kwh"] >= -tol).all() and (d["discharge_kwh"] <= step + tol).all()
    soc = d["soc_kwh"].to_numpy()
    assert (soc >= battery.soc_min * battery.energy_kwh - tol).all()
    assert (soc <= battery.soc_max * battery.energy_kwh + tol).all()
    previous = np.r_[battery.initial_soc * battery.energy_kwh, soc[:-1]]
    np.testing.assert_allclose(
        soc, previous + eta * d["charge_kwh"] - d["discharge_kwh"] / eta, atol=1e-6)
    np.testing.assert_allclose(
        d["import_kwh"] - d["export_kwh"],
        d["load_kwh"] + d["charge_kwh"] - d["discharge_kwh"], atol=1e-6)
    assert (d["import_kwh"] >= -tol).all() and (d["export_kwh"] >= -tol).all()
    if import_limit_kw is not None:
        assert (d["import_kwh"] <= import_limit_kw / 2 + tol).all()
    if battery.cycles_per_day is not None:
        day = d.index.tz_convert("Europe/London").date
        per_day = (d["discharge_kwh"] / eta).groupby(day).sum()
        assert (per_day <= battery.cycles_per_day * battery.energy_kwh + tol).all()


def test_a_year_beats_the_flex_heuristic_and_respects_every_bound():
    load = generate_profile("office", 500_000, "2025-01-01", seed=5)
    prices = _tariff(load.index)
    flex = calculate_flexibility_value(load, 0.3, prices)
    # A lossless battery with power = the flex power limit (the site's max demand) and
    # energy = 2 x the largest daily shift, starting half full, can copy the flex schedule
    # (each day's moves net to zero, so SoC stays within +/- one day's shift of half full).
    moved = (flex.flexed_profile - load).clip(lower=0)
    daily_shift = moved.groupby(load.index.tz_convert("Europe/London").date).sum().max()
    twin = Battery(flex.power_limit_kw, 2 * daily_shift, 1.0, initial_soc=0.5)
    best = optimise_battery(load, twin, prices)
    assert best.saving_gbp >= flex.value_gbp - 1e-6 * flex.base_cost_gbp
    assert flex.value_gbp > 0
    _check_bounds(best, twin)

    real = Battery(100, 200, 0.88, soc_min=0.1, soc_max=0.9, initial_soc=0.5, cycles_per_day=1)
    limit = 2 * load.max() * 0.95  # import limit below the site's own peak: the battery shaves
    result = optimise_battery(load, real, prices + 10.0, export_prices=4.0, import_limit_kw=limit)
    _check_bounds(result, real, limit)
    assert result.saving_gbp > 0
    assert 0 < result.equivalent_full_cycles <= 365
    assert result.annual_saving_gbp == pytest.approx(result.saving_gbp)


def test_bad_parameters_are_named():
    with pytest.raises(BatteryError, match="round_trip_efficiency"):
        Battery(10, 10, 1.2)
    with pytest.raises(BatteryError, match="initial_soc"):
        Battery(10, 10, 0.9, soc_min=0.2, initial_soc=0.1)
    with pytest.raises(BatteryError, match="optimisation failed"):
        optimise_battery(_day(10.0), Battery(1, 1, 0.9), 5.0, import_limit_kw=5, block="day")


def test_battery_cli_reads_csvs_and_writes_the_dispatch(tmp_path, capsys):
    import json

    from bess_duos.webhook.cli import main

    load = _day(10.0)
    profile, prices, out = tmp_path / "site.csv", tmp_path / "prices.csv", tmp_path / "d.csv"
    stamps = load.index.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    pd.DataFrame({"timestamp": stamps, "kwh": load.to_numpy()}).to_csv(profile, index=False)
    pd.DataFrame({"timestamp": stamps, "p_per_kwh": _red_16_19(load.index)}).to_csv(
        prices, index=False)
    status = main(["battery", "optimise", "--profile", str(profile), "--prices", str(prices),
                   "--power-kw", "10", "--energy-kwh", "10", "--efficiency", "0.81",
                   "--initial-soc", "0", "--block", "day", "--out", str(out), "--json"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["saving_gbp"] == pytest.approx(1.58)  # 157.78 p, as worked above
    dispatch = pd.read_csv(out)
    assert len(dispatch) == 48 and dispatch["timestamp"][0] == stamps[0]
    assert main(["battery", "optimise", "--profile", str(profile), "--flat-price", "5",
                 "--power-kw", "10", "--energy-kwh", "10", "--efficiency", "2"]) == 2
