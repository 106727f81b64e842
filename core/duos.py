"""DUoS charges in £ for a half-hourly profile: units by band, fixed, capacity, exceeded, reactive.

Rates are taken as published (p/kWh, p/MPAN/day, p/kVA/day, p/kVArh) and every result is in £.
A profile that spans 1 April is charged with each charging year's own tariff and time bands:
pass a tariff per year (a mapping year -> `DuosTariff`, or a callable), or use `duos_for_site`,
which resolves them for a `core.tariffs.TariffQuery` with `core.tariffs.resolve_query`.

Methods. The bundled workbooks give the rates and, in their 'Charge Calculator' sheet, the
arithmetic: fixed £ = rate x days / 100, capacity £ = rate x kVA x days / 100, exceeded £ =
rate x "Average daily exceeded capacity kVA" x days / 100 and reactive £ = rate x "Excess
reactive units kVArh" / 100 (MIDE 2026, 'Charge Calculator' F17:I17, headings F12:I12). Which
kVA and kVArh are "exceeded" and "excess" is the common CDCM statement text (DCUSA Schedule
16), quoted here from the one statement bundled in the reference data, ESP Electricity's
"LC14 DUoS Charging Statement" April 2026 (in 2026/25/espe-use-of-system-charging-statement-
2026-2027.zip; the 2027 one says the same), paragraphs 2.41-2.53:

- units: active import kWh of each half hour x the unit rate of its band in its charging year
  (a half hour of net export is not credited on the import tariff: export is a separate
  MPAN on a generation tariff; the summary notes the kWh left uncharged);
- fixed: p/MPAN/day x each UK clock day with data;
- capacity: p/kVA/day x agreed capacity (kVA) x each day with data;
- exceeded capacity (2.41-2.43): "Demand exceeded capacity = max(2 x sqrt(AI^2 +
  max(RI, RE)^2) - MIC, 0)", "completed for every half hour and the maximum value from the
  billing period is applied", "charged for the full duration of the billing period in which
  the breach occurs". The billing period is taken as the UK calendar month (billing data is
  provided "in respect of each calendar month", 2.70), cut to the days the profile covers;
- maximum demand per half hour: kVA = 2 x sqrt(AI^2 + kVArh^2) where kVArh is given, else
  kVA = 2 x AI / assumed power factor (config/defaults.yaml `assumed_power_factor`, reported;
  2.73: "to estimate missing reactive data, a power factor of 0.95 lag will be applied").
  AI = active import = max(kWh, 0): "Only reactive import and reactive export values
  occurring at times of active import are used in the calculation" (2.42, 2.51);
- reactive (2.48-2.53): "Demand chargeable reactive power = max(max(RI, RE) -
  (sqrt(1/0.95^2 - 1) x AI), 0)" per half hour, summed; "The square root calculation will be
  to two decimal places" (2.52), so the free allowance is 0.33 x AI ("exceeds 33% of its total
  active power", 2.48), not tan(acos 0.95) = 0.32868 x AI. max(RI, RE) is |kVArh| of the
  profile's one reactive column;
- annualised total: a profile covering 365 or 366 days is summed as it is; otherwise unit and
  reactive £ are scaled by day type (weekday £ per weekday x 365 x 5/7, weekend £ per weekend
  day x 365 x 2/7) and the per-day charges (fixed, capacity, exceeded) x 365 / days covered.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core import bands as _bands
from bess_duos.core.defaults import defaults
from bess_duos.core.tariffs import DuosTariff, TariffQuery, resolve_query
from bess_duos.core.timebands import BAND_ALIASES, BANDS, TimeBands

REACTIVE_POWER_FACTOR = 0.95
# tan(acos(0.95)) = sqrt(1/0.95^2 - 1) = 0.328684..., the exact ratio at a 0.95 power factor.
REACTIVE_FREE_RATIO = math.sqrt(1.0 / REACTIVE_POWER_FACTOR**2 - 1.0)
# kVArh allowed per kWh before the excess reactive charge applies, as charged: the statements'
# square root "to two decimal places" (ESP LC14 statement April 2026, para 2.52) = 0.33.
REACTIVE_CHARGE_RATIO = round(REACTIVE_FREE_RATIO, 2)
YEAR_DAYS = 365
WEEKDAYS_PER_YEAR = YEAR_DAYS * 5 / 7
WEEKEND_DAYS_PER_YEAR = YEAR_DAYS * 2 / 7
HALF_HOURS_PER_DAY = 48

TariffForYear = Mapping[int, DuosTariff] | Callable[[int], DuosTariff] | DuosTariff


class DuosError(ValueError):
    """Inputs that cannot be charged: no tariff or time bands for a year, bad columns or values."""


def default_power_factor() -> float:
    """`assumed_power_factor` from config/defaults.yaml."""
    return defaults().assumed_power_factor


def _dense_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, group of each row) for integer keys spanning a small range.

    The same as `np.unique(keys, return_inverse=True)` without sorting.
    """
    low = int(keys.min())
    relative = keys - low
    present = np.bincount(relative) > 0
    return np.flatnonzero(present) + low, (np.cumsum(present) - 1)[relative]


