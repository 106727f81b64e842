"""`bess-duos tariffs ...`: import DNO/IDNO charging workbooks, show and list tariffs."""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
import zipfile
from pathlib import Path

from bess_duos.core.distributors import UnknownDistributorError, get_distributor
from bess_duos.core.paths import config_dir, reference_data_dir
from bess_duos.core.tariff_import.build import import_all, write_dno, write_idno
from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.importer import import_workbook
from bess_duos.core.tariff_import.sources import DNO_AREAS, zip_members
from bess_duos.core.tariff_import.workbook import read_workbook, read_zip_member
from bess_duos.core.tariffs import (
    DuosTariff,
    TariffNotFoundError,
    all_tariffs,
    available_years,
    charging_year,
    normalise_voltage,
    resolve_tariff,
)
from bess_duos.core.timebands import BANDS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `tariffs` and its sub-commands to the top-level parser."""
    parser = subparsers.add_parser("tariffs", help="DUoS tariffs: import workbooks, show, list")
    sub = parser.add_subparsers(dest="tariffs_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    one = sub.add_parser("import", help="import one DNO workbook (.xlsx) or IDNO bundle (.zip)")
    one.add_argument("file", type=Path)
    one.add_argument("--year", type=int, required=True,
                     help="charging year it starts in (2026 = April 2026 to March 2027)")
    one.add_argument("--dno", type=int, default=None,
                     help="distributor ID (10-23 DNO, 24+ IDNO); default: the file's folder name")
    one.add_argument("--config", type=Path, default=None, help="config dir (default: config/)")
    one.set_defaults(func=cmd_import)

    every = sub.add_parser("import-all", help="regenerate config/ from every bundled workbook")
    every.add_argument("--reference", type=Path, default=None,
                       help="dno-charging-statements dir (default: reference-data's)")
    every.add_argument("--config", type=Path, default=None)
    every.set_defaults(func=cmd_import_all)

    show = sub.add_parser("show", help="the tariff a site pays, with its time bands")
    show.add_argument("--dno", required=True,
                      help="distributor ID (10-23, or IDNO 24+), MPID or short code")
    show.add_argument("--area", type=int, default=None,
                      help="DNO area (10-23) of an IDNO site; required when --dno is an IDNO")
    show.add_argument("--voltage", default=None, help="LV, LV Sub, HV or EHV (default LV)")
    show.add_argument("--date", type=datetime.date.fromisoformat, default=None,
                      help="YYYY-MM-DD (default today): picks the charging year")
    show.add_argument("--kva", type=float, default=None, help="agreed capacity, for the band")
    show.add_argument("--llfc", default=None)
    show.add_argument("--profile-class", default=None,
                      help="the MPAN's profile class (00-08): settles an LLFC listed twice")
    show.add_argument("--tariff", default=None,
                      help="the published tariff name, e.g. 'Non-Domestic Aggregated Band 3'")
    show.add_argument("--residual-band", default=None)
    show.add_argument("--generation", action="store_true", help="the export tariff")
    show.add_argument("--json", action="store_true", help="print the tariff as JSON")
    show.set_defaults(func=cmd_show)

    listing = sub.add_parser("list", help="every tariff with its LLFCs (filter by DNO, date...)")
    listing.add_argument("--dno", default=None,
                         help="distributor ID, MPID or short code (an IDNO: its own tariffs)")
    listing.add_argument("--area", type=int, default=None, help="DNO area, for an IDNO --dno")
    listing.add_argument("--date", type=datetime.date.fromisoformat, default=None,
                         help="YYYY-MM-DD: only that charging year")
    listing.add_argument("--voltage", default=None, help="LV, LV Sub, HV or UMS")
    form = listing.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="JSON array")
    form.add_argument("--csv", action="store_true", help="CSV with a header row")
    listing.set_defaults(func=cmd_list)

    years = sub.add_parser("years", help="which areas and charging years have tariffs")
    years.set_defaults(func=cmd_years)


def _distributor(path: Path, given: int | None) -> int:
    if given is not None:
        return given
    if path.parent.name.isdigit():
        return int(path.parent.name)
    raise SystemExit(f"{path}: give --dno (the distributor ID); its folder name is not one")


def cmd_import(args: argparse.Namespace) -> int:
    config = args.config or config_dir()
    if not args.file.is_file():
        print(f"error: FILE {str(args.file)!r} not found (or not a file): give the path of a "
              "DNO's 'Schedule of charges and other tables' .xlsx or an IDNO's .zip bundle",
              file=sys.stderr)
        return 2
    dist = _distributor(args.file, args.dno)
    try:
        if args.file.suffix.lower() == ".zip":
            members, skipped = zip_members(args.file, args.year)
            for why in skipped:
                print(f"skipped {why}", file=sys.stderr)
            for member, area in members:
                imported = import_workbook(read_zip_member(args.file, member), dist, args.year,
                                           ehv_required=False)
                write_idno(imported, area, config)
                print(f"IDNO {dist} area {area}: {len(imported.tariffs)} tariffs from {member}")
            return 0
        if dist not in DNO_AREAS:
            print(f"--dno {dist}: a single .xlsx must be a DNO's (10-23)", file=sys.stderr)
            return 2
        imported = import_workbook(read_workbook(args.file), dist, args.year)
        write_dno(imported, config)
    except TariffImportError as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 1
    except (zipfile.BadZipFile, OSError) as exc:
        print(f"import failed: {args.file}: cannot be read ({exc}); give the DNO's 'Schedule of "
              "charges and other tables' .xlsx or an IDNO's .zip bundle of them", file=sys.stderr)
        return 1
    print(f"area {dist} {args.year}: {len(imported.tariffs)} tariffs, "
          f"{len(imported.time_bands.periods)} time-band periods, {len(imported.ehv)} EHV sites "
          f"-> {config}")
    return 0


def cmd_import_all(args: argparse.Namespace) -> int:
    reference = args.reference or reference_data_dir() / "dno-charging-statements"
    report = import_all(reference, args.config or config_dir())
    for failure in report.failed:
        print(f"FAILED {failure['error']}", file=sys.stderr)
    unexplained = [d for d in report.disagreements if not d.get("reason")]
    for item in unexplained:
        print(f"DISAGREES {item}", file=sys.stderr)
    print(f"imported {len(report.imported)} workbooks; {len(report.failed)} failed; "
          f"{len(report.disagreements)} IDNO/DNO disagreements ({len(unexplained)} unexplained)")
    return 1 if unexplained else 0


def _rate(value: float) -> str:
    return repr(float(value))


def site_distributor(dno: str | int, area: int | None) -> tuple[int, str | None]:
    """(distributor ID, None) for CLI --dno/--area, or (0, an error naming the flag to fix)."""
    try:
        found = get_distributor(dno)
    except UnknownDistributorError as exc:
        return 0, f"--dno: {exc}"
    if found.is_idno and area not in DNO_AREAS:
        return 0, (f"--dno {found.distributor_id} ({found.name}) is an IDNO, which has no single "
                   f"area: give --area, the DNO area (10-23) the site is in (`bess-duos postcode "
                   f"lookup POSTCODE` finds it); got --area {area}")
    if not found.is_idno and area not in (None, found.distributor_id):
        return 0, (f"--area {area}: --dno {found.distributor_id} is a DNO, so its area is its "
                   "own; leave --area out (it is only for IDNO sites)")
    return found.distributor_id, None


def cmd_show(args: argparse.Namespace) -> int:
    dno_id, problem = site_distributor(args.dno, args.area)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        tariff = resolve_tariff(
            dno_id, on=args.date, voltage=args.voltage, llfc=args.llfc, kva=args.kva,
            area_distributor_id=args.area, residual_band=args.residual_band,
            generation=args.generation, tariff_name=args.tariff,
            profile_class=args.profile_class,
        )
    except (TariffNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(tariff_json(tariff), indent=2, ensure_ascii=False))
        return 0
    year = tariff.year or charging_year(args.date or datetime.date.today())
    print(f"{tariff.tariff_name} — distributor {tariff.dno_id}, charging year "
          f"{year}/{(year + 1) % 100:02d}, {tariff.voltage_level}")
    print(f"source: {tariff.source}")
    print(f"selected: {tariff.selection_note}")
    print("unit rates p/kWh:  red {}  amber {}  green {}".format(
        *(_rate(r) for r in tariff.unit_rates_p_per_kwh)))
    print(f"fixed {_rate(tariff.fixed_p_per_day)} p/MPAN/day  capacity "
          f"{_rate(tariff.capacity_p_per_kva_per_day)} p/kVA/day  exceeded capacity "
          f"{_rate(tariff.exceeded_capacity_p_per_kva_per_day)} p/kVA/day  reactive "
          f"{_rate(tariff.reactive_p_per_kvarh)} p/kVArh")
    if tariff.time_bands is not None:
        columns = [tariff.time_bands.describe(band, max_rows=8) for band in BANDS]
        print("time bands (UK clock time):")
        print(f"  {'red':<28}{'amber':<28}{'green':<28}")
        for i in range(max(len(c) for c in columns)):
            cells = [c[i] if i < len(c) else "" for c in columns]
            print("  " + "".join(f"{cell:<28}" for cell in cells).rstrip())
        for note in tariff.time_bands.notes:
            print(f"  note: {note}")
    return 0


LIST_FIELDS = (
    "distributor_id", "area_distributor_id", "year", "tariff_name", "voltage_level", "metering",
    "is_generation", "residual_band", "llfcs", "closed_llfcs", "pcs", "red_p_per_kwh",
    "amber_p_per_kwh", "green_p_per_kwh", "fixed_p_per_mpan_per_day",
    "capacity_p_per_kva_per_day", "exceeded_capacity_p_per_kva_per_day", "reactive_p_per_kvarh",
    "source",
)


def _flat(tariff: DuosTariff) -> dict[str, object]:
    return {
        "distributor_id": tariff.dno_id, "area_distributor_id": tariff.area_distributor_id,
        "year": tariff.year, "tariff_name": tariff.tariff_name,
        "voltage_level": tariff.voltage_level, "metering": tariff.metering,
        "is_generation": tariff.is_generation, "residual_band": tariff.residual_band,
        "llfcs": " ".join(tariff.llfcs), "closed_llfcs": " ".join(tariff.closed_llfcs),
        "pcs": tariff.pcs, "red_p_per_kwh": tariff.red_rate, "amber_p_per_kwh": tariff.amber_rate,
        "green_p_per_kwh": tariff.green_rate, "fixed_p_per_mpan_per_day": tariff.fixed_p_per_day,
        "capacity_p_per_kva_per_day": tariff.capacity_p_per_kva_per_day,
        "exceeded_capacity_p_per_kva_per_day": tariff.exceeded_capacity_p_per_kva_per_day,
        "reactive_p_per_kvarh": tariff.reactive_p_per_kvarh, "source": tariff.source,
    }


def tariff_json(tariff: DuosTariff) -> dict[str, object]:
    """The tariff as `tariffs show --json` prints it: rates as published, why, time bands."""
    bands = tariff.time_bands
    return {
        **_flat(tariff),
        "charging_year": f"{tariff.year}/{(tariff.year + 1) % 100:02d}" if tariff.year else "",
        "selection_note": tariff.selection_note, "residual_doubt": tariff.residual_doubt,
        "note": tariff.note,
        "time_bands": [
            {"band": p.band, "days": p.days, "start": p.start, "end": p.end,
             "months": list(p.months)} for p in (bands.periods if bands else ())
        ],
        "time_band_notes": list(bands.notes) if bands else [],
    }


def cmd_list(args: argparse.Namespace) -> int:
    dno_id, area = None, args.area
    if args.dno is not None:
        try:
            found = get_distributor(args.dno)
        except UnknownDistributorError as exc:
            print(f"error: --dno: {exc}", file=sys.stderr)
            return 1
        dno_id = found.distributor_id
        if not found.is_idno and area not in (None, dno_id):
            print(f"error: --area {area}: --dno {dno_id} is a DNO; leave --area out",
                  file=sys.stderr)
            return 1
    if area is not None and area not in DNO_AREAS:
        print(f"error: --area {area}: a DNO area is 10-23", file=sys.stderr)
        return 1
    try:
        if args.voltage and args.voltage.strip().upper() != "UMS":
            normalise_voltage(args.voltage)
        tariffs = all_tariffs(distributor_id=dno_id, area_distributor_id=area,
                              year=charging_year(args.date) if args.date else None,
                              voltage=args.voltage)
    except (TariffNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not tariffs:
        print("error: no tariffs match (see `bess-duos tariffs years` for what is shipped)",
              file=sys.stderr)
        return 1
    rows = [_flat(t) for t in tariffs]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=LIST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for t in tariffs:
            who = (f"area {t.area_distributor_id}" if t.dno_id == t.area_distributor_id
                   else f"IDNO {t.dno_id} in area {t.area_distributor_id}")
            year = f"{t.year}/{(t.year or 0) % 100 + 1:02d}"
            llfcs = " ".join(t.llfcs) or "(none published)"
            print(f"{year}  {who:<19} {t.voltage_level:<6} {t.tariff_name:<46} LLFCs {llfcs}")
    return 0


def cmd_years(args: argparse.Namespace) -> int:
    years = available_years()
    if not years:
        print("no tariffs imported: run `bess-duos tariffs import-all`")
        return 1
    for area in sorted(years):
        print(f"area {area}: charging years {', '.join(str(y) for y in years[area])}")
    return 0
