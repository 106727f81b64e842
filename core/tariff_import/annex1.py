"""Annex 1 (CDCM LV, HV and UMS end-user tariffs): the tariff table, located by its headings."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.workbook import Rows, Workbook, cell, find_cell, norm

TABLE = "Annex 1 tariff table (heading 'Tariff name')"

# Field -> test on the normalised header text. Order matters: first match wins per column.
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("tariff_name", lambda t: t == "tariff name"),
    ("closed_llfcs", lambda t: t.startswith("closed llfc")),
    ("llfcs", lambda t: "llfc" in t or "tariff id" in t),
    ("pcs", lambda t: t in ("pcs", "pc", "profile classes")),
    ("red_p_per_kwh", lambda t: t.startswith("red") and "unit" in t),
    ("amber_p_per_kwh", lambda t: t.startswith("amber") and "unit" in t),
    ("green_p_per_kwh", lambda t: t.startswith("green") and "unit" in t),
    ("unit_rate_1_p_per_kwh", lambda t: t.startswith("unit rate 1")),
    ("unit_rate_2_p_per_kwh", lambda t: t.startswith("unit rate 2")),
    ("unit_rate_3_p_per_kwh", lambda t: t.startswith("unit rate 3")),
    ("fixed_p_per_mpan_per_day", lambda t: t.startswith("fixed charge")),
    ("exceeded_capacity_p_per_kva_per_day", lambda t: t.startswith("exceeded capacity")),
    ("capacity_p_per_kva_per_day", lambda t: t.startswith("capacity charge")),
    ("reactive_p_per_kvarh", lambda t: t.startswith("reactive power")),
)
REQUIRED = (
    "tariff_name", "llfcs", "red_p_per_kwh", "amber_p_per_kwh", "green_p_per_kwh",
    "fixed_p_per_mpan_per_day", "capacity_p_per_kva_per_day",
)
NUMERIC = tuple(name for name, _ in COLUMNS if name.endswith(("_kwh", "_day", "_kvarh")))


@dataclass(frozen=True)
class TariffRow:
    """One Annex 1 row as published (numbers are the cells' own values) and its place."""

    tariff_name: str
    voltage_level: str
    metering: str
    is_generation: bool
    residual_band: str
    values: dict[str, Any]  # field -> cell value (None where the cell is empty)
    sheet: str
    row: int  # 1-based sheet row
    columns: dict[str, int]  # field -> 1-based sheet column


def classify(name: str) -> tuple[str, str, bool, str]:
    """(voltage_level, metering, is_generation, residual_band) from a CDCM tariff name."""
    text = norm(name)
    generation = "generation" in text
    if text.startswith("lv sub"):
        voltage = "LV Sub"
    elif text.startswith("lv"):
        voltage = "LV"
    elif text.startswith("hv"):
        voltage = "HV"
    elif "unmetered" in text:
        voltage = "UMS"
    elif "domestic" in text:
        voltage = "LV"  # aggregated domestic/non-domestic tariffs are LV connections
    else:
        voltage = ""
    if "unmetered" in text:
        metering = "unmetered"
    elif "site specific" in text:
        metering = "HH site-specific"
    elif "aggregated" in text:
        metering = "aggregated"
    else:
        metering = ""
    band = re.search(r"\bband\s*(\d+)", text)
    if band:
        residual = band.group(1)
    elif "no residual" in text:
        residual = "none"
    elif "with residual" in text:
        residual = "single"
    else:
        residual = ""
    return voltage, metering, generation, residual


def header_columns(row: tuple[Any, ...], columns: tuple[tuple[str, Any], ...] = COLUMNS
                   ) -> dict[str, int]:
    """Field -> 0-based column of a heading row (the first heading each field's test accepts)."""
    found: dict[str, int] = {}
    for c, value in enumerate(row):
        text = norm(value)
        for name, test in columns:
            if text and name not in found and test(text):
                found[name] = c
                break
    return found


def _header(rows: Rows, workbook: str) -> tuple[int, dict[str, int]]:
    found = find_cell(rows, lambda t: t == "tariff name")
    if found is None:
        raise TariffImportError(workbook, TABLE, "no cell reading 'Tariff name'")
    r, _ = found
    columns = header_columns(rows[r])
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise TariffImportError(
            workbook, TABLE, f"header row {r + 1} has no column for {', '.join(missing)}"
        )
    return r, columns


def tariff_rows(book: Workbook, sheet: str) -> list[TariffRow]:
    """Every row of the tariff table, from the heading row down to the first blank name."""
    rows = book.rows(sheet)
    header, columns = _header(rows, book.name)
    out = table_rows(book.name, TABLE, sheet, rows, header, columns)
    if not out:
        raise TariffImportError(book.name, TABLE, f"no tariff rows below header row {header + 1}")
    return out


def table_rows(workbook: str, table: str, sheet: str, rows: Rows, header: int,
               columns: dict[str, int], *, stop: Callable[[str], bool] = lambda name: False,
               ) -> list[TariffRow]:
    """The rows below a heading row (0-based `header`) down to the first blank name (or one
    `stop` accepts), each number checked to be a number; names classified as in Annex 1."""
    out: list[TariffRow] = []
    r = header + 1
    while r < len(rows):
        name = cell(rows, r, columns["tariff_name"])
        if name is None or not str(name).strip() or stop(norm(name)):
            break
        values = {field: cell(rows, r, c) for field, c in columns.items()}
        for field in NUMERIC:
            value = values.get(field)
            if isinstance(value, str) and not value.strip():
                values[field] = None
            elif value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise TariffImportError(
                    workbook, table, f"row {r + 1} {field}: {value!r} is not a number",
                )
        voltage, metering, generation, residual = classify(str(name))
        out.append(TariffRow(
            tariff_name=re.sub(r"\s+", " ", str(name)).strip(),
            voltage_level=voltage, metering=metering, is_generation=generation,
            residual_band=residual, values=values, sheet=sheet, row=r + 1,
            columns={k: v + 1 for k, v in columns.items()},
        ))
        r += 1
    return out


def code_list(value: Any) -> str:
    """LLFCs / PCs cell -> ' '-separated codes as published ('1, 4, 632' -> '1 4 632')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    parts = re.split(r"[,;\s]+", str(value).strip())
    return " ".join(p for p in parts if p)
