"""`bess-duos tariffs ...`: import DNO/IDNO charging workbooks, show and list tariffs."""

from __future__ import annotations

import argparse
import datetime
import sys
import zipfile
from pathlib import Path
from typing import Any

from bess_duos.core.distributors import UnknownDistributorError, get_distributor
from bess_duos.core.paths import reference_data_dir, writable_config_dir
from bess_duos.core.tariff_import.build import import_all, write_dno, write_idno
from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.importer import import_workbook
from bess_duos.core.tariff_import.sources import DNO_AREAS, zip_members
from bess_duos.core.tariff_import.workbook import read_workbook, read_zip_member
from bess_duos.core.tariffs import (
    DuosTariff,
    all_tariffs,
    available_years,
    charging_year,
    normalise_voltage,
    resolve_tariff,
)
from bess_duos.core.timebands import BANDS
from bess_duos.webhook.cli.args import positive_kva, site_distributor
from bess_duos.webhook.cli.errors import (
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OK,
    CliError,
    about,
    writing,
)
from bess_duos.webhook.cli.output import add_output_flags, emit


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
    show.add_argument("--kva", type=positive_kva, default=None,
                      help="agreed capacity, for the band")
    show.add_argument("--llfc", default=None)
    show.add_argument("--profile-class", default=None,
                      help="the MPAN's profile class (00-08): settles an LLFC listed twice")
    show.add_argument("--tariff", default=None,
                      help="the published tariff name, e.g. 'Non-Domestic Aggregated Band 3' "
                      "(`tariffs list` shows them)")
    show.add_argument("--residual-band", default=None)
    show.add_argument("--generation", action="store_true", help="the export tariff")
    add_output_flags(show)
    show.set_defaults(func=cmd_show)

    listing = sub.add_parser("list", help="every tariff with its LLFCs (filter by DNO, date...)")
    listing.add_argument("--dno", default=None,
                         help="distributor ID, MPID or short code (an IDNO: its own tariffs)")
    listing.add_argument("--area", type=int, default=None, help="DNO area, for an IDNO --dno")
    listing.add_argument("--date", type=datetime.date.fromisoformat, default=None,
                         help="YYYY-MM-DD: only that charging year")
    listing.add_argument("--voltage", default=None, help="LV, LV Sub, HV or UMS")
    add_output_flags(listing)
    listing.set_defaults(func=cmd_list)

    years = sub.add_parser("years", help="which areas and charging years have tariffs")
    add_output_flags(years)
    years.set_defaults(func=cmd_years)


def _distributor(path: Path, given: int | None) -> int:
    if given is not None:
        return given
    if path.parent.name.isdigit():
        return int(path.parent.name)
    raise CliError(f"FILE {path}: its folder name is not a distributor ID: give --dno (the "
                   "distributor ID, 10-23 for a DNO, 24+ for an IDNO)")


def cmd_import(args: argparse.Namespace) -> int:
    with about("--config", args.config or "(default)"):
        config = writable_config_dir(args.config)
    if not args.file.is_file():
        raise CliError(f"FILE {str(args.file)!r} not found (or not a file): give the path of a "
                       "DNO's 'Schedule of charges and other tables' .xlsx or an IDNO's .zip "
                       "bundle")
    dist = _distributor(args.file, args.dno)
    if args.file.suffix.lower() != ".zip" and dist not in DNO_AREAS:
        raise CliError(f"--dno {dist}: a single .xlsx must be a DNO's: give --dno 10-23, or an "
                       "IDNO's .zip bundle")
    try:
        if args.file.suffix.lower() == ".zip":
            members, skipped = zip_members(args.file, args.year)
            for why in skipped:
                print(f"skipped {why}", file=sys.stderr)
            for member, area in members:
                imported = import_workbook(read_zip_member(args.file, member), dist, args.year,
                                           ehv_required=False)
                with writing("--config", config):
                    write_idno(imported, area, config)
                print(f"IDNO {dist} area {area}: {len(imported.tariffs)} tariffs from {member}")
            return EXIT_OK
        imported = import_workbook(read_workbook(args.file), dist, args.year)
    except TariffImportError as exc:
        raise CliError(f"import failed: {exc}") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise CliError(f"import failed: {args.file}: cannot be read ({exc}); give the DNO's "
                       "'Schedule of charges and other tables' .xlsx or an IDNO's .zip bundle "
                       "of them") from exc
    with writing("--config", config):
        write_dno(imported, config)
    print(f"area {dist} {args.year}: {len(imported.tariffs)} tariffs, "
          f"{len(imported.time_bands.periods)} time-band periods, {len(imported.ehv)} EHV sites "
          f"-> {config}")
    return EXIT_OK


def cmd_import_all(args: argparse.Namespace) -> int:
    reference = args.reference or reference_data_dir() / "dno-charging-statements"
    if not reference.is_dir():
        raise CliError(f"--reference {reference}: not a folder: give the dno-charging-statements "
                       "folder of the reference data (YEAR/DD/ workbooks)")
    with about("--config", args.config or "(default)"):
        config = writable_config_dir(args.config)
    report = import_all(reference, config)
    for failure in report.failed:
        print(f"FAILED {failure['error']}", file=sys.stderr)
    unexplained = [d for d in report.disagreements if not d.get("reason")]
    for item in unexplained:
        print(f"DISAGREES {item}", file=sys.stderr)
    print(f"imported {len(report.imported)} workbooks; {len(report.failed)} failed; "
          f"{len(report.disagreements)} IDNO/DNO disagreements ({len(unexplained)} unexplained)")
    return EXIT_INVALID if unexplained else EXIT_OK


def _rate(value: float) -> str:
    return repr(float(value))


