"""The seed toolkit's `duos_cost_calculator`, kept working over `bess_duos.core.duos`.

Same names, arguments, units and return shapes (docs/migrating.md): this `DuosTariff` takes
unit rates in £/kWh and the reactive rate in £/kVArh, fixed charges in p/day and capacity in
p/kVA/day, and converts them to the typed `bess_duos.core.tariffs.DuosTariff` (p/kWh, as the
workbooks publish). What changed and why:

- Bands are the DNO's own time bands for the charging year (from its workbook), in UK clock
  time; the seed used one set (red 16:00-19:30, amber 08:00-16:00 and 19:30-22:00) for every
  DNO and read timestamps at face value. Pass `red_windows` / `amber_windows` to use your own
  windows instead, or a `band` column (red/amber/green per row) to set every half hour's band.
- Naive timestamps are UK clock time; tz-aware ones are used as given (clock-change days have
  46 or 50 half hours).
- `duos_fixed_cap_cost` spreads each UK day's fixed and capacity £ over that day's half hours
  (and the month's exceeded-capacity £, when the tariff has that rate), so it sums to days x
  the daily charge; the seed gave every row 1/48 of a day whatever the day's length.
- `duos_reactive_cost` charges only the kVArh above 0.33 x kWh in each half hour (the CDCM
  rule); the seed charged every kVArh.
- A `kw` column is read as mean kW over the half hour (kWh = kW x 0.5).
- `dno_id` may be '10' or 10.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bess_duos.core.bands import assign_bands
from bess_duos.core.duos import calculate_duos_costs as _typed_costs
from bess_duos.core.duos import tariffs_for_site
from bess_duos.core.mpan import parse_mpan
from bess_duos.core.profiles import localise_timestamps
from bess_duos.core.tariffs import DuosTariff as TypedDuosTariff
from bess_duos.core.tariffs import TariffQuery, UnitWarning
from bess_duos.core.timebands import BANDS, BandPeriod, TimeBands

PENCE_PER_POUND = 100.0
Windows = Sequence[tuple[float, float]]
SEED_RED_WINDOWS: tuple[tuple[float, float], ...] = ((16, 19.5),)
SEED_AMBER_WINDOWS: tuple[tuple[float, float], ...] = ((8, 16), (19.5, 22))

__all__ = [
    "DuosTariff",
    "calculate_duos_costs",
    "duos_band_for_hh",
    "get_tariff_for_mpan",
    "summarize_duos_costs",
]


@dataclass
class DuosTariff:
    """The seed's tariff: unit rates in £/kWh, `reactive_rate` in £/kVArh, fixed in p/day,
    capacity in p/kVA/day. `to_typed()` gives the p/kWh `bess_duos.core.tariffs.DuosTariff`."""

    dno_id: str | int
    tariff_name: str
    voltage_level: str
    red_rate: float
    amber_rate: float
    green_rate: float
    fixed_p_per_day: float = 0.0
    capacity_p_per_kva_per_day: float = 0.0
    reactive_rate: float = 0.0

    def __post_init__(self) -> None:
        rates = {"red_rate": self.red_rate, "amber_rate": self.amber_rate,
                 "green_rate": self.green_rate}
        big = {name: rate for name, rate in rates.items() if abs(rate) >= 1.0}
        if big:
            warnings.warn(
                f"DuosTariff (seed toolkit) unit rates are £/kWh, but {big} look like p/kWh: "
                "divide p/kWh by 100, or use bess_duos.core.tariffs.DuosTariff for p/kWh",
                UnitWarning,
                stacklevel=3,
            )

    def to_typed(self, time_bands: TimeBands | None = None) -> TypedDuosTariff:
        """The same tariff in the typed API's units (p/kWh, p/kVArh)."""
        return TypedDuosTariff(
            dno_id=int(str(self.dno_id).strip()),
            tariff_name=self.tariff_name,
            voltage_level=self.voltage_level,
            red_rate=self.red_rate * PENCE_PER_POUND,
            amber_rate=self.amber_rate * PENCE_PER_POUND,
            green_rate=self.green_rate * PENCE_PER_POUND,
            fixed_p_per_day=self.fixed_p_per_day,
            capacity_p_per_kva_per_day=self.capacity_p_per_kva_per_day,
            reactive_p_per_kvarh=self.reactive_rate * PENCE_PER_POUND,
            time_bands=time_bands,
        )

    def __str__(self) -> str:
        return (f"{self.dno_id} {self.tariff_name} ({self.voltage_level})\n"
                f"  Red: £{self.red_rate:.4f}/kWh, Amber: £{self.amber_rate:.4f}/kWh, "
                f"Green: £{self.green_rate:.4f}/kWh")


def _slot(hours: float, what: str) -> int:
    slot = float(hours) * 2
    if slot != int(slot) or not 0 <= slot <= 48:
        raise ValueError(f"{what}: {hours!r} is not a half hour between 0 and 24 (e.g. 19.5)")
    return int(slot)


def _hhmm(slot: int) -> str:
    return f"{slot // 2:02d}:{slot % 2 * 30:02d}"


def windows_time_bands(
    red_windows: Windows = SEED_RED_WINDOWS,
    amber_windows: Windows = SEED_AMBER_WINDOWS,
    weekend_is_green: bool = True,
    distributor_id: int = 0,
) -> TimeBands:
    """Time bands from the seed's windows (decimal clock hours, red before amber, the rest
    green; weekends all green unless `weekend_is_green` is False)."""
    label = np.full(48, BANDS.index("green"))
    for band, windows in (("amber", amber_windows), ("red", red_windows)):
        for start, end in windows:
            label[_slot(start, f"{band}_windows"):_slot(end, f"{band}_windows")] = BANDS.index(band)
    edges = np.flatnonzero(np.diff(label)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, 48]
    periods = [BandPeriod(BANDS[label[s]], "weekday", _hhmm(int(s)), _hhmm(int(e)))
               for s, e in zip(starts, ends, strict=True)]
    if weekend_is_green:
        periods.append(BandPeriod("green", "weekend", "00:00", "24:00"))
    else:
        periods += [dataclasses.replace(p, days="weekend") for p in periods]
    return TimeBands(distributor_id, 0, tuple(periods), source="seed toolkit windows")


