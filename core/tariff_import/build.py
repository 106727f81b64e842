"""Import every bundled workbook into config/: DNO files first, IDNO bundles to fill the areas
with no DNO workbook, and a cross-check of the IDNOs' all-the-way tariffs against the DNOs'."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from bess_duos.core.distributors import get_distributor
from bess_duos.core.paths import config_dir
from bess_duos.core.tariff_import.annex1 import NUMERIC, code_list
from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.importer import ImportedWorkbook, import_workbook
from bess_duos.core.tariff_import.mdd_llfcs import MDD_FILE, in_force, map_llfcs, mdd_csv, read_mdd
from bess_duos.core.tariff_import.residual_check import check_residual, check_yaml
from bess_duos.core.tariff_import.sources import DNO_AREAS, Source, find_sources
from bess_duos.core.tariff_import.writer import (
    annex_csv,
    ehv_csv,
    residual_csv,
    tariff_record,
    tariffs_csv,
    timebands_yaml,
    write_text,
)

EXCEPTIONS_FILE = "crosscheck_exceptions.yaml"


@dataclass
class Report:
    """What import-all did: sources used, workbooks that failed, and cross-check findings."""

    used: dict[str, str] = field(default_factory=dict)  # 'YYYY/DD' -> workbook
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    residual_findings: list[dict[str, Any]] = field(default_factory=list)
    annex2_unreadable: list[str] = field(default_factory=list)
    annexes_3_4: dict[str, dict[str, int]] = field(default_factory=dict)  # 'YYYY/DD' -> rows
    annex3_vs_annex1: list[dict[str, Any]] = field(default_factory=list)
    annex4_time_bands: list[str] = field(default_factory=list)  # Annex 4 vs Annex 1 tables
    imported: list[tuple[Source, ImportedWorkbook]] = field(default_factory=list)

    def as_yaml(self) -> str:
        doc = {
            "note": "written by `bess-duos tariffs import-all`; do not edit",
            "sources_used": self.used,
            "failed_workbooks": self.failed,
            "skipped_zip_members": self.skipped,
            "idno_annex2_not_read": self.annex2_unreadable,
            "crosscheck_disagreements": self.disagreements,
            "residual_threshold_findings": self.residual_findings,
            "annex_3_4_rows": self.annexes_3_4,
            "annex3_vs_annex1": self.annex3_vs_annex1,
            "annex4_time_bands_vs_annex1": self.annex4_time_bands,
        }
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _values(imported: ImportedWorkbook) -> dict[str, dict[str, Any]]:
    """Numbers per tariff, keyed by the lower-cased name ('no RP Charge' = 'no RP charge')."""
    return {row.tariff_name.lower(): {"name": row.tariff_name,
                                      **{f: row.values.get(f) for f in NUMERIC}}
            for row in imported.tariffs}


def compare(idno: ImportedWorkbook, reference: ImportedWorkbook) -> list[dict[str, Any]]:
    """Where an IDNO's all-the-way tariffs or HH time bands differ from the reference's."""
    found: list[dict[str, Any]] = []
    base = {"year": idno.year, "area": reference.distributor_id if reference.distributor_id < 24
            else None, "idno_workbook": idno.workbook, "reference_workbook": reference.workbook}
    mine, theirs = _values(idno), _values(reference)
    for key in sorted(set(mine) | set(theirs)):
        name = (mine.get(key) or theirs[key])["name"]
        if key not in mine or key not in theirs:
            found.append({**base, "tariff_name": name, "field": "row",
                          "idno": key in mine, "reference": key in theirs})
            continue
        for f in NUMERIC:
            a, b = mine[key].get(f), theirs[key].get(f)
            if (a or 0) != (b or 0):
                found.append({**base, "tariff_name": name, "field": f, "idno": a, "reference": b})
    if (idno.time_bands.slot_table() != reference.time_bands.slot_table()).any():
        found.append({**base, "tariff_name": "", "field": "time_bands",
                      "idno": idno.time_bands.source, "reference": reference.time_bands.source})
    return found


def annex3_against_annex1(imported: ImportedWorkbook) -> list[dict[str, Any]]:
    """Each preserved (Annex 3) row against the Annex 1 row(s) listing its closed LLFCs: the
    LLFC resolver picks Annex 1 first, so a difference in any charge is reported here."""
    found: list[dict[str, Any]] = []
    listed = [(row, code_list(row.values.get("llfcs")).split()
               + code_list(row.values.get("closed_llfcs")).split()) for row in imported.tariffs]
    for row in imported.annex3 or ():
        codes = code_list(row.values.get("closed_llfcs")).split()
        where = {"year": imported.year, "area": imported.distributor_id,
                 "annex3_tariff": row.tariff_name, "annex3_row": row.row}
        matches = {id(r): r for code in codes for r, have in listed if code in have}
        if not matches:
            found.append({**where, "field": "llfcs", "annex1_row": None,
                          "difference": f"no Annex 1 row lists {' '.join(codes)}"})
        for other in matches.values():
            for f in NUMERIC:
                a, b = row.values.get(f), other.values.get(f)
                if (a or 0) != (b or 0):
                    found.append({**where, "annex1_row": other.row, "field": f,
                                  "difference": f"Annex 3 {a!r}, Annex 1 {b!r}"})
    return found


def load_exceptions(config: Path) -> list[dict[str, Any]]:
    """Hand-written reasons for disagreements that are by design (config/tariffs/...yaml)."""
    path = config / "tariffs" / EXCEPTIONS_FILE
    if not path.exists():
        path = config_dir() / "tariffs" / EXCEPTIONS_FILE
    if not path.exists():
        return []
    return list(yaml.safe_load(path.read_text(encoding="utf-8")).get("exceptions") or [])


def _explained(item: dict[str, Any], exceptions: list[dict[str, Any]]) -> str | None:
    for exc in exceptions:
        keys = ("year", "idno_workbook", "tariff_name", "field")
        if all(exc.get(k, item.get(k)) == item.get(k) for k in keys):
            return str(exc["reason"])
    return None


def write_dno(imported: ImportedWorkbook, config: Path) -> None:
    """tariffs/YYYY/DD.csv, DD_ehv.csv, timebands/YYYY/DD.yaml, residual_bands/YYYY/DD.csv."""
    area, year = imported.distributor_id, imported.year
    records = [tariff_record(r, imported, area=area, distributor_id=area) for r in imported.tariffs]
    write_text(config / "tariffs" / str(year) / f"{area:02d}.csv", tariffs_csv(records))
    write_text(config / "timebands" / str(year) / f"{area:02d}.yaml",
               timebands_yaml(imported, area))
    if imported.annex2_sheet is not None:
        write_text(config / "tariffs" / str(year) / f"{area:02d}_ehv.csv", ehv_csv(imported, area))
    if imported.residual:
        write_text(config / "residual_bands" / str(year) / f"{area:02d}.csv",
                   residual_csv(imported, area))
    for annex, rows in ((3, imported.annex3), (4, imported.annex4)):
        if rows:  # an Annex 3 with no rows (most DNOs publish none) writes no file
            write_text(config / "tariffs" / str(year) / f"{area:02d}_annex{annex}.csv",
                       annex_csv(rows, imported, annex))


def write_idno(imported: ImportedWorkbook, area: int, config: Path) -> None:
    """config/tariffs/YYYY/idno/NN_DD.csv: IDNO NN's own tariffs (its LLFCs) in area DD."""
    records = [tariff_record(r, imported, area=area, distributor_id=imported.distributor_id)
               for r in imported.tariffs]
    name = f"{imported.distributor_id}_{area:02d}.csv"
    path = config / "tariffs" / str(imported.year) / "idno" / name
    write_text(path, tariffs_csv(records))
    sites = imported.ehv_sites
    if sites:
        write_text(path.with_name(f"{imported.distributor_id}_{area:02d}_ehv.csv"),
                   ehv_csv(imported, area, sites))


