"""A battery's value at a looked-up site: the optional battery inputs, and one function that
runs the optimiser (core/bess.py) on the site's profile and its DUoS tariff.

Prices. The lookup knows the DUoS unit rate of every half hour but no energy price. Without an
export price the battery is valued on DUoS alone (import price = the unit rate) and exports
nothing. With an export price X (p/kWh), energy is valued at X both ways: import costs the unit
rate + X and export earns X. The value is then the DUoS saved (units by band, exceeded
capacity) minus X per kWh lost in the battery, plus what exports earn over their energy.
Exceeded capacity is charged when the agreed kVA is given and the tariff has a rate (per
calendar month, monthly blocks: exact). No sheet cells: JSON and CLI only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core.bess import Battery, ExceededCapacity, optimise_battery
from bess_duos.core.duos import charge_arrays
from bess_duos.core.plain import json_safe
from bess_duos.core.tariffs import DuosTariff
from bess_duos.core.timebands import BANDS

BATTERY_FIELDS = ("battery_power_kw", "battery_energy_kwh", "battery_efficiency",
                  "export_price_p_per_kwh")
TIME_LIMIT_S = 20.0  # MILP budget of one lookup


@dataclass(frozen=True)
class BatteryInputs:
    """Checked battery inputs; `export_price_p_per_kwh` None = no export."""

    power_kw: float
    energy_kwh: float
    round_trip_efficiency: float = 0.90
    export_price_p_per_kwh: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The inputs as given back in the JSON answer."""
        return {"power_kw": self.power_kw, "energy_kwh": self.energy_kwh,
                "round_trip_efficiency": self.round_trip_efficiency,
                "export_price_p_per_kwh": self.export_price_p_per_kwh}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: object, units: str) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        number = float(value)
    else:
        number = float(re.sub(rf"\s*({units})\s*$", "", str(value).strip(), flags=re.I)
                       .replace(",", ""))
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def parse_battery_inputs(raw: Mapping[str, object], errors: dict[str, str]) -> BatteryInputs | None:
    """The battery inputs of a lookup, or None when none is given; bad ones go into `errors`.

    `battery_power_kw` and `battery_energy_kwh` (> 0) are needed together;
    `battery_efficiency` is the round trip, 0.9, "90%" or 90 (default 90%);
    `export_price_p_per_kwh` (>= 0) enables export.
    """
    given = {k: raw[k] for k in BATTERY_FIELDS if not _blank(raw.get(k))}
    if not given:
        return None
    values: dict[str, float] = {}
    for name, units, what in (("battery_power_kw", "kw", "power in kW (e.g. 100)"),
                              ("battery_energy_kwh", "kwh", "energy in kWh (e.g. 200)")):
        if name not in given:
            errors[name] = f"give the battery's {what} too (power and energy go together)"
            continue
        try:
            values[name] = _number(given[name], units)
            if values[name] <= 0:
                raise ValueError(given[name])
        except ValueError:
            errors[name] = f"{given[name]!r} is not a positive battery {what}"
    efficiency = 0.90
    if "battery_efficiency" in given:
        value = given["battery_efficiency"]
        try:
            efficiency = _number(value, "%")
            if (isinstance(value, str) and value.strip().endswith("%")) or efficiency > 1:
                efficiency /= 100.0
            if not 0 < efficiency <= 1:
                raise ValueError(value)
        except ValueError:
            errors["battery_efficiency"] = (
                f"round-trip efficiency {value!r} must be above 0% and at most 100% (e.g. 90%)")
    export = None
    if "export_price_p_per_kwh" in given:
        try:
            export = _number(given["export_price_p_per_kwh"], "p/kwh|p")
            if export < 0:
                raise ValueError(export)
        except ValueError:
            errors["export_price_p_per_kwh"] = (
                f"export price {given['export_price_p_per_kwh']!r} must be a number of p/kWh "
                ">= 0 (e.g. 5)")
    if len(values) < 2 or errors.keys() & set(BATTERY_FIELDS):
        return None
    return BatteryInputs(values["battery_power_kw"], values["battery_energy_kwh"], efficiency,
                         export)


