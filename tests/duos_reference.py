"""The DUoS engine's `charge_arrays` as it was before issue 18 (masks, np.maximum.at, slot tables
built per call), frozen here as the oracle the fast and batch paths are compared with."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from bess_duos.core import bands as _bands
from bess_duos.core.duos import (
    HALF_HOURS_PER_DAY,
    REACTIVE_CHARGE_RATIO,
    DuosError,
    DuosSummary,
    TariffForYear,
    _annualise,
    _describe,
    _import_kwh,
    _tariff_getter,
    _time_bands,
    default_power_factor,
)
from bess_duos.core.tariffs import DuosTariff
from bess_duos.core.timebands import BANDS


def _dense_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, group of each row) for integer keys spanning a small range.

    The same as `np.unique(keys, return_inverse=True)` without sorting.
    """
    low = int(keys.min())
    relative = keys - low
    present = np.bincount(relative) > 0
    return np.flatnonzero(present) + low, (np.cumsum(present) - 1)[relative]


@dataclass(frozen=True)
class _YearTables:
    years: np.ndarray  # sorted charging years present
    tariffs: tuple[DuosTariff, ...]
    slot_tables: np.ndarray  # int8 [year, 12, 2, 48]
    unit_rates: np.ndarray  # float64 [year, 3] p/kWh in BANDS order
    notes: tuple[str, ...]

    @classmethod
    def build(cls, years: np.ndarray, tariffs: TariffForYear) -> _YearTables:
        get = _tariff_getter(tariffs)
        chosen = tuple(get(int(year)) for year in years)
        notes = tuple(
            f"the {t.year}/{(t.year + 1) % 100:02d} tariff {t.tariff_name!r} is applied to "
            f"charging year {year}/{(int(year) + 1) % 100:02d}"
            for year, t in zip(years, chosen, strict=True)
            if t.year is not None and t.year != int(year)
        ) + tuple(
            dict.fromkeys(t.selection_note for t in chosen if getattr(t, "selection_note", ""))
        )
        tables = np.stack(
            [_time_bands(t, int(year)).slot_table() for year, t in zip(years, chosen, strict=True)]
        )
        rates = np.array([t.unit_rates_p_per_kwh for t in chosen], dtype=np.float64)
        return cls(years, chosen, tables, rates, notes)

    def per_year(self, attribute: str) -> np.ndarray:
        return np.array([getattr(t, attribute) for t in self.tariffs], dtype=np.float64)


