"""Annex 2 (EDCM designated EHV sites): one row per site, import and export charges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.workbook import Workbook, cell, find_cell, norm

TABLE = "Annex 2 EHV site table (heading 'Import ... Super Red unit charge')"

CHARGES = (
    ("super_red_p_per_kwh", "super red"),
    ("fixed_p_per_day", "fixed charge"),
    ("exceeded_capacity_p_per_kva_per_day", "exceeded capacity"),
    ("capacity_p_per_kva_per_day", "capacity charge"),
)
FIELDS = (
    "import_id", "import_llfcs", "import_mpans", "export_id", "export_llfcs", "export_mpans",
    "name", "residual_band",
    *(f"{side}_{f}" for side in ("import", "export") for f, _ in CHARGES),
)


@dataclass(frozen=True)
class EhvRow:
    values: dict[str, Any]
    row: int


def _columns(header: tuple[Any, ...]) -> dict[str, int]:
    columns: dict[str, int] = {}
    llfc_seen = mpan_seen = 0
    for c, value in enumerate(header):
        text = norm(value)
        if not text:
            continue
        side = "export" if text.startswith("export") else "import"
        if "unique identifier" in text:
            columns[f"{side}_id"] = c
        elif "llfc" in text or "tariff id" in text:
            columns[("import", "export")[min(llfc_seen, 1)] + "_llfcs"] = c
            llfc_seen += 1
        elif "mpan" in text:
            columns[("import", "export")[min(mpan_seen, 1)] + "_mpans"] = c
            mpan_seen += 1
        elif text == "name":
            columns["name"] = c
        elif "residual" in text:
            columns["residual_band"] = c
        else:
            for field, key in CHARGES:
                if key in text and f"{side}_{field}" not in columns:
                    columns[f"{side}_{field}"] = c
                    break
    return columns


def ehv_rows(book: Workbook, sheet: str) -> list[EhvRow]:
    """Every site row; empty when the DNO lists none. Fails if the heading row is missing."""
    rows = book.rows(sheet)
    found = find_cell(rows, lambda t: "super red unit charge" in t and t.startswith("import"))
    if found is None:
        raise TariffImportError(book.name, TABLE, f"sheet {sheet!r}: no 'Import Super Red' heading")
    r, _ = found
    columns = _columns(rows[r])
    needed = ("import_llfcs", "name", "import_super_red_p_per_kwh")
    missing = [f for f in needed if f not in columns]
    if missing:
        raise TariffImportError(book.name, TABLE, f"header row {r + 1} lacks {', '.join(missing)}")
    out = []
    for i in range(r + 1, len(rows)):
        values = {f: cell(rows, i, c) for f, c in columns.items()}
        if all(v is None or str(v).strip() == "" for v in values.values()):
            break
        out.append(EhvRow(values=values, row=i + 1))
    return out