def duos_band_for_hh(
    ts: pd.Timestamp,
    red_windows: Windows = SEED_RED_WINDOWS,
    amber_windows: Windows = SEED_AMBER_WINDOWS,
    weekend_is_green: bool = True,
) -> str:
    """The band of one half hour under the given windows (decimal clock hours). A naive `ts`
    is UK clock time; a tz-aware one is converted to UK clock time first (the seed read it at
    face value). For a DNO's own bands use `calculate_duos_costs` without windows."""
    utc = localise_timestamps(pd.DatetimeIndex([pd.Timestamp(ts)]))
    bands = windows_time_bands(red_windows, amber_windows, weekend_is_green)
    return str(assign_bands(pd.DatetimeIndex(utc, tz="UTC"), bands)[0])


TariffLike = DuosTariff | TypedDuosTariff | Callable[[int], TypedDuosTariff]


def _typed_tariff(tariff: Any, bands: TimeBands | None) -> Any:
    if isinstance(tariff, DuosTariff):
        return tariff.to_typed(bands)
    if bands is None:
        return tariff
    if isinstance(tariff, TypedDuosTariff):
        return dataclasses.replace(tariff, time_bands=bands)
    if callable(tariff):
        return lambda year: dataclasses.replace(tariff(year), time_bands=bands)
    raise TypeError(
        f"tariff: expected a DuosTariff or get_tariff_for_mpan(...), got {type(tariff).__name__}"
    )


def calculate_duos_costs(
    df_hh: pd.DataFrame,
    tariff: TariffLike,
    kva_capacity: float = 0.0,
    red_windows: Windows | None = None,
    amber_windows: Windows | None = None,
    kvarh_column: str | None = None,
) -> pd.DataFrame:
    """`df_hh` (`timestamp` + `kwh` or `kw`, optional `band`) with `band`, `unit_rate` (£/kWh),
    `duos_unit_cost`, `duos_fixed_cap_cost`, `duos_reactive_cost` and `duos_total_cost` (£).

    The DNO's own time bands are used unless `red_windows` / `amber_windows` are given (a
    missing one takes the seed's default) or `df_hh` has a `band` column. `tariff` is this
    module's `DuosTariff`, a typed `DuosTariff`, or `get_tariff_for_mpan(...)`.
    `kva_capacity` 0 means no capacity (and no exceeded-capacity) charge, as in the seed.
    """
    bands = None
    if red_windows is not None or amber_windows is not None:
        bands = windows_time_bands(red_windows or SEED_RED_WINDOWS,
                                   amber_windows or SEED_AMBER_WINDOWS)
    frame = df_hh
    if kvarh_column is not None and kvarh_column != "kvarh":
        frame = df_hh.rename(columns={kvarh_column: "kvarh"})
    out = _typed_costs(frame, _typed_tariff(tariff, bands), kva_capacity or None)
    out = out.rename(columns={"kvarh": kvarh_column}) if frame is not df_hh else out
    rate = out.pop("unit_rate_p_per_kwh") / PENCE_PER_POUND
    out.insert(out.columns.get_loc("duos_unit_cost"), "unit_rate", rate)
    return out


def summarize_duos_costs(df_with_costs: pd.DataFrame) -> dict[str, Any]:
    """Totals (£) and kWh by band of a `calculate_duos_costs` result, with the seed's keys."""
    df = df_with_costs
    kwh = df["kwh"] if "kwh" in df.columns else df["kw"] * 0.5
    total_kwh = float(kwh.sum())
    unit = float(df["duos_unit_cost"].sum())
    by_band = pd.DataFrame({"kwh": kwh, "cost_gbp": df["duos_unit_cost"],
                            "band": df["band"].astype(str)}).groupby("band")
    table = by_band.agg(kwh=("kwh", "sum"), cost_gbp=("cost_gbp", "sum"),
                        periods=("kwh", "size"))
    return {
        "total_cost_gbp": float(df["duos_total_cost"].sum()),
        "unit_cost_gbp": unit,
        "fixed_cap_cost_gbp": float(df["duos_fixed_cap_cost"].sum()),
        "reactive_cost_gbp": float(df["duos_reactive_cost"].sum()),
        "total_kwh": total_kwh,
        "avg_rate_p_per_kwh": unit / total_kwh * PENCE_PER_POUND if total_kwh > 0 else 0.0,
        "by_band": {
            band: {"kwh": float(row.kwh), "cost_gbp": float(row.cost_gbp),
                   "periods": int(row.periods)}
            for band, row in table.reindex([b for b in BANDS if b in table.index]).iterrows()
        },
    }


def get_tariff_for_mpan(
    mpan: str | int, voltage: str | None = None, kva: float | None = None
) -> Callable[[int], TypedDuosTariff]:
    """The tariff a site pays, from the bundled DNO workbooks, for `calculate_duos_costs`: the
    MPAN's distributor, the voltage (LV, LV Sub, HV) and, if given, the agreed kVA (residual
    band). Each charging year the profile covers gets its own year's tariff. The seed guide
    used this name without defining it."""
    return tariffs_for_site(TariffQuery(parse_mpan(mpan).distributor_id, voltage=voltage, kva=kva))
