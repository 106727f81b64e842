"""CLI commands `bess-duos mpan parse|validate|generate` and `bess-duos dno show|list`."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from typing import Any

from bess_duos.core.distributors import all_distributors, get_distributor
from bess_duos.core.mpan import MpanError, generate_cores, generate_full_mpans, parse_mpan
from bess_duos.webhook.cli.errors import EXIT_INVALID, EXIT_OK, CliError, about, cannot_read
from bess_duos.webhook.cli.output import add_output_flags, emit, format_table

PARSE_FIELDS = (
    "core", "distributor_id", "distributor_name", "short_code", "mpid", "gsp_group_id",
    "gsp_group_name", "area", "identifier", "check_digit", "check_digit_valid",
    "expected_check_digit", "profile_class", "profile_class_description", "mtc", "llfc",
    "ignored_prefix",
)
VALIDATE_FIELDS = ("line", "input", "core", "distributor_id", "short_code",
                   "check_digit_valid", "expected_check_digit", "valid", "problem")
DNO_FIELDS = ("distributor_id", "short_code", "mpid", "name", "gsp_group_id",
              "gsp_group_name", "is_idno")


# --- mpan ---------------------------------------------------------------------------------

def cmd_parse(args: argparse.Namespace) -> int:
    """Parse each word as its own MPAN (quote one written with spaces); 1 if any check digit
    is wrong, 2 if a word is not an MPAN at all."""
    parsed = []
    for i, text in enumerate(args.mpan, 1):
        try:
            parsed.append(parse_mpan(text))
        except MpanError as exc:
            where = f"MPAN {text!r}" + (f" (word {i} of {len(args.mpan)})"
                                        if len(args.mpan) > 1 else "")
            hint = ("; each word is parsed as its own MPAN: quote an MPAN written with spaces, "
                    'e.g. "00800999932 1405566778899"') if len(args.mpan) > 1 else ""
            raise CliError(f"{where}: {exc}{hint}") from exc
    rows = [m.to_dict() for m in parsed]
    emit(args, rows[0] if len(rows) == 1 else rows, fields=PARSE_FIELDS,
         text=lambda: "\n\n".join(format_table([r], PARSE_FIELDS, vertical=True)
                                   for r in rows))
    wrong = [m for m in parsed if not m.check_digit_valid]
    for m in wrong:
        print(f"invalid: MPAN {m.core}: check digit is {m.check_digit}, expected "
              f"{m.expected_check_digit}", file=sys.stderr)
    return EXIT_INVALID if wrong else EXIT_OK


def _read_inputs(path: str, column: str | None) -> list[tuple[int, str]]:
    """(line number, text) of each MPAN in a file of one per line or a CSV column."""
    if path == "-":
        text = sys.stdin.read()
    else:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if column is None and "," not in first and "mpan" not in first.lower():
        return [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip()]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    names = [h.strip() for h in header]
    if column is not None:
        matches = [i for i, h in enumerate(names) if h.lower() == column.strip().lower()]
        if not matches:
            raise ValueError(f"{path}: no column {column!r}; columns are {names}: "
                             "give one of them with --column")
    else:
        matches = [i for i, h in enumerate(names) if "mpan" in h.lower()]
        if len(matches) != 1:
            raise ValueError(f"{path} looks like CSV with columns {names}: "
                             "name the MPAN column with --column")
    idx = matches[0]
    return [(reader.line_num, row[idx] if idx < len(row) else "")
            for row in reader if any(c.strip() for c in row)]


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate every MPAN in a file; exit status 1 if any is invalid."""
    try:
        items = _read_inputs(args.file, args.column)
    except OSError as exc:
        raise cannot_read("FILE", args.file, exc, "the path of a text file with one MPAN a "
                          "line, a CSV with an MPAN column, or - for stdin") from exc
    if not items:
        raise CliError(f"FILE {args.file!r} holds no MPANs: give a file with one MPAN a line, "
                       "or a CSV with an MPAN column")
    rows = []
    for line, text in items:
        row: dict[str, Any] = {"line": line, "input": text.strip()}
        try:
            m = parse_mpan(text)
        except MpanError as exc:
            row.update(valid=False, problem=str(exc))
        else:
            row.update(core=m.core, distributor_id=m.distributor_id,
                       short_code=m.distributor.short_code,
                       check_digit_valid=m.check_digit_valid,
                       expected_check_digit=m.expected_check_digit,
                       valid=m.check_digit_valid,
                       problem="" if m.check_digit_valid else
                       f"bad check digit {m.check_digit}, expected {m.expected_check_digit}")
        rows.append(row)
    emit(args, rows, fields=VALIDATE_FIELDS)
    bad = sum(1 for r in rows if not r["valid"])
    print(f"{len(rows)} MPANs, {len(rows) - bad} valid, {bad} invalid", file=sys.stderr)
    return EXIT_INVALID if bad else EXIT_OK