@dataclass(frozen=True)
class DuosSummary:
    """Charges for one profile, in £, with the quantities and methods behind them."""

    kwh_by_band: dict[str, float]
    unit_gbp_by_band: dict[str, float]
    unit_gbp: float
    fixed_gbp: float
    capacity_gbp: float
    exceeded_capacity_gbp: float
    reactive_gbp: float
    total_gbp: float
    days_covered: int
    weekday_days: float
    weekend_days: float
    half_hours: int
    first: str
    last: str
    charging_years: tuple[int, ...]
    tariffs: tuple[str, ...]
    agreed_kva: float | None
    max_demand_kva: float
    max_demand_at: str
    assumed_power_factor: float | None
    exceeded_kva_by_month: dict[str, float]
    chargeable_kvarh: float | None
    annualised_total_gbp: float | None  # None: too little data (core.valuation.annual_figures)
    annualisation_method: str
    notes: tuple[str, ...] = field(default=())

    @property
    def total_kwh(self) -> float:
        """kWh over all bands."""
        return float(sum(self.kwh_by_band.values()))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        data = asdict(self)
        data["total_kwh"] = self.total_kwh
        for key in ("charging_years", "tariffs", "notes"):
            data[key] = list(data[key])
        return data

    def format(self) -> str:
        """Readable multi-line summary for the command line."""
        data_days = self.weekday_days + self.weekend_days
        rows = [
            f"Profile: {self.first} to {self.last} UTC, {self.half_hours} half hours = "
            f"{data_days:.4g} days of data ({self.weekday_days:.4g} weekday, "
            f"{self.weekend_days:.4g} weekend) on {self.days_covered} UK calendar days",
            "Tariffs: " + "; ".join(self.tariffs),
        ]
        for band in BANDS:
            rows.append(
                f"  {band:<6} {self.kwh_by_band[band]:>14,.1f} kWh  "
                f"£{self.unit_gbp_by_band[band]:>12,.2f}"
            )
        capacity_note = f"({self.agreed_kva:g} kVA agreed)" if self.agreed_kva else "(no kVA)"
        for label, value, note in (
            ("Unit charges", self.unit_gbp, ""),
            ("Fixed", self.fixed_gbp, ""),
            ("Capacity", self.capacity_gbp, capacity_note),
            ("Exceeded capacity", self.exceeded_capacity_gbp, ""),
            ("Reactive power", self.reactive_gbp, ""),
            ("Total", self.total_gbp, ""),
            ("Annualised", self.annualised_total_gbp, f"({self.annualisation_method})"),
        ):
            shown = "           -" if value is None else f"{value:>12,.2f}"
            rows.append(f"{label:<18}£{shown}  {note}".rstrip())
        pf = self.assumed_power_factor
        rows.append(
            f"Max demand {self.max_demand_kva:,.1f} kVA at {self.max_demand_at} UTC"
            + (f" (assumed power factor {pf:g})" if pf else "")
        )
        rows += [f"Note: {note}" for note in self.notes]
        return "\n".join(rows)


@dataclass(frozen=True)
class DuosResult:
    """Per-half-hour charges (`frame`, UTC index) and their `summary`."""

    frame: pd.DataFrame
    summary: DuosSummary


def _tariff_getter(tariffs: TariffForYear) -> Callable[[int], DuosTariff]:
    return _bands.per_year_getter(
        tariffs,
        DuosTariff,
        lambda year, have: DuosError(
            f"no tariff for charging year {year}/{(year + 1) % 100:02d} "
            f"(April {year} to March {year + 1}); tariffs given for {have}"
        ),
    )


def _time_bands(tariff: DuosTariff, year: int) -> TimeBands:
    if tariff.time_bands is not None:
        return tariff.time_bands
    from bess_duos.core import tariffs as tariffs_module

    loader = getattr(tariffs_module, "load_time_bands", None)
    if loader is None:
        raise DuosError(
            f"tariff {tariff.tariff_name!r} (distributor {tariff.dno_id}) has no time_bands; "
            "build it with time_bands=TimeBands(...) or get it from core.tariffs.resolve_tariff"
        )
    return loader(tariff.dno_id, year)


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


