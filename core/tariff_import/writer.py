"""Write imported tables as the normalised config files, byte for byte reproducible."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from bess_duos.core.tariff_import.annex1 import TariffRow, code_list
from bess_duos.core.tariff_import.annex2 import FIELDS as EHV_FIELDS
from bess_duos.core.tariff_import.annex34 import ldno_boundary
from bess_duos.core.tariff_import.importer import ImportedWorkbook
from bess_duos.core.tariff_import.residual import charge_field, voltage_of
from bess_duos.core.tariff_import.timeband_table import BandTable

TARIFF_COLUMNS = (
    "distributor_id", "area_distributor_id", "year", "tariff_name", "voltage_level", "metering",
    "is_generation", "residual_band", "llfcs", "closed_llfcs", "pcs",
    "red_p_per_kwh", "amber_p_per_kwh", "green_p_per_kwh",
    "unit_rate_1_p_per_kwh", "unit_rate_2_p_per_kwh", "unit_rate_3_p_per_kwh",
    "fixed_p_per_mpan_per_day", "capacity_p_per_kva_per_day",
    "exceeded_capacity_p_per_kva_per_day", "reactive_p_per_kvarh",
    "source_distributor_id", "source_file", "source_sheet", "source_row", "note",
)
NUMBER_COLUMNS = TARIFF_COLUMNS[11:21]
# Annex 3 / Annex 4 files: the Annex 1 columns plus which annex, the LDNO's connection boundary
# (Annex 4: 'LDNO HV' ...) and the DNO's billing identifiers for the LDNO (not LLFCs).
ANNEX_COLUMNS = (*TARIFF_COLUMNS[:3], "annex", *TARIFF_COLUMNS[3:10], "ldno_boundary",
                 "billing_ids", *TARIFF_COLUMNS[10:])
EHV_COLUMNS = ("distributor_id", "year", *EHV_FIELDS, "source_file", "source_sheet", "source_row")
RESIDUAL_COLUMNS = (
    "distributor_id", "year", "category", "applies_to", "band", "units", "lower", "upper",
    "residual_per_mpan_gbp", "residual_fixed_p_per_day", "residual_capacity_p_per_kva_per_day",
    "residual_unit_rate_1_p_per_kwh",
    "residual_unit_rate_2_p_per_kwh", "residual_unit_rate_3_p_per_kwh",
    "source_file", "source_sheet", "source_row",
)


def number(value: Any) -> str:
    """A cell's number exactly as stored: repr of the float, the int as is, '' if empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def text(value: Any) -> str:
    """A text cell on one line (numbers as published, whitespace runs folded)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).replace("_x000D_", " ").split())


def _csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def tariff_record(
    row: TariffRow, imported: ImportedWorkbook, *, area: int, distributor_id: int,
    keep_llfcs: bool = True, note: str = "",
) -> dict[str, str]:
    record = {
        "distributor_id": str(distributor_id), "area_distributor_id": str(area),
        "year": str(imported.year), "tariff_name": row.tariff_name,
        "voltage_level": row.voltage_level, "metering": row.metering,
        "is_generation": "true" if row.is_generation else "false",
        "residual_band": row.residual_band,
        "llfcs": code_list(row.values.get("llfcs")) if keep_llfcs else "",
        "closed_llfcs": code_list(row.values.get("closed_llfcs")) if keep_llfcs else "",
        "pcs": text(row.values.get("pcs")),
        "source_distributor_id": str(imported.distributor_id),
        "source_file": imported.workbook, "source_sheet": row.sheet,
        "source_row": str(row.row), "note": note,
    }
    for column in NUMBER_COLUMNS:
        record[column] = number(row.values.get(column))
    return record


def tariffs_csv(records: list[dict[str, str]]) -> str:
    return _csv(TARIFF_COLUMNS, records)


def annex_csv(rows: list[TariffRow], imported: ImportedWorkbook, annex: int) -> str:
    """A DNO's Annex 3 (preserved) or Annex 4 (LDNO) rows as `tariffs/YYYY/DD_annexN.csv`."""
    area = imported.distributor_id
    records = []
    for row in rows:
        record = tariff_record(row, imported, area=area, distributor_id=area)
        record |= {"annex": str(annex), "ldno_boundary": ldno_boundary(row.tariff_name),
                   "billing_ids": code_list(row.values.get("billing_ids"))}
        records.append(record)
    return _csv(ANNEX_COLUMNS, records)


def ehv_csv(imported: ImportedWorkbook, area: int, sites: list | None = None) -> str:
    """Annex 2 rows (all of a DNO's, or `sites`) for the distributor's file in `area`."""
    rows = []
    for ehv in imported.ehv if sites is None else sites:
        record = {"distributor_id": str(imported.distributor_id if sites is not None else area),
                  "year": str(imported.year)}
        for field in EHV_FIELDS:
            value = ehv.values.get(field)
            record[field] = number(value) if field.endswith(("_kwh", "_day")) else text(value)
        record |= {"source_file": imported.workbook, "source_sheet": imported.annex2_sheet or "",
                   "source_row": str(ehv.row)}
        rows.append(record)
    return _csv(EHV_COLUMNS, rows)


def residual_csv(imported: ImportedWorkbook, area: int) -> str:
    rows = []
    for band in imported.residual:
        record = {
            "distributor_id": str(area), "year": str(imported.year), "category": band.category,
            "applies_to": voltage_of(band.category), "band": band.band, "units": band.units,
            "lower": text(band.lower), "upper": text(band.upper),
            "source_file": imported.workbook, "source_sheet": imported.residual_sheet or "",
            "source_row": str(band.row),
        }
        for header, value in band.charges.items():
            record[charge_field(header)] = number(value)
        rows.append({c: record.get(c, "") for c in RESIDUAL_COLUMNS})
    return _csv(RESIDUAL_COLUMNS, rows)


def _periods(periods) -> list[dict[str, Any]]:
    return [
        {"band": p.band, "days": p.days, "start": p.start, "end": p.end, "months": list(p.months)}
        for p in periods
    ]


def _rows_source(imported: ImportedWorkbook, sheet: str | None, table: BandTable) -> str:
    """'workbook / sheet / rows first-last': where a published table was read."""
    return f"{imported.workbook} / {sheet} / rows {table.first_row}-{table.last_row}"


def timebands_yaml(imported: ImportedWorkbook, area: int, extra_notes: tuple[str, ...] = ()) -> str:
    bands = imported.time_bands
    doc: dict[str, Any] = {
        "distributor_id": area,
        "year": imported.year,
        "source": bands.source,
        "notes": [*bands.notes, *extra_notes],
        "periods": _periods(bands.periods),
        "published_rows": imported.hh_table.rows,
    }
    if imported.ums is not None:
        ums = imported.ums
        doc["ums"] = {
            "source": _rows_source(imported, imported.annex1_sheet, ums),
            "note": ("unmetered supplies: black/yellow/green periods read from the published "
                     "rows (black takes the red/black rate, yellow the amber/yellow)"
                     if ums.periods else "unmetered supplies (black/yellow/green), as "
                     "published; the rows do not give every half hour one band (see notes)"),
            "periods": _periods(ums.periods),
            "notes": ums.notes,
            "published_rows": ums.rows,
        }
    if imported.super_red is not None:
        doc["super_red"] = {
            "source": _rows_source(imported, imported.annex2_sheet, imported.super_red),
            "note": "EDCM (Annex 2) super red time band for designated EHV sites",
            "periods": _periods(imported.super_red.periods),
            "notes": imported.super_red.notes,
            "published_rows": imported.super_red.rows,
        }
    return yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )


def write_text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8", newline="")