def write_area_from_idno(imported: ImportedWorkbook, area: int, config: Path,
                         residual_from: ImportedWorkbook | None,
                         mdd: dict[str, list[dict[str, str]]] | None = None) -> None:
    """An area with no DNO workbook: the host DNO's rates as repeated in an IDNO workbook, and
    the DNO's LLFCs from Elexon MDD mapped by description where unambiguous."""
    year = imported.year
    note = (f"rates and time bands from IDNO {imported.distributor_id}'s all-the-way tariff for "
            f"this GSP group (equal to the host DNO's); LLFCs left blank: the IDNO's are not the "
            f"DNO's (see idno/{imported.distributor_id}_{area:02d}.csv)")
    if mdd is not None:
        mapped = map_llfcs(in_force(mdd.get(get_distributor(area).mpid, []), year),
                           [r.tariff_name for r in imported.tariffs])
        write_text(config / "tariffs" / str(year) / f"{area:02d}_llfcs_mdd.csv", mdd_csv(mapped))
        done = sum(1 for m in mapped if m["tariff_name"])
        note += (f"; the DNO's LLFCs in force this year per Elexon MDD 377: {done} of "
                 f"{len(mapped)} mapped to a tariff by an unambiguous description, the rest "
                 f"listed unmapped with the reason ({area:02d}_llfcs_mdd.csv)")
    records = [tariff_record(r, imported, area=area, distributor_id=area, keep_llfcs=False,
                             note=note) for r in imported.tariffs]
    write_text(config / "tariffs" / str(year) / f"{area:02d}.csv", tariffs_csv(records))
    write_text(config / "timebands" / str(year) / f"{area:02d}.yaml", timebands_yaml(
        imported, area, (f"no DNO workbook for area {area} in {year}: time bands from IDNO "
                         f"{imported.distributor_id}'s workbook for this GSP group",)))
    if residual_from is not None:
        write_text(config / "residual_bands" / str(year) / f"{area:02d}.csv",
                   residual_csv(residual_from, area))