MAX_GENERATE = 10_000_000  # more would print for a very long time (and fill memory)


def cmd_generate(args: argparse.Namespace) -> int:
    """Print N unique valid cores (or full MPANs) for a distributor (N up to 10,000,000)."""
    if not 1 <= args.n <= MAX_GENERATE:
        raise CliError(f"-n {args.n:,} is out of range: give -n from 1 to {MAX_GENERATE:,}")
    with about("--dno", args.dno):
        d = get_distributor(args.dno)
    make = generate_full_mpans if args.full else generate_cores
    with about("--dno", args.dno):
        values = make(args.n, d.distributor_id, args.seed).tolist()
    rows = [{"mpan": v, "distributor_id": d.distributor_id, "short_code": d.short_code}
            for v in values]
    emit(args, rows, fields=("mpan", "distributor_id", "short_code"))
    return EXIT_OK


# --- dno ----------------------------------------------------------------------------------

def cmd_dno_show(args: argparse.Namespace) -> int:
    """Show one distributor by ID, MPID or short code."""
    d = get_distributor(args.key)  # an unknown key: the error names it and what to give
    emit(args, d.to_dict(), fields=(*DNO_FIELDS, "area"))
    return EXIT_OK


def cmd_dno_list(args: argparse.Namespace) -> int:
    """List distributors (all, or only DNOs / only IDNOs)."""
    ds = all_distributors()
    if args.dnos:
        ds = [d for d in ds if not d.is_idno]
    elif args.idnos:
        ds = [d for d in ds if d.is_idno]
    emit(args, [d.to_dict() for d in ds], fields=DNO_FIELDS)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `mpan` and `dno` to the `bess-duos` parser."""
    mpan = subparsers.add_parser("mpan", help="parse, validate and generate MPANs")
    msub = mpan.add_subparsers(dest="mpan_command", metavar="ACTION", required=True)

    p = msub.add_parser("parse", help="parse MPANs (core, full, or pasted text); exit 1 if a "
                        "check digit is wrong")
    p.add_argument("mpan", nargs="+", help="each word is one MPAN; quote an MPAN that has "
                   'spaces, e.g. "00800999932 1405566778899"')
    add_output_flags(p)
    p.set_defaults(func=cmd_parse)

    p = msub.add_parser("validate", help="validate a file of MPANs; exit 1 if any is invalid")
    p.add_argument("file", help="one MPAN a line, or a CSV with an MPAN column ('-' = stdin)")
    p.add_argument("--column", help="CSV column holding the MPANs (default: the one named *mpan*)")
    add_output_flags(p)
    p.set_defaults(func=cmd_validate)

    p = msub.add_parser("generate", help="generate unique valid MPANs for a distributor")
    p.add_argument("--dno", required=True, help="distributor ID, MPID or short code")
    p.add_argument("-n", type=int, default=1,
                   help=f"how many (default 1, at most {MAX_GENERATE:,})")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible output")
    p.add_argument("--full", action="store_true", help="full 21-digit MPANs with a top line")
    add_output_flags(p)
    p.set_defaults(func=cmd_generate)

    dno = subparsers.add_parser("dno", help="show distributors (DNOs and IDNOs)")
    dsub = dno.add_subparsers(dest="dno_command", metavar="ACTION", required=True)
    p = dsub.add_parser("show", help="one distributor by ID, MPID or short code")
    p.add_argument("key", help="e.g. 14, MIDE or NGED-WM")
    add_output_flags(p)
    p.set_defaults(func=cmd_dno_show)
    p = dsub.add_parser("list", help="all distributors")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dnos", action="store_true", help="only the 14 DNO areas")
    g.add_argument("--idnos", action="store_true", help="only IDNOs")
    add_output_flags(p)
    p.set_defaults(func=cmd_dno_list)
