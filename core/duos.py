"""DUoS charges in £ for a half-hourly profile: units by band, fixed, capacity, exceeded, reactive.

Rates are taken as published (p/kWh, p/MPAN/day, p/kVA/day, p/kVArh) and every result is in £.
A profile that spans 1 April is charged with each charging year's own tariff and time bands:
pass a tariff per year (a mapping year -> `DuosTariff`, or a callable), or use `duos_for_site`,
which resolves them for a `core.tariffs.TariffQuery` with `core.tariffs.resolve_query`.
`charge_many` charges many sites on one half-hour index at once (the same results per site).

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
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core import bands as _bands
from bess_duos.core.defaults import defaults
from bess_duos.core.duos_rows import import_demand, import_units
from bess_duos.core.plain import fields_of, json_safe
from bess_duos.core.tariffs import DuosTariff, TariffQuery, resolve_query
from bess_duos.core.timebands import BAND_ALIASES, BANDS, SLOTS_PER_DAY, TimeBands

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
_FULL_YEAR_DAYS = (365, 366)  # days covered that are annualised as they are, not scaled

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
        """Every field and `total_kwh`, as plain JSON values (`core.plain.json_safe`'s)."""
        data = fields_of(self)
        data["total_kwh"] = json_safe(self.total_kwh)
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
    def build(cls, years: np.ndarray, tariffs: TariffForYear,
              built: dict[tuple[Any, ...], _YearTables] | None = None) -> _YearTables:
        """The tables of `years` under `tariffs`; `built` (the caller's, for one calendar)
        keeps the tables made so far by their time bands and unit rates, so sites of the same
        ones share their arrays (equal arrays, made once; the tariffs and notes are each
        site's)."""
        get = _tariff_getter(tariffs)
        chosen = tuple(get(int(year)) for year in years)
        if built is None:
            return cls._of(years, chosen)
        # `built` holds tariffs with these time bands, so the ids stay theirs.
        key = tuple((id(t.time_bands), t.dno_id, t.unit_rates_p_per_kwh) for t in chosen)
        found = built.get(key)
        if found is None:
            found = built[key] = cls._of(years, chosen)
        elif not all(map(operator.is_, found.tariffs, chosen)):
            found = cls(years, chosen, found.slot_tables, found.unit_rates,
                        cls._notes(years, chosen))
        return found

    @classmethod
    def _of(cls, years: np.ndarray, chosen: tuple[DuosTariff, ...]) -> _YearTables:
        tables = np.stack(
            [
                _time_bands(t, int(year)).frozen_slot_table
                for year, t in zip(years, chosen, strict=True)
            ]
        )
        rates = np.array([t.unit_rates_p_per_kwh for t in chosen], dtype=np.float64)
        return cls(years, chosen, tables, rates, cls._notes(years, chosen))

    @staticmethod
    def _notes(years: np.ndarray, chosen: tuple[DuosTariff, ...]) -> tuple[str, ...]:
        return tuple(
            f"the {t.year}/{(t.year + 1) % 100:02d} tariff {t.tariff_name!r} is applied to "
            f"charging year {year}/{(int(year) + 1) % 100:02d}"
            for year, t in zip(years, chosen, strict=True)
            if t.year is not None and t.year != int(year)
        ) + tuple(
            dict.fromkeys(t.selection_note for t in chosen if getattr(t, "selection_note", ""))
        )

    def per_year(self, attribute: str) -> np.ndarray:
        return np.array([getattr(t, attribute) for t in self.tariffs], dtype=np.float64)

    @functools.cached_property
    def described(self) -> tuple[str, ...]:
        """The distinct `_describe` of the tariffs, in order."""
        return tuple(dict.fromkeys(_describe(t) for t in self.tariffs))


def _per_site_year(year_tables: list[_YearTables], attribute: str) -> np.ndarray:
    """[site, year] `attribute` of each site's tariff of each year, as float64."""
    return np.array([[getattr(t, attribute) for t in tables.tariffs] for tables in year_tables],
                    dtype=np.float64).reshape(len(year_tables), -1)


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.flags.writeable = False


@dataclass(frozen=True)
class _Calendar:
    """How the half hours group: charging year, UK clock day and calendar month of each row
    and its day type. The same for every site on the same timestamps (cached per grid)."""

    utc_ns: np.ndarray
    grid: tuple[int, int] | None  # (first instant, count) of a regular half-hour grid
    clock: _bands.UkClock
    years: np.ndarray  # charging years present, sorted
    year_pos: np.ndarray  # position in `years` of each row
    day_of_row: np.ndarray
    day_rows: np.ndarray  # half hours per day
    day_year_pos: np.ndarray
    month_id: np.ndarray  # months since January 1970
    month_of_row: np.ndarray
    month_rows: np.ndarray  # half hours per month
    month_days: np.ndarray  # days with data per month
    month_year_pos: np.ndarray
    month_order: np.ndarray | None  # rows in month order (None: they already are)
    month_starts: np.ndarray  # first row of each month in month order, for reduceat
    weekday_rows: np.ndarray  # rows on Monday-Friday
    weekend_rows: np.ndarray  # rows on Saturday, Sunday
    first: str
    last: str

    @functools.cached_property
    def month_labels(self) -> tuple[str, ...]:
        """Each month's "YYYY-MM", in `month_id` order."""
        return tuple(str(np.datetime64(int(m), "M")) for m in self.month_id)

    @classmethod
    def of(
        cls, utc_ns: np.ndarray, grid: tuple[int, int] | None = None,
        clock: _bands.UkClock | None = None,
    ) -> _Calendar:  # fmt: skip
        clock = _bands.uk_clock(utc_ns) if clock is None else clock
        years, year_pos = _dense_groups(clock.charging_year)
        day_id, day_of_row = _dense_groups(clock.local_day)
        day_year_pos = np.zeros(day_id.size, dtype=np.int64)
        day_year_pos[day_of_row] = year_pos
        calendar_year = clock.charging_year + (clock.month < 4)
        month_key = (calendar_year - 1970) * 12 + clock.month - 1  # months since January 1970
        month_id, month_of_row = _dense_groups(month_key)
        day_month = np.zeros(day_id.size, dtype=np.int64)
        day_month[day_of_row] = month_of_row
        month_year_pos = np.zeros(month_id.size, dtype=np.int64)
        month_year_pos[month_of_row] = year_pos
        order = None if bool((np.diff(month_of_row) >= 0).all()) else np.argsort(
            month_of_row, kind="stable")  # fmt: skip
        in_order = month_of_row if order is None else month_of_row[order]
        starts = np.flatnonzero(np.diff(in_order, prepend=-1))
        made = cls(
            utc_ns, grid, clock, years, year_pos, day_of_row,
            np.bincount(day_of_row, minlength=day_id.size), day_year_pos,
            month_id, month_of_row, np.bincount(month_of_row, minlength=month_id.size),
            np.bincount(day_month, minlength=month_id.size), month_year_pos, order, starts,
            np.flatnonzero(~clock.weekend), np.flatnonzero(clock.weekend),
            _bands.utc_minute_text(int(utc_ns.min())),
            _bands.utc_minute_text(int(utc_ns.max())),
        )  # fmt: skip
        if grid is not None:  # shared through the cache
            _read_only(*(v for v in vars(made).values() if isinstance(v, np.ndarray)))
        return made


@dataclass(frozen=True)
class _BandLayout:
    """Each row's band, its place in a [year, band] rate table, and the rows grouped by band."""

    band: np.ndarray
    rate_index: np.ndarray  # year position x 3 + band
    order: np.ndarray  # rows sorted by band, in row order within a band
    starts: np.ndarray  # band b's rows are order[starts[b]:starts[b + 1]]
    band_key: bytes | None = None  # the slot tables it came from, when cached per grid

    @classmethod
    def of(
        cls, calendar: _Calendar, band: np.ndarray, band_key: bytes | None = None
    ) -> _BandLayout:
        order = np.argsort(band, kind="stable")
        starts = np.searchsorted(band[order], np.arange(len(BANDS) + 1))
        return cls(band, calendar.year_pos * len(BANDS) + band, order, starts, band_key)


@functools.lru_cache(maxsize=8)  # ~0.8 MB per year-long grid
def _grid_calendar(first_ns: int, size: int) -> _Calendar:
    utc_ns = first_ns + np.arange(size, dtype=np.int64) * _bands.NS_PER_HALF_HOUR
    return _Calendar.of(utc_ns, (first_ns, size), _bands._regular_clock(first_ns, size))


@functools.lru_cache(maxsize=32)  # ~0.3 MB per year-long grid and time-band set
def _grid_layout(grid: tuple[int, int], slot_tables: bytes) -> _BandLayout:
    calendar = _grid_calendar(*grid)
    tables = np.frombuffer(slot_tables, dtype=np.int8).reshape(-1, 12, 2, SLOTS_PER_DAY)
    layout = _BandLayout.of(
        calendar, _bands.band_index_from_clock(calendar.clock, tables, calendar.years),
        slot_tables)
    _read_only(layout.band, layout.rate_index, layout.order, layout.starts)
    return layout


@functools.lru_cache(maxsize=64)  # ~0.14 MB per year-long grid, time-band set and rates
def _grid_rate(grid: tuple[int, int], slot_tables: bytes, unit_rates: bytes) -> np.ndarray:
    rate = np.frombuffer(unit_rates, dtype=np.float64).take(
        _grid_layout(grid, slot_tables).rate_index)
    rate.flags.writeable = False
    return rate


def _rate_row(calendar: _Calendar, layout: _BandLayout, unit_rates: np.ndarray) -> np.ndarray:
    """Unit rate p/kWh of each row: [year, band] rates at the layout's rows (shared per grid)."""
    if calendar.grid is not None and layout.band_key is not None:
        return _grid_rate(calendar.grid, layout.band_key, unit_rates.tobytes())
    return unit_rates.reshape(-1).take(layout.rate_index)


def _calendar(utc_ns: np.ndarray) -> _Calendar:
    grid = _bands.half_hour_grid(utc_ns)
    return _Calendar.of(utc_ns) if grid is None else _grid_calendar(*grid)


def _layout(calendar: _Calendar, slot_tables: np.ndarray) -> _BandLayout:
    """The tariffs' bands, computed once per (grid, time-band set)."""
    if calendar.grid is not None:
        return _grid_layout(calendar.grid, slot_tables.tobytes())
    band = _bands.band_index_from_clock(calendar.clock, slot_tables, calendar.years)
    return _BandLayout.of(calendar, band)


def unit_costs(
    utc: pd.DatetimeIndex | np.ndarray, kwh: np.ndarray, tariffs: TariffForYear
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band index int8 into `BANDS`, unit rate p/kWh, unit £) of each half hour. The hot path."""
    utc_ns = _bands._as_utc_ns(utc)
    if utc_ns.size == 0:
        return np.zeros(0, np.int8), np.zeros(0), np.zeros(0)
    if _bands.half_hour_grid(utc_ns) is not None:  # bands and rates cached per grid
        calendar = _calendar(utc_ns)
        tables = _YearTables.build(calendar.years, tariffs)
        layout = _layout(calendar, tables.slot_tables)
        rate = _rate_row(calendar, layout, tables.unit_rates)
        return layout.band, rate, _import_kwh(kwh) * rate / 100.0
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


def _describe(tariff: DuosTariff) -> str:
    year = f" {tariff.year}/{(tariff.year + 1) % 100:02d}" if tariff.year is not None else ""
    text = f"{tariff.tariff_name} (distributor {tariff.dno_id}, {tariff.voltage_level}{year})"
    return text + (f" from {tariff.source}" if tariff.source else "")


def _check_kwh(kwh: np.ndarray, where: str = "") -> None:
    if not np.isnan(np.add.reduce(kwh, axis=None)):  # no NaN (a NaN makes the sum NaN)
        return
    missing = int(np.isnan(kwh).sum())  # none when the sum was NaN from +inf and -inf
    if missing:
        raise DuosError(
            f"{where}{missing} kWh values are missing (NaN): drop or fill them first")


def _check_agreed(agreed_kva: float | None, where: str = "") -> None:
    if agreed_kva is not None and (not math.isfinite(agreed_kva) or agreed_kva < 0):
        raise DuosError(f"{where}agreed capacity {agreed_kva!r} kVA must be a number >= 0")


def _check_kvarh(kvarh: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    kvarh = np.asarray(kvarh, dtype=np.float64)
    if kvarh.shape != shape:
        raise DuosError(f"kVArh values of shape {kvarh.shape} for kWh of shape {shape}")
    if np.isnan(kvarh).any():
        raise DuosError(f"{int(np.isnan(kvarh).sum())} kVArh values are missing (NaN)")
    return kvarh


def _power_factor(
    power_factor: float | None, where: str = "", default: float | None = None
) -> float:
    assumed_pf = float(power_factor or default or default_power_factor())
    if not 0 < assumed_pf <= 1:
        raise DuosError(f"{where}power factor {assumed_pf!r} must be in (0, 1]")
    return assumed_pf


def charge_arrays(
    utc: pd.DatetimeIndex | np.ndarray,
    kwh: np.ndarray,
    tariffs: TariffForYear,
    *,
    kvarh: np.ndarray | None = None,
    agreed_kva: float | None = None,
    power_factor: float | None = None,
    band: np.ndarray | None = None,
    all_columns: bool = True,
) -> tuple[dict[str, np.ndarray], DuosSummary]:
    """Charges for half hours given as arrays (any order); returns per-row columns and summary.

    `band` (index into `BANDS` per row) overrides the tariffs' time bands when given. On a
    regular half-hour grid the calendar and the bands are computed once and shared (the
    `band` and `charging_year` columns are then read-only). `all_columns=False` returns only
    `band`, `charging_year` and `unit_rate_p_per_kwh` (as `charge_many`), the same summary."""
    utc_ns = _bands._as_utc_ns(utc)
    kwh = np.asarray(kwh, dtype=np.float64)
    if utc_ns.size == 0:
        raise DuosError("the profile has no half hours to charge")
    if kwh.shape != utc_ns.shape:
        raise DuosError(f"{kwh.size} kWh values for {utc_ns.size} timestamps")
    _check_kwh(kwh)
    _check_agreed(agreed_kva)
    calendar = _calendar(utc_ns)
    tables = _YearTables.build(calendar.years, tariffs)
    if band is None:
        layout = _layout(calendar, tables.slot_tables)
    elif np.shape(band) != utc_ns.shape:
        raise DuosError(f"{np.size(band)} bands for {utc_ns.size} timestamps")
    else:
        layout = _BandLayout.of(calendar, np.asarray(band))
    kvarh_2d = None if kvarh is None else _check_kvarh(kvarh, kwh.shape)[None]
    assumed_pf = None if kvarh is not None else _power_factor(power_factor)
    return _charge_block(calendar, kwh[None], kvarh_2d, [tables], [layout], [agreed_kva],
                         [assumed_pf], all_columns=all_columns)[0]


def charge_many(
    utc: pd.DatetimeIndex | np.ndarray,
    kwh: np.ndarray,
    tariffs: Sequence[TariffForYear],
    *,
    kvarh: np.ndarray | None = None,
    agreed_kva: Sequence[float | None] | float | None = None,
    power_factor: Sequence[float | None] | float | None = None,
    all_columns: bool = True,
    finite: bool = False,
) -> list[tuple[dict[str, np.ndarray], DuosSummary]]:
    """`charge_arrays` of many sites on the same timestamps, as one batch.

    `kwh` (and `kvarh`, if given) is [sites, half hours]; `tariffs` has one tariff (or
    tariff per year) per site; `agreed_kva` and `power_factor` are one value for every site
    or one per site. Returns, per site, exactly what `charge_arrays` returns for that site's
    row. The calendar and each time-band set's bands are computed once; the charges are 2-D
    array operations. The per-row columns take ~0.85 MB per site-year; `all_columns=False`
    returns only `band`, `charging_year` and `unit_rate_p_per_kwh` (arrays shared by the sites
    with the same bands and rates) with the same summaries, and needs no memory per site.
    `finite=True` says the caller has checked every kWh is a finite number: they are not
    checked for NaN again.
    """
    utc_ns = _bands._as_utc_ns(utc)
    kwh = np.asarray(kwh, dtype=np.float64)
    if utc_ns.size == 0:
        raise DuosError("the profile has no half hours to charge")
    if kwh.ndim != 2 or kwh.shape[1] != utc_ns.size:
        raise DuosError(
            f"kwh must be [sites, half hours] = [n, {utc_ns.size}]; it has shape {kwh.shape}")
    sites = kwh.shape[0]
    if isinstance(tariffs, DuosTariff | Mapping) or len(tariffs) != sites:
        raise DuosError(f"tariffs must be a sequence with one entry per site ({sites} sites)")
    agreed = _per_site(agreed_kva, sites, "agreed_kva")
    factors = _per_site(power_factor, sites, "power_factor")
    if sites == 0:
        return []
    for site in [] if finite else np.flatnonzero(np.isnan(np.add.reduce(kwh, axis=1))):
        _check_kwh(kwh[site], f"site {site}: ")  # NaN in the row, or +inf and -inf: the
        # first row with a NaN raises
    for site, value in enumerate(agreed):
        _check_agreed(value, f"site {site}: ")
    calendar = _calendar(utc_ns)
    tables = []
    built: dict[tuple[Any, ...], _YearTables] = {}
    for site, site_tariffs in enumerate(tariffs):
        try:
            tables.append(_YearTables.build(calendar.years, site_tariffs, built))
        except DuosError as exc:
            raise DuosError(f"site {site}: {exc}") from None
    layouts = [_layout(calendar, t.slot_tables) for t in tables]
    kvarh_2d = None if kvarh is None else _check_kvarh(kvarh, kwh.shape)
    default = default_power_factor() if kvarh is None and not all(factors) else None
    assumed = [None] * sites if kvarh is not None else [
        _power_factor(value, f"site {site}: ", default) for site, value in enumerate(factors)]
    if all_columns:
        return _charge_block(calendar, kwh, kvarh_2d, tables, layouts, agreed, assumed)
    # Temporaries only: a few dozen sites at a time reuse the same memory. The sites go in
    # blocks in order of their bands and rates, so that a block's sites of one band set (and
    # of one set of rates) are one slice of its rows: read as views, not gathered copies.
    key: dict[tuple[int, bytes], int] = {}
    order = np.argsort([key.setdefault((id(layout), t.unit_rates.tobytes()), len(key))
                        for layout, t in zip(layouts, tables, strict=True)], kind="stable")
    out: list[Any] = [None] * sites
    for start in range(0, sites, _CHUNK_SITES):
        part = order[start:start + _CHUNK_SITES]
        charged = _charge_block(
            calendar, kwh, None if kvarh_2d is None else kvarh_2d[_rows(part)],
            [tables[i] for i in part], [layouts[i] for i in part], [agreed[i] for i in part],
            [assumed[i] for i in part], all_columns=False, sources=part)
        for i, result in zip(part, charged, strict=True):
            out[i] = result
    return out


_CHUNK_SITES = 8  # sites per block when only the summaries are kept: ~1.1 MB per array of a
# site-year block, in a core's L2 (measured: 8 sites ~145 us a site, 32 ~180, 64 ~220)


def _per_site(value: Any, sites: int, name: str) -> list[Any]:
    if value is None or isinstance(value, int | float):
        return [value] * sites
    values = list(value)
    if len(values) != sites:
        raise DuosError(f"{name} has {len(values)} values for {sites} sites: give one per site")
    return values


def _rows(members: Sequence[int] | np.ndarray) -> slice | Sequence[int] | np.ndarray:
    """Rows `members` (at least one) as a slice when they are a run in order (each the one
    before + 1: indexing by it gives views), else as they are."""
    if (np.diff(members) == 1).all():
        return slice(int(members[0]), int(members[-1]) + 1)
    return members


def _charge_block(
    calendar: _Calendar,
    kwh: np.ndarray,
    kvarh: np.ndarray | None,
    year_tables: list[_YearTables],
    layouts: list[_BandLayout],
    agreed_kva: list[float | None],
    assumed_pf: list[float | None],
    all_columns: bool = True,
    sources: np.ndarray | None = None,
) -> list[tuple[dict[str, np.ndarray], DuosSummary]]:
    """The charges of [sites, half hours] of kWh on one calendar (inputs already checked):
    site i's kWh is row `sources[i]` of `kwh` (default: row i), read in place."""
    sites, size = len(year_tables), kwh.shape[1]
    sources = np.arange(sites, dtype=np.intp) if sources is None else sources
    # Every per-row array in one allocation (the allocator then reuses its pages from call to
    # call instead of mapping and faulting in a fresh ~140 kB per array per year).
    spread = ["fixed_gbp", "capacity_gbp", "exceeded_capacity_gbp", "total_gbp"]
    days = int(calendar.day_rows.size)
    keep_kva = all_columns or kvarh is not None  # else only its maxima are read
    names = ["unit_gbp"] + ["kva"] * keep_kva + spread * all_columns + [
        "active", "reactive_gbp"] * (kvarh is not None) + [
        "scratch"] * (days not in _FULL_YEAR_DAYS)  # (the energy by day type)
    block = dict(zip(names, np.empty((len(names), sites, size)), strict=True))
    by_rates: dict[tuple[int, bytes], tuple[np.ndarray, _BandLayout, list[int]]] = {}
    for site, (layout, tables) in enumerate(zip(layouts, year_tables, strict=True)):
        key = (id(layout), tables.unit_rates.tobytes())
        if key not in by_rates:
            by_rates[key] = (_rate_row(calendar, layout, tables.unit_rates), layout, [])
        by_rates[key][2].append(site)
    # Active import: only half hours importing are billed, and only they count towards demand
    # kVA and demand reactive (see the module docstring). It (in row order only for the
    # reactive charge), the unit £ (p/kWh x kWh / 100) in row order and both summed by band
    # (each band's rows in row order, as numpy sums them) and in all, in one pass.
    empty = np.empty((0, size))
    active_import, unit_gbp = block.get("active", empty), block["unit_gbp"]
    rate_of_site: list[np.ndarray] = [np.empty(0)] * sites
    rows_kwh = np.ascontiguousarray(kwh)
    exporting = np.empty(sites, dtype=np.uint8)  # the sites with a half hour of net export
    kwh_by_band = np.empty((sites, len(BANDS)))
    gbp_by_band = np.empty((sites, len(BANDS)))
    unit_total = np.empty(sites)
    for rate, layout, members in by_rates.values():
        at = np.array(members, dtype=np.intp)
        import_units(rows_kwh, sources[at], at, rate, layout.order, layout.starts,
                     active_import, unit_gbp, kwh_by_band, gbp_by_band, unit_total, exporting)
        for site in members:
            rate_of_site[site] = rate

    def per_year(attribute: str, at: np.ndarray) -> np.ndarray:  # [site, len(at)], C order
        # (np.take, not [:, at]: that result is in Fortran order, and a row sum over it would
        # not be the same pairwise sum as over the one-site array.)
        return np.take(_per_site_year(year_tables, attribute), at, axis=1)

    # Days (UK clock dates) and months with data, each with its charging year.
    fixed_day = per_year("fixed_p_per_day", calendar.day_year_pos) / 100.0
    agreed = np.array([float(a or 0.0) for a in agreed_kva])[:, None]
    capacity_day = (
        per_year("capacity_p_per_kva_per_day", calendar.day_year_pos) * agreed / 100.0)

    # Maximum demand per half hour, kVA, with its maximum per UK calendar month and its peak.
    reactive_rates = _per_site_year(year_tables, "reactive_p_per_kvarh")
    kva = block.get("kva", empty)
    if kvarh is not None:
        reactive = np.where(active_import > 0, np.abs(kvarh), 0.0)  # max(RI, RE)
        np.hypot(active_import, reactive, out=kva)
        kva *= 2.0
        by_month = kva if calendar.month_order is None else np.take(
            kva, calendar.month_order, axis=1)
        month_max = np.maximum.reduceat(by_month, calendar.month_starts, axis=1)
        peak = kva.argmax(axis=1)
        chargeable = np.maximum(reactive - active_import * REACTIVE_CHARGE_RATIO, 0.0)
        reactive_rate = np.take(reactive_rates, calendar.year_pos, axis=1)
        reactive_gbp = np.multiply(chargeable, reactive_rate, out=block["reactive_gbp"])
        reactive_gbp /= 100.0
        chargeable_kvarh: np.ndarray | None = chargeable.sum(axis=1)
        reactive_total = reactive_gbp.sum(axis=1)
    else:  # from the assumed power factor: 2 x active / power factor (compiled, as above)
        month_max = np.empty((sites, calendar.month_id.size))
        peak = np.empty(sites, dtype=np.intp)
        import_demand(rows_kwh, sources, np.arange(sites, dtype=np.intp),
                      np.array(assumed_pf, dtype=np.float64), calendar.month_of_row, kva,
                      month_max, peak)
        chargeable_kvarh = None
        reactive_gbp = np.zeros((sites, size if all_columns else 0))
        reactive_total = np.zeros(sites)

    # Exceeded capacity per UK calendar month: month's max kVA over agreed, per day with data.
    charged = np.array([a is not None for a in agreed_kva])
    excess = np.maximum(month_max - agreed, 0.0)
    exceeded_rate = per_year("exceeded_capacity_p_per_kva_per_day", calendar.month_year_pos)
    exceeded_month_gbp = np.where(
        charged[:, None], excess * exceeded_rate * calendar.month_days / 100.0, 0.0)

    if all_columns:
        _spread_charges(calendar, block, fixed_day, capacity_day, exceeded_month_gbp,
                        reactive_gbp if kvarh is not None else None)

    if days in _FULL_YEAR_DAYS:  # summed as it is: the energy by day type is not read
        weekday_energy = weekend_energy = np.zeros(sites)
    else:
        energy_gbp = unit_gbp if kvarh is None else np.add(
            unit_gbp, reactive_gbp, out=active_import)  # active import is no longer needed
        scratch = block["scratch"]
        weekday_energy, weekend_energy = (
            np.take(energy_gbp, rows, axis=1, out=scratch[:, :rows.size], mode="clip").sum(
                axis=1)
            for rows in (calendar.weekday_rows, calendar.weekend_rows)
        )
    fixed_total = fixed_day.sum(axis=1)
    capacity_total = capacity_day.sum(axis=1)
    exceeded_total = exceeded_month_gbp.sum(axis=1)
    peak_kva = month_max.max(axis=1)  # the peak's kVA (no NaN: the largest of the months')

    weekday_days = (size - calendar.weekend_rows.size) / HALF_HOURS_PER_DAY
    weekend_days = calendar.weekend_rows.size / HALF_HOURS_PER_DAY
    charging_years = tuple(int(y) for y in calendar.years)
    # Each number as a Python float once per block (`tolist`), not per site and field.
    unit_l, fixed_l, capacity_l, exceeded_l, reactive_l, weekday_l, weekend_l = (
        values.tolist() for values in (unit_total, fixed_total, capacity_total, exceeded_total,
                                       reactive_total, weekday_energy, weekend_energy))
    kwh_band_l, gbp_band_l, excess_l = kwh_by_band.tolist(), gbp_by_band.tolist(), excess.tolist()
    chargeable_l = [None] * sites if chargeable_kvarh is None else chargeable_kvarh.tolist()
    unassessed = (kvarh is None) & reactive_rates.any(axis=1)
    peak_at = calendar.utc_ns[peak].tolist()
    out = []
    for site, (exports, peak_l) in enumerate(zip(exporting.tolist(), peak_kva.tolist(),
                                                  strict=True)):
        tables = year_tables[site]
        notes = list(tables.notes)
        if exports:
            site_kwh = kwh[sources[site]]
            exported = site_kwh < 0
            notes.append(
                f"{int(np.count_nonzero(exported))} half hours of net export "
                f"({float(-site_kwh[exported].sum()):,.1f} kWh) not charged: the import "
                "tariff bills import only (export is billed on the export MPAN's generation "
                "tariff)"
            )
        if unassessed[site]:
            notes.append("no kVArh in the profile: reactive power charge not assessed")
        exceeded_by_month: dict[str, float] = {}
        if agreed_kva[site] is not None:
            exceeded_by_month = {
                label: e for label, e in zip(calendar.month_labels, excess_l[site], strict=True)
                if e > 0
            }
        else:
            notes.append("no agreed capacity given: capacity and exceeded capacity not charged")
        unit, fixed, capacity = unit_l[site], fixed_l[site], capacity_l[site]
        exceeded, reactive_gbp_total = exceeded_l[site], reactive_l[site]
        total = unit + fixed + capacity + exceeded + reactive_gbp_total
        annualised, method = _annualise(
            total=total,
            weekday_energy_gbp=weekday_l[site],
            weekend_energy_gbp=weekend_l[site],
            per_day_gbp=fixed + capacity + exceeded,
            days=days,
            weekday_days=weekday_days,
            weekend_days=weekend_days,
        )
        summary = _summary(
            kwh_by_band=dict(zip(BANDS, kwh_band_l[site], strict=True)),
            unit_gbp_by_band=dict(zip(BANDS, gbp_band_l[site], strict=True)),
            unit_gbp=unit,
            fixed_gbp=fixed,
            capacity_gbp=capacity,
            exceeded_capacity_gbp=exceeded,
            reactive_gbp=reactive_gbp_total,
            total_gbp=total,
            days_covered=days,
            weekday_days=weekday_days,
            weekend_days=weekend_days,
            half_hours=size,
            first=calendar.first,
            last=calendar.last,
            charging_years=charging_years,
            tariffs=tables.described,
            agreed_kva=agreed_kva[site],
            max_demand_kva=peak_l,
            max_demand_at=_bands.utc_minute_text(peak_at[site]),
            assumed_power_factor=assumed_pf[site],
            exceeded_kva_by_month=exceeded_by_month,
            chargeable_kvarh=chargeable_l[site],
            annualised_total_gbp=annualised,
            annualisation_method=method,
            notes=tuple(notes),
        )
        columns = {
            "band": layouts[site].band,
            "charging_year": calendar.clock.charging_year,
            "unit_rate_p_per_kwh": rate_of_site[site],
        }
        if all_columns:
            columns |= {
                "unit_gbp": unit_gbp[site],
                "kva": kva[site],
                "reactive_gbp": reactive_gbp[site],
                **{name: block[name][site] for name in spread},
            }
        out.append((columns, summary))
    return out


def _summary(**values: Any) -> DuosSummary:
    """`DuosSummary(**values)` (every field given) without the frozen dataclass's `__init__`
    (~1 us, not ~8): it only sets the fields, so the object is the same."""
    summary = object.__new__(DuosSummary)
    summary.__dict__.update(values)
    return summary


def _spread_charges(
    calendar: _Calendar,
    block: dict[str, np.ndarray],
    fixed_day: np.ndarray,
    capacity_day: np.ndarray,
    exceeded_month_gbp: np.ndarray,
    reactive_gbp: np.ndarray | None,
) -> None:
    """Each day's (month's) charge shared equally over its half hours, and each row's total."""
    for name, amount, rows, group in (
        ("fixed_gbp", fixed_day, calendar.day_rows, calendar.day_of_row),
        ("capacity_gbp", capacity_day, calendar.day_rows, calendar.day_of_row),
        ("exceeded_capacity_gbp", exceeded_month_gbp, calendar.month_rows, calendar.month_of_row),
    ):
        np.take(amount / rows, group, axis=1, out=block[name], mode="clip")
    total_rows = block["total_gbp"]
    np.add(block["unit_gbp"], block["fixed_gbp"] if reactive_gbp is None else reactive_gbp,
           out=total_rows)  # fmt: skip
    if reactive_gbp is not None:
        total_rows += block["fixed_gbp"]
    total_rows += block["capacity_gbp"]
    total_rows += block["exceeded_capacity_gbp"]


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
    if days in _FULL_YEAR_DAYS:
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