def unit_costs(
    utc: pd.DatetimeIndex | np.ndarray, kwh: np.ndarray, tariffs: TariffForYear
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band index int8 into `BANDS`, unit rate p/kWh, unit £) of each half hour. The hot path."""
    utc_ns = _bands._as_utc_ns(utc)
    if utc_ns.size == 0:
        return np.zeros(0, np.int8), np.zeros(0), np.zeros(0)
    if _bands._use_grid(utc_ns):
        grid = _bands.HalfHourGrid.spanning(utc_ns)
        clock = grid.clock
        position = grid.position(utc_ns)
    else:
        clock = _bands.uk_clock(utc_ns)
        position = None
    years = np.unique(clock.charging_year)
    tables = _YearTables.build(years, tariffs)
    band = _bands.band_index_from_clock(clock, tables.slot_tables, years)
    rate = tables.unit_rates[np.searchsorted(years, clock.charging_year), band]
    if position is not None:
        band, rate = band[position], rate[position]
    return band, rate, _import_kwh(kwh) * rate / 100.0


def _import_kwh(kwh: np.ndarray) -> np.ndarray:
    """kWh the tariff bills: import only. A negative half hour (net export) is billed on the
    export MPAN's generation tariff, never as a credit on the import tariff."""
    return np.maximum(np.asarray(kwh, dtype=np.float64), 0.0)