def tariff_record(tariff: DuosTariff) -> dict[str, Any]:
    """The tariff as published, with its time bands, for --json and --csv."""
    bands = tariff.time_bands
    return {
        "distributor_id": tariff.dno_id,
        "area_distributor_id": tariff.area_distributor_id,
        "tariff_name": tariff.tariff_name,
        **tariff.charges(),
        "closed_llfcs": list(tariff.closed_llfcs),
        "pcs": tariff.pcs,
        "metering": tariff.metering,
        "is_generation": tariff.is_generation,
        "source": tariff.source,
        "selection_note": tariff.selection_note,
        "residual_doubt": tariff.residual_doubt,
        "note": tariff.note,
        "time_bands": None if bands is None else {
            band: bands.describe(band, max_rows=8) for band in BANDS},
        "time_band_notes": [] if bands is None else list(bands.notes),
    }


def show_text(tariff: DuosTariff, year: int) -> str:
    """`tariffs show` as text: the rates as published, then the time bands in columns."""
    lines = [
        f"{tariff.tariff_name} — distributor {tariff.dno_id}, charging year "
        f"{year}/{(year + 1) % 100:02d}, {tariff.voltage_level}",
        f"source: {tariff.source}",
        f"selected: {tariff.selection_note}",
        "unit rates p/kWh:  red {}  amber {}  green {}".format(
            *(_rate(r) for r in tariff.unit_rates_p_per_kwh)),
        f"fixed {_rate(tariff.fixed_p_per_day)} p/MPAN/day  capacity "
        f"{_rate(tariff.capacity_p_per_kva_per_day)} p/kVA/day  exceeded capacity "
        f"{_rate(tariff.exceeded_capacity_p_per_kva_per_day)} p/kVA/day  reactive "
        f"{_rate(tariff.reactive_p_per_kvarh)} p/kVArh",
    ]
    if tariff.time_bands is not None:
        columns = [tariff.time_bands.describe(band, max_rows=8) for band in BANDS]
        lines.append("time bands (UK clock time):")
        lines.append(f"  {'red':<28}{'amber':<28}{'green':<28}")
        for i in range(max(len(c) for c in columns)):
            cells = [c[i] if i < len(c) else "" for c in columns]
            lines.append(("  " + "".join(f"{cell:<28}" for cell in cells)).rstrip())
        lines += [f"  note: {note}" for note in tariff.time_bands.notes]
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    dno_id = site_distributor(args.dno, args.area)
    tariff = resolve_tariff(  # TariffNotFoundError: exit 3; a bad --voltage etc.: exit 2
        dno_id, on=args.date, voltage=args.voltage, llfc=args.llfc, kva=args.kva,
        area_distributor_id=args.area, residual_band=args.residual_band,
        generation=args.generation, tariff_name=args.tariff, profile_class=args.profile_class,
    )
    year = tariff.year or charging_year(args.date or datetime.date.today())
    emit(args, tariff_record(tariff), text=lambda: show_text(tariff, year))
    return EXIT_OK


LIST_FIELDS = (
    "distributor_id", "area_distributor_id", "charging_year", "tariff_name", "voltage_level",
    "metering", "is_generation", "residual_band", "llfcs", "closed_llfcs", "pcs",
    "red_rate_p_per_kwh", "amber_rate_p_per_kwh", "green_rate_p_per_kwh", "fixed_p_per_day",
    "capacity_p_per_kva_per_day", "exceeded_capacity_p_per_kva_per_day", "reactive_p_per_kvarh",
    "source",
)


def list_text(tariffs: list[DuosTariff]) -> str:
    """One line per tariff: year, who, voltage, the published name and its LLFCs."""
    lines = []
    for t in tariffs:
        who = (f"area {t.area_distributor_id}" if t.dno_id == t.area_distributor_id
               else f"IDNO {t.dno_id} in area {t.area_distributor_id}")
        llfcs = " ".join(t.llfcs) or "(none published)"
        lines.append(f"{t.year}/{((t.year or 0) + 1) % 100:02d}  {who:<19} "
                     f"{t.voltage_level:<6} {t.tariff_name:<46} LLFCs {llfcs}")
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    dno_id, area = None, args.area
    if args.dno is not None:
        try:
            found = get_distributor(args.dno)
        except UnknownDistributorError as exc:
            raise CliError(f"--dno: {exc}") from exc
        dno_id = found.distributor_id
        if not found.is_idno and area not in (None, dno_id):
            raise CliError(f"--area {area}: --dno {dno_id} is a DNO; leave --area out")
    if area is not None and area not in DNO_AREAS:
        raise CliError(f"--area {area}: a DNO area is 10-23")
    if args.voltage and args.voltage.strip().upper() != "UMS":
        try:
            normalise_voltage(args.voltage)
        except ValueError as exc:
            raise CliError(f"--voltage: {exc} (or UMS)") from exc
    tariffs = all_tariffs(distributor_id=dno_id, area_distributor_id=area,
                          year=charging_year(args.date) if args.date else None,
                          voltage=args.voltage)
    if not tariffs:
        raise CliError("no tariffs match (`bess-duos tariffs years` shows what is shipped)",
                       EXIT_NOT_FOUND)
    emit(args, [{f: tariff_record(t)[f] for f in LIST_FIELDS} for t in tariffs],
         text=lambda: list_text(tariffs))
    return EXIT_OK


def cmd_years(args: argparse.Namespace) -> int:
    years = available_years()
    if not years:
        raise CliError("no tariffs imported: run `bess-duos tariffs import-all`", EXIT_NOT_FOUND)
    rows = [{"area": area, "charging_years": list(years[area])} for area in sorted(years)]
    emit(args, rows, text=lambda: "\n".join(
        f"area {r['area']}: charging years {', '.join(map(str, r['charging_years']))}"
        for r in rows))
    return EXIT_OK
