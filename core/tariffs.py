"""The DUoS tariff model (the seed's `DuosTariff`, with units in the names)."""

from __future__ import annotations

from dataclasses import dataclass

from core.timebands import TimeBands

VOLTAGE_LEVELS: tuple[str, ...] = ("LV", "LV Sub", "HV", "EHV")


@dataclass(frozen=True)
class DuosTariff:
    """One DUoS tariff row as published: rates in p/kWh, fixed p/MPAN/day, capacity p/kVA/day.

    Build it by hand (the seed's way) or get it from the resolver, which fills `source`
    (workbook, sheet, row) and `time_bands`.
    """

    dno_id: int
    tariff_name: str
    voltage_level: str
    red_rate: float
    amber_rate: float
    green_rate: float
    fixed_p_per_day: float = 0.0
    capacity_p_per_kva_per_day: float = 0.0
    exceeded_capacity_p_per_kva_per_day: float = 0.0
    reactive_p_per_kvarh: float = 0.0
    llfcs: tuple[str, ...] = ()
    pcs: str = ""
    residual_band: str = ""
    year: int | None = None
    source: str = ""
    time_bands: TimeBands | None = None

    @property
    def unit_rates_p_per_kwh(self) -> tuple[float, float, float]:
        """(red, amber, green) p/kWh, in `core.timebands.BANDS` order."""
        return (self.red_rate, self.amber_rate, self.green_rate)