def _spread(amount_by_group: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Share each group's amount equally over its rows (so the rows sum back to the amount)."""
    counts = np.bincount(group, minlength=amount_by_group.size)
    share = np.divide(amount_by_group, counts, out=np.zeros_like(amount_by_group), where=counts > 0)
    return share[group]


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")


def _describe(tariff: DuosTariff) -> str:
    year = f" {tariff.year}/{(tariff.year + 1) % 100:02d}" if tariff.year is not None else ""
    text = f"{tariff.tariff_name} (distributor {tariff.dno_id}, {tariff.voltage_level}{year})"
    return text + (f" from {tariff.source}" if tariff.source else "")


def charge_arrays(
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


def _annualise(
    *,
    total: float,
    weekday_energy_gbp: float,
    weekend_energy_gbp: float,
    per_day_gbp: float,
    days: int,
    weekday_days: float,
    weekend_days: float,
) -> tuple[float, str]:
    if days in (365, 366):
        return total, f"full year: {days} days summed"
    if weekday_days and weekend_days:
        weekday_rate = weekday_energy_gbp / weekday_days
        weekend_rate = weekend_energy_gbp / weekend_days
        how = "by day type"
    else:
        # Only one day type present: its daily average stands in for the other (stated).
        only = weekday_days or weekend_days
        weekday_rate = weekend_rate = (weekday_energy_gbp + weekend_energy_gbp) / only
        how = f"from {'weekdays' if weekday_days else 'weekend days'} only"
    energy = weekday_rate * WEEKDAYS_PER_YEAR + weekend_rate * WEEKEND_DAYS_PER_YEAR
    annual = energy + per_day_gbp / days * YEAR_DAYS
    span = f"partial year ({days} days)" if days < 365 else f"{days} days, more than a year"
    method = (
        f"{span}: unit and reactive £ scaled {how} "
        f"(£/weekday x {WEEKDAYS_PER_YEAR:.3f} + £/weekend day x {WEEKEND_DAYS_PER_YEAR:.3f}); "
        "fixed, capacity and exceeded £ per day x 365"
    )
    return annual, method


def duos_charges(
    profile: pd.DataFrame,
    tariffs: TariffForYear,
    *,
    agreed_kva: float | None = None,
    power_factor: float | None = None,
) -> DuosResult:
    """Charges for a UTC-indexed half-hourly profile (columns `kwh` [, `kvarh`]), in £.

    `tariffs` is one `DuosTariff` (applied to every charging year), a mapping charging
    year -> `DuosTariff`, or a callable year -> `DuosTariff`; each tariff's `time_bands` place
    the half hours of its year in bands.
    """
    if "kwh" not in profile.columns:
        raise DuosError(f"profile needs a 'kwh' column; it has {list(profile.columns)}")
    index = pd.DatetimeIndex(profile.index)
    kvarh = profile["kvarh"].to_numpy(np.float64) if "kvarh" in profile.columns else None
    columns, summary = charge_arrays(
        index,
        profile["kwh"].to_numpy(np.float64),
        tariffs,
        kvarh=kvarh,
        agreed_kva=agreed_kva,
        power_factor=power_factor,
    )
    data: dict[str, Any] = {
        "band": pd.Categorical.from_codes(columns.pop("band"), categories=list(BANDS)),
        "kwh": profile["kwh"].to_numpy(np.float64),
    }
    if kvarh is not None:
        data["kvarh"] = kvarh
    data.update(columns)
    data["duos_unit_cost"] = columns["unit_gbp"]
    data["duos_total_cost"] = columns["total_gbp"]
    # One constructor call (columns copied, as before) instead of a column insert per name.
    return DuosResult(pd.DataFrame(data, index=profile.index, copy=True), summary)


@functools.lru_cache(maxsize=256)
def _resolve(query: TariffQuery) -> DuosTariff:
    return resolve_query(query)


def tariffs_for_site(query: TariffQuery) -> Callable[[int], DuosTariff]:
    """A callable charging year -> `DuosTariff`: `query`'s site on 1 April of that year,
    resolved from the workbooks (and remembered)."""
    return lambda year: _resolve(query.for_year(int(year)))


def duos_for_site(
    profile: pd.DataFrame, query: TariffQuery, *, power_factor: float | None = None
) -> DuosResult:
    """Charges for a profile at one site, with the tariff of each charging year resolved
    (`query.on` is ignored: each year's own tariff applies; `query.kva` is also the agreed
    capacity charged)."""
    return duos_charges(profile, tariffs_for_site(query), agreed_kva=query.kva,
                        power_factor=power_factor)




def _band_column(values: pd.Series) -> np.ndarray:
    """Band indices (into `BANDS`) from a column of band names; unknown names are an error."""
    names = values.astype(str).str.strip().str.lower().replace(BAND_ALIASES)
    index = pd.Categorical(names, categories=list(BANDS)).codes
    if (index < 0).any():
        row = int(np.flatnonzero(index < 0)[0])
        raise DuosError(
            f"band column row {row + 1}: {values.iloc[row]!r} is not a band; use one of "
            f"{list(BANDS)} (or drop the column to use the tariff's time bands)"
        )
    return index.astype(np.int8)


def calculate_duos_costs(
    df: pd.DataFrame,
    tariff: TariffForYear,
    kva_capacity: float | None = None,
    *,
    power_factor: float | None = None,
) -> pd.DataFrame:
    """The seed toolkit's call: `df` with the band and the charges of each half hour added (£).

    `df` has a DatetimeIndex or a `timestamp`/`datetime` column, and a `kwh` or
    `consumption_kwh` column, or a `kw` column (mean kW: kWh = kW x 0.5); optional `kvarh`.
    Naive times are UK clock time (Europe/London); tz-aware times are used as given. A `band`
    column (red/amber/green per row, the seed's custom bands) is used instead of the tariff's
    time bands. Rows keep their order and index. Added columns: `band`,
    `unit_rate_p_per_kwh`, `duos_unit_cost`, `duos_fixed_cap_cost` (the day's fixed and
    capacity £ and the month's exceeded capacity £ spread over their half hours),
    `duos_reactive_cost` and `duos_total_cost` (the sum of the three, so the column sums to
    the total charge). Differences from the seed: costs are in £ (rates stay p/kWh as
    published) and bands are placed by UK clock time, not by the timestamps' face value.
    """
    from bess_duos.core.features import FeatureError, kwh_series

    try:
        series = kwh_series(df.drop(columns=["kvarh", "band"], errors="ignore"), "df")
    except FeatureError as exc:
        raise DuosError(str(exc)) from exc
    utc, kwh = series.index.asi8, series.to_numpy(np.float64)
    kvarh = df["kvarh"].to_numpy(np.float64) if "kvarh" in df.columns else None
    band = _band_column(df["band"]) if "band" in df.columns else None
    columns, _ = charge_arrays(
        utc, kwh, tariff, kvarh=kvarh, agreed_kva=kva_capacity, power_factor=power_factor,
        band=band,
    )
    out = df.copy()
    out["band"] = pd.Categorical.from_codes(columns["band"], categories=list(BANDS))
    out["unit_rate_p_per_kwh"] = columns["unit_rate_p_per_kwh"]
    out["duos_unit_cost"] = columns["unit_gbp"]
    out["duos_fixed_cap_cost"] = (
        columns["fixed_gbp"] + columns["capacity_gbp"] + columns["exceeded_capacity_gbp"]
    )
    out["duos_reactive_cost"] = columns["reactive_gbp"]
    out["duos_total_cost"] = columns["total_gbp"]
    return out