@dataclass(frozen=True)
class BatteryValue:
    """What the battery is worth at the site, over the profile and per year (£)."""

    inputs: BatteryInputs
    value_gbp: float
    annual_value_gbp: float
    equivalent_full_cycles: float
    cycles_per_year: float
    duos_saving_gbp: dict[str, float]  # per year, by component, and "total"
    export_kwh_per_year: float
    losses_kwh_per_year: float
    mip_gap: float | None
    solve_seconds: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (`core.plain.json_safe`'s)."""
        return json_safe({
            "inputs": self.inputs.to_dict(),
            "value_gbp": self.value_gbp,
            "annual_value_gbp": self.annual_value_gbp,
            "equivalent_full_cycles": self.equivalent_full_cycles,
            "cycles_per_year": self.cycles_per_year,
            "duos_saving_gbp_per_year": dict(self.duos_saving_gbp),
            "export_kwh_per_year": self.export_kwh_per_year,
            "losses_kwh_per_year": self.losses_kwh_per_year,
            "mip_gap": self.mip_gap,
            "solve_seconds": self.solve_seconds,
            "prices": "DUoS unit rates of the resolved tariff (p/kWh)"
            + ("" if self.inputs.export_price_p_per_kwh is None else
               " + the export price on import; export earns the export price"),
        })


def _components(kwh: np.ndarray, index: pd.DatetimeIndex, tariff: DuosTariff,
                kva: float | None, power_factor: float | None) -> dict[str, float]:
    summary = charge_arrays(index, kwh, tariff, agreed_kva=kva, power_factor=power_factor)[1]
    parts = {f"{band}_units": summary.unit_gbp_by_band[band] for band in BANDS}
    parts["exceeded_capacity"] = summary.exceeded_capacity_gbp
    return parts


def battery_value(series: pd.Series, unit_rates: np.ndarray, tariff: DuosTariff,
                  battery: BatteryInputs, *, kva: float | None = None,
                  power_factor: float | None = None) -> BatteryValue:
    """The battery's value on a profile (kWh per half hour, regular UTC grid) whose half hours
    have the DUoS `unit_rates` (p/kWh) of `tariff`. Raises `core.bess.BatteryError` (a
    ValueError) when it cannot be optimised."""
    rate = tariff.exceeded_capacity_p_per_kva_per_day
    cap = None
    if kva is not None and rate:
        cap = ExceededCapacity(float(rate), float(kva), power_factor or 0.95)
    export = battery.export_price_p_per_kwh
    model = Battery(battery.power_kw, battery.energy_kwh, battery.round_trip_efficiency)
    result = optimise_battery(
        series, model, np.asarray(unit_rates, float) + (export or 0.0),
        export_prices=export, exceeded_capacity=cap, block="month", time_limit_s=TIME_LIMIT_S,
        published_rates=True)
    per_year = 365.0 / (len(series) / 48.0)
    index = pd.DatetimeIndex(series.index)
    before = _components(series.to_numpy(float), index, tariff, kva, power_factor)
    after = _components(result.dispatch["import_kwh"].to_numpy(), index, tariff, kva,
                        power_factor)
    saving = {k: (before[k] - after[k]) * per_year for k in before}
    saving["total"] = sum(saving.values())
    d = result.dispatch
    losses = float(d["import_kwh"].sum() - d["export_kwh"].sum() - d["load_kwh"].sum())
    return BatteryValue(
        inputs=battery,
        value_gbp=result.saving_gbp,
        annual_value_gbp=result.annual_saving_gbp,
        equivalent_full_cycles=result.equivalent_full_cycles,
        cycles_per_year=result.equivalent_full_cycles * per_year,
        duos_saving_gbp=saving,
        export_kwh_per_year=float(d["export_kwh"].sum()) * per_year,
        losses_kwh_per_year=losses * per_year,
        mip_gap=result.mip_gap,
        solve_seconds=result.solve_seconds,
        warnings=(f"battery: the optimiser stopped at its {TIME_LIMIT_S:g} s limit with its "
                  f"best schedule (MIP gap {result.mip_gap:.3%})",) if result.time_limited
        else (),
    )