def import_all(statements_dir: Path, config: Path) -> Report:
    """Import every workbook under `statements_dir` into `config` and return the report."""
    report = Report()
    sources, report.skipped = find_sources(statements_dir)
    mdd_path = statements_dir.parent / "mdd-377" / MDD_FILE
    mdd = read_mdd(mdd_path) if mdd_path.exists() else None
    dno: dict[tuple[int, int], ImportedWorkbook] = {}
    idno: dict[tuple[int, int], list[ImportedWorkbook]] = {}
    residual_used: dict[tuple[int, int], ImportedWorkbook] = {}
    for source in sources:
        try:
            imported = import_workbook(source.read(), source.distributor_id, source.year,
                                       ehv_required=not source.is_idno,
                                       annexes_3_4=not source.is_idno)
        except TariffImportError as exc:
            report.failed.append({"year": source.year, "distributor_id": source.distributor_id,
                                  "workbook": source.name, "error": str(exc)})
            continue
        report.imported.append((source, imported))
        if imported.annex2_unreadable:
            report.annex2_unreadable.append(f"{source.year}/{source.distributor_id}: "
                                            f"{imported.annex2_unreadable}")
        if source.is_idno:
            write_idno(imported, source.area, config)
            idno.setdefault((source.year, source.area), []).append(imported)
        else:
            write_dno(imported, config)
            dno[(source.year, source.area)] = imported
            report.annexes_3_4[f"{source.year}/{source.area:02d}"] = {
                "annex3": len(imported.annex3 or ()), "annex4": len(imported.annex4 or ())}
            report.annex3_vs_annex1 += annex3_against_annex1(imported)
            report.annex4_time_bands += [f"{source.year}/{source.area:02d}: {finding}"
                                         for finding in imported.annex4_band_findings]
            if imported.residual:
                residual_used[(source.year, source.area)] = imported
            report.used[f"{source.year}/{source.area:02d}"] = source.name
    exceptions = load_exceptions(config)
    for year in sorted({y for y, _ in dno} | {y for y, _ in idno}):
        for area in DNO_AREAS:
            candidates = idno.get((year, area), [])
            reference = dno.get((year, area))
            if reference is None and candidates:
                reference = candidates[0]
                with_residual = next((c for c in candidates if c.residual), None)
                write_area_from_idno(reference, area, config, with_residual, mdd)
                if with_residual is not None:
                    residual_used[(year, area)] = with_residual
                report.used[f"{year}/{area:02d}"] = (
                    f"IDNO {reference.distributor_id}: {reference.workbook}")
            for candidate in candidates:
                if candidate is reference:
                    continue
                for item in compare(candidate, reference):
                    item["area"] = area
                    item["reason"] = _explained(item, exceptions)
                    report.disagreements.append(item)
    publishers: dict[tuple[int, int], list[ImportedWorkbook]] = {}
    for source, imported in report.imported:
        if imported.residual:
            publishers.setdefault((source.year, source.area), []).append(imported)
    for (year, area), finding in check_residual(residual_used, publishers).items():
        write_text(config / "residual_bands" / str(year) / f"{area:02d}_check.yaml",
                   check_yaml(finding))
        report.residual_findings.append(
            {"year": year, "area": area,
             "findings": [a["reason"] + ": " + a["source"] for a in finding["alternatives"]]})
    write_text(config / "tariffs" / "import_report.yaml", report.as_yaml())
    return report
