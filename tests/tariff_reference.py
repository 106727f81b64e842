"""`core.tariffs`' site-specific resolution (by voltage, residual band or kVA) as it was before
each voltage's tariffs and thresholds were read once and shared between kVAs: every query read
its files, sorted its thresholds and made its tariff afresh. Frozen here as the oracle the
shared path (`_SiteSpecific`) is compared with."""

from __future__ import annotations

import datetime
import math
from dataclasses import replace

from bess_duos.core.paths import config_dir
from bess_duos.core.tariffs import (
    HOW_TO_IMPORT,
    DuosTariff,
    TariffNotFoundError,
    TariffQuery,
    _band_key,
    _banded,
    _doubt,
    _rows,
    _threshold,
    _to_tariff,
    _year_label,
    _year_rows,
    charging_year,
    normalise_voltage,
    residual_check,
)


def resolve_site_specific(query: TariffQuery) -> DuosTariff:
    """The old `_resolve_query` for a query with no tariff name, annex or LLFC."""
    distributor_id, voltage = query.distributor_id, query.voltage
    kva, residual_band, generation = query.kva, query.residual_band, query.generation
    year = charging_year(query.on or datetime.date.today())
    area, path, rows, bands = _year_rows(distributor_id, year, query.area_distributor_id)
    who = f"area {area}" if distributor_id == area else f"IDNO {distributor_id} in area {area}"
    level = normalise_voltage(voltage) if voltage else "LV"
    said_voltage = "" if voltage else "no voltage given: LV assumed; "
    if level == "EHV":
        raise TariffNotFoundError(
            f"EHV (EDCM) charges are site-specific: give the site's LLFC to find its row in "
            f"tariffs/{year}/{area:02d}_ehv.csv ({who}, {_year_label(year)})", field="llfc"
        )
    candidates = [
        r for r in rows
        if r["voltage_level"] == level and r["metering"] == "HH site-specific"
        and (r["is_generation"] == "true") == generation
    ]
    if not candidates:
        raise TariffNotFoundError(
            f"no {'generation ' if generation else ''}site-specific HH tariff at {level} for "
            f"{who} in {_year_label(year)} ({path})", field="voltage"
        )
    doubt = ""
    if generation:
        plain = [r for r in candidates if "no rp" not in r["tariff_name"].lower()]
        row = (plain or candidates)[0]
        why = (f"{said_voltage}the {level} site-specific HH generation (export) tariff "
               "(with reactive power charge)")
        band_used = ""
    else:
        others: list[tuple[str, str]] = []
        if residual_band is not None:
            band_used = _band_key(residual_band)
            why_band = f"residual band {residual_band!r} as given"
        elif kva is not None:
            if kva <= 0:
                raise ValueError(f"kva {kva!r} must be a positive agreed capacity in kVA")
            band_used, why_band = residual_band_for(area, year, level, float(kva))
            others = residual_band_alternatives(area, year, level, float(kva))
        else:
            band_used = "1"
            why_band = "no agreed capacity (kVA) or residual band given: band 1 assumed"
        row = _banded(candidates, band_used, level, who, year)
        why = f"{said_voltage}the {level} site-specific HH tariff; {why_band}"
        doubt = _doubt(candidates, row, band_used, others, level, who, year)
    tariff = _to_tariff(row, bands)
    note = f"{who}, {_year_label(year)}: picked '{row['tariff_name']}' ({tariff.source}): {why}"
    if doubt:
        note += f". {doubt}"
    if row.get("note"):
        note += f". Source note: {row['note']}"
    return replace(tariff, selection_note=note, residual_band=band_used or row["residual_band"],
                   residual_doubt=doubt, voltage_assumed=not voltage)


def residual_band_for(area: int, year: int, voltage: str, kva: float) -> tuple[str, str]:
    """The old `core.tariffs.residual_band_for`."""
    path = config_dir() / "residual_bands" / str(year) / f"{area:02d}.csv"
    rows = _rows(path)
    if rows is None:
        raise TariffNotFoundError(
            f"no residual charging bands for distributor area {area} in {_year_label(year)} "
            f"(looked for {path}): pass residual_band instead of kva, or {HOW_TO_IMPORT}",
            field="year",
        )
    found = _band_by_uppers(rows, voltage, kva)
    if found is None:
        raise TariffNotFoundError(
            f"no {voltage} residual charging band for {kva:g} kVA in area {area} "
            f"{_year_label(year)} ({path})", field="kva"
        )
    row, below = found
    published = _threshold(row["lower"], 0.0)
    aside = (f"; published lower threshold {row['lower']} read as above {below:g}, the "
             "band below's upper" if published != below else "")
    return row["band"], (
        f"{kva:g} kVA is in residual band {row['band']} ({below:g} < kVA <= "
        f"{row['upper']}{aside}; '{row['category']}', {row['source_file']} row "
        f"{row['source_row']})"
    )


def _band_by_uppers(rows, voltage: str, kva: float) -> tuple[dict, float] | None:
    wanted = [r for r in rows if r["applies_to"] == voltage]
    if not wanted and voltage == "LV Sub":
        wanted = [r for r in rows if r["applies_to"] == "LV"]
    wanted = sorted(wanted, key=lambda r: _threshold(str(r["upper"]), math.inf))
    below = 0.0
    for row in wanted:
        upper = _threshold(str(row["upper"]), math.inf)
        if below < kva <= upper:
            return row, below
        below = upper
    return None


def residual_band_alternatives(area: int, year: int, voltage: str, kva: float
                               ) -> list[tuple[str, str]]:
    """The old `core.tariffs.residual_band_alternatives`."""
    check = residual_check(area, year)
    out: list[tuple[str, str]] = []
    for alternative in (check or {}).get("alternatives") or ():
        found = _band_by_uppers(alternative["thresholds"], voltage, kva)
        if found is not None:
            row, below = found
            out.append((str(row["band"]), (
                f"{below:g} < {kva:g} kVA <= {row['upper']} under the thresholds of "
                f"{alternative['source']}; {alternative['reason']}")))
    return out
