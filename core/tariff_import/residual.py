"""The 'Residual Charging Bands' sheet: bands, thresholds and residual charges by connection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.workbook import Workbook, cell, find_cell, norm

TABLE = "Residual Charging Bands table (heading 'Voltage of Connection')"


@dataclass(frozen=True)
class ResidualBand:
    category: str  # as published, e.g. 'Designated Properties connected at HV'
    band: str  # '1'..'4' or 'Single band'
    units: str  # kVA / kWh / -
    lower: Any  # threshold cells as published ('-', 0, 80, ...)
    upper: Any  # ('∞' for the top band)
    charges: dict[str, Any]  # published header -> value (e.g. 'Residual Charge per MPAN (£)')
    row: int


def voltage_of(category: str) -> str:
    """Which voltage a category's thresholds apply to ('' if not a capacity-based one)."""
    text = norm(category)
    if "ehv" in text or text.startswith("edcm"):
        return "EHV"
    if text.startswith("lv sub site specific"):
        return "LV Sub"
    if text.startswith("lv site specific"):
        return "LV"
    if text.startswith("hv site specific"):
        return "HV"
    if text.startswith("non-domestic aggregated"):
        return "LV no MIC"
    if "at hv" in text:
        return "HV"
    if "at lv" in text and "with mic" in text:
        return "LV"
    if "at lv" in text:
        return "LV no MIC"
    return "domestic" if "domestic" in text else ""


CHARGE_FIELDS = (
    ("residual_per_mpan_gbp", lambda t: "£" in t),
    ("residual_fixed_p_per_day", lambda t: "fixed" in t),
    ("residual_capacity_p_per_kva_per_day", lambda t: "capacity" in t),
    ("residual_unit_rate_1_p_per_kwh", lambda t: "unit rate 1" in t),
    ("residual_unit_rate_2_p_per_kwh", lambda t: "unit rate 2" in t),
    ("residual_unit_rate_3_p_per_kwh", lambda t: "unit rate 3" in t),
)


def charge_field(header: str) -> str:
    """Our column name for a published 'Residual Charge per ...' heading."""
    text = norm(header)
    for name, test in CHARGE_FIELDS:
        if test(text):
            return name
    raise ValueError(f"unknown residual charge heading {header!r}")


def _threshold_rows(book: Workbook, sheet: str, r: int) -> list[ResidualBand]:
    """The older layout: 'Band' | 'Boundary thresholds' ('0 to 80') | 'Basis for Threshold'."""
    rows = book.rows(sheet)
    out = []
    units = ""
    for i in range(r + 1, len(rows)):
        name, span, basis = cell(rows, i, 0), cell(rows, i, 1), cell(rows, i, 2)
        if name is None or span is None:
            break
        match = re.match(r"(.*?)\s*band\s*(\d+)$", norm(name))
        bounds = re.match(r"([\d.]+)\s*to\s*(\S+)", str(span).strip())
        if not match or not bounds:
            raise TariffImportError(book.name, TABLE, f"row {i + 1}: cannot read {name!r} {span!r}")
        if basis is not None:
            units = "kWh" if "consumption" in norm(basis) else "kVA"
        category = re.sub(r"\s*Band\s*\d+$", "", re.sub(r"\s+", " ", str(name)).strip())
        lower, upper = bounds.groups()
        out.append(ResidualBand(
            category=category, band=match.group(2), units=units,
            lower=int(lower) if lower.isdigit() else lower,
            upper=int(upper) if upper.isdigit() else upper,
            charges={}, row=i + 1,
        ))
    return out


def residual_bands(book: Workbook, sheet: str) -> list[ResidualBand]:
    rows = book.rows(sheet)
    found = find_cell(rows, lambda t: t == "voltage of connection")
    if found is None:
        older = find_cell(rows, lambda t: t == "boundary thresholds")
        if older is not None and older[1] == 1:
            bands = _threshold_rows(book, sheet, older[0])
            if bands:
                return bands
        raise TariffImportError(book.name, TABLE, f"sheet {sheet!r}: no 'Voltage of Connection'")
    r, c0 = found
    header = {norm(v): i for i, v in enumerate(rows[r]) if v is not None}

    def col(prefix: str) -> int:
        for text, i in header.items():
            if text.startswith(prefix):
                return i
        raise TariffImportError(book.name, TABLE, f"header row {r + 1} has no {prefix!r} column")

    band_c, units_c, low_c, up_c = col("band"), col("units"), col("lower"), col("upper")
    charge_cols = {
        re.sub(r"\s+", " ", str(rows[r][i])).strip(): i
        for text, i in header.items() if text.startswith("residual charge")
    }
    out: list[ResidualBand] = []
    category = ""
    for i in range(r + 1, len(rows)):
        band = cell(rows, i, band_c)
        label = cell(rows, i, c0)
        if band is None or str(band).strip() == "":
            if label is not None and str(label).startswith("*"):
                break
            continue
        if label is not None and str(label).strip():
            category = re.sub(r"\s+", " ", str(label)).strip()
        out.append(ResidualBand(
            category=category,
            band=str(int(band)) if isinstance(band, int | float) else str(band).strip(),
            units=str(cell(rows, i, units_c) or "").strip(),
            lower=cell(rows, i, low_c), upper=cell(rows, i, up_c),
            charges={h: cell(rows, i, ci) for h, ci in charge_cols.items()},
            row=i + 1,
        ))
    if not out:
        raise TariffImportError(book.name, TABLE, f"no band rows below row {r + 1}")
    return out