def _spread(amount_by_group: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Share each group's amount equally over its rows (so the rows sum back to the amount)."""
    counts = np.bincount(group, minlength=amount_by_group.size)
    share = np.divide(amount_by_group, counts, out=np.zeros_like(amount_by_group), where=counts > 0)
    return share[group]


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")


def reference_charge_arrays(
    utc: pd.DatetimeIndex | np.ndarray,
    kwh: np.ndarray,
    tariffs: TariffForYear,
    *,
    kvarh: np.ndarray | None = None,
    agreed_kva: float | None = None,
    power_factor: float | None = None,
    band: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], DuosSummary]:
    """Charges for half hours given as arrays (any order); returns per-row columns and summary.

    `band` (index into `BANDS` per row) overrides the tariffs' time bands when given."""
    utc_ns = _bands._as_utc_ns(utc)
    kwh = np.asarray(kwh, dtype=np.float64)
    if utc_ns.size == 0:
        raise DuosError("the profile has no half hours to charge")
    if kwh.shape != utc_ns.shape:
        raise DuosError(f"{kwh.size} kWh values for {utc_ns.size} timestamps")
    if np.isnan(kwh).any():
        raise DuosError(
            f"{int(np.isnan(kwh).sum())} kWh values are missing (NaN): drop or fill them first"
        )
    if agreed_kva is not None and (not math.isfinite(agreed_kva) or agreed_kva < 0):
        raise DuosError(f"agreed capacity {agreed_kva!r} kVA must be a number >= 0")
    clock = _bands.uk_clock(utc_ns)
    years, year_pos = _dense_groups(clock.charging_year)
    tables = _YearTables.build(years, tariffs)
    if band is None:
        band = _bands.band_index_from_clock(clock, tables.slot_tables, years)
    elif np.shape(band) != utc_ns.shape:
        raise DuosError(f"{np.size(band)} bands for {utc_ns.size} timestamps")
    rate = tables.unit_rates[year_pos, band]
    # Active import: only half hours importing are billed, and only they count towards demand
    # kVA and demand reactive (see the module docstring).
    active_import = _import_kwh(kwh)
    unit_gbp = active_import * rate / 100.0

    # Days (UK clock dates) and months with data, each with its charging year.
    day_id, day_of_row = _dense_groups(clock.local_day)
    day_year_pos = np.zeros(day_id.size, dtype=np.int64)
    day_year_pos[day_of_row] = year_pos
    fixed_day = tables.per_year("fixed_p_per_day")[day_year_pos] / 100.0
    agreed = float(agreed_kva or 0.0)
    capacity_day = tables.per_year("capacity_p_per_kva_per_day")[day_year_pos] * agreed / 100.0

    # Maximum demand per half hour, kVA.
    notes = list(tables.notes)
    assumed_pf: float | None = None
    exported = kwh < 0
    if exported.any():
        notes.append(
            f"{int(exported.sum())} half hours of net export ({float(-kwh[exported].sum()):,.1f}"
            " kWh) not charged: the import tariff bills import only (export is billed on the "
            "export MPAN's generation tariff)"
        )
    if kvarh is not None:
        kvarh = np.asarray(kvarh, dtype=np.float64)
        if np.isnan(kvarh).any():
            raise DuosError(f"{int(np.isnan(kvarh).sum())} kVArh values are missing (NaN)")
        reactive = np.where(active_import > 0, np.abs(kvarh), 0.0)  # max(RI, RE)
        kva = 2.0 * np.hypot(active_import, reactive)
        chargeable_kvarh = np.maximum(reactive - active_import * REACTIVE_CHARGE_RATIO, 0.0)
        reactive_gbp = chargeable_kvarh * tables.per_year("reactive_p_per_kvarh")[year_pos] / 100.0
    else:
        assumed_pf = float(power_factor or default_power_factor())
        if not 0 < assumed_pf <= 1:
            raise DuosError(f"power factor {assumed_pf!r} must be in (0, 1]")
        kva = 2.0 * active_import / assumed_pf
        chargeable_kvarh = None
        reactive_gbp = np.zeros_like(kwh)
        if tables.per_year("reactive_p_per_kvarh").any():
            notes.append("no kVArh in the profile: reactive power charge not assessed")

    # Exceeded capacity per UK calendar month: month's max kVA over agreed, per day with data.
    calendar_year = clock.charging_year + (clock.month < 4)
    month_key = (calendar_year - 1970) * 12 + clock.month - 1  # months since January 1970
    month_id, month_of_row = _dense_groups(month_key)
    month_max = np.full(month_id.size, -np.inf)
    np.maximum.at(month_max, month_of_row, kva)
    exceeded_by_month: dict[str, float] = {}
    exceeded_month_gbp = np.zeros(month_id.size)
    if agreed_kva is not None:
        excess = np.maximum(month_max - agreed, 0.0)
        day_month = np.zeros(day_id.size, dtype=np.int64)
        day_month[day_of_row] = month_of_row
        days_in_month = np.bincount(day_month, minlength=month_id.size)
        month_year_pos = np.zeros(month_id.size, dtype=np.int64)
        month_year_pos[month_of_row] = year_pos
        exceeded_rate = tables.per_year("exceeded_capacity_p_per_kva_per_day")[month_year_pos]
        exceeded_month_gbp = excess * exceeded_rate * days_in_month / 100.0
        exceeded_by_month = {
            str(np.datetime64(int(m), "M")): float(e)
            for m, e in zip(month_id, excess, strict=True)
            if e > 0
        }
    else:
        notes.append("no agreed capacity given: capacity and exceeded capacity not charged")

    columns = {
        "band": band,
        "charging_year": clock.charging_year,
        "unit_rate_p_per_kwh": rate,
        "unit_gbp": unit_gbp,
        "kva": kva,
        "reactive_gbp": reactive_gbp,
        "fixed_gbp": _spread(fixed_day, day_of_row),
        "capacity_gbp": _spread(capacity_day, day_of_row),
        "exceeded_capacity_gbp": _spread(exceeded_month_gbp, month_of_row),
    }
    columns["total_gbp"] = (
        unit_gbp
        + reactive_gbp
        + columns["fixed_gbp"]
        + columns["capacity_gbp"]
        + columns["exceeded_capacity_gbp"]
    )

    weekend_hh = int(clock.weekend.sum())
    weekday_days = (utc_ns.size - weekend_hh) / HALF_HOURS_PER_DAY
    weekend_days = weekend_hh / HALF_HOURS_PER_DAY
    fixed_gbp = float(fixed_day.sum())
    capacity_gbp = float(capacity_day.sum())
    exceeded_gbp = float(exceeded_month_gbp.sum())
    reactive_total = float(reactive_gbp.sum())
    unit_total = float(unit_gbp.sum())
    total = unit_total + fixed_gbp + capacity_gbp + exceeded_gbp + reactive_total
    energy_gbp = unit_gbp + reactive_gbp
    annualised, method = _annualise(
        total=total,
        weekday_energy_gbp=float(energy_gbp[~clock.weekend].sum()),
        weekend_energy_gbp=float(energy_gbp[clock.weekend].sum()),
        per_day_gbp=fixed_gbp + capacity_gbp + exceeded_gbp,
        days=int(day_id.size),
        weekday_days=weekday_days,
        weekend_days=weekend_days,
    )
    peak = int(np.argmax(kva))
    summary = DuosSummary(
        kwh_by_band={b: float(active_import[band == i].sum()) for i, b in enumerate(BANDS)},
        unit_gbp_by_band={b: float(unit_gbp[band == i].sum()) for i, b in enumerate(BANDS)},
        unit_gbp=unit_total,
        fixed_gbp=fixed_gbp,
        capacity_gbp=capacity_gbp,
        exceeded_capacity_gbp=exceeded_gbp,
        reactive_gbp=reactive_total,
        total_gbp=total,
        days_covered=int(day_id.size),
        weekday_days=weekday_days,
        weekend_days=weekend_days,
        half_hours=int(utc_ns.size),
        first=_iso(int(utc_ns.min())),
        last=_iso(int(utc_ns.max())),
        charging_years=tuple(int(y) for y in years),
        tariffs=tuple(dict.fromkeys(_describe(t) for t in tables.tariffs)),
        agreed_kva=agreed_kva,
        max_demand_kva=float(kva[peak]),
        max_demand_at=_iso(int(utc_ns[peak])),
        assumed_power_factor=assumed_pf,
        exceeded_kva_by_month=exceeded_by_month,
        chargeable_kvarh=None if chargeable_kvarh is None else float(chargeable_kvarh.sum()),
        annualised_total_gbp=annualised,
        annualisation_method=method,
        notes=tuple(notes),
    )
    return columns, summary
