"""CLI commands `bess-duos mpan parse|validate|generate` and `bess-duos dno show|list`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from bess_duos.core.distributors import UnknownDistributorError, all_distributors, get_distributor
from bess_duos.core.mpan import MpanError, generate_cores, generate_full_mpans, parse_mpan

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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _emit(rows: Sequence[dict[str, Any]], fields: Sequence[str], fmt: str,
          out: TextIO | None = None, vertical: bool = False) -> None:
    """Print rows as a table (default), JSON or CSV."""
    out = out or sys.stdout
    rows = [{f: r.get(f) for f in fields} for r in rows]
    if fmt == "json":
        out.write(json.dumps(rows[0] if vertical and len(rows) == 1 else rows, indent=2) + "\n")
        return
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return
    if vertical and len(rows) == 1:
        width = max(len(f) for f in fields)
        for f in fields:
            out.write(f"{f:<{width}}  {_cell(rows[0][f])}\n")
        return
    cells = [[_cell(r[f]) for f in fields] for r in rows]
    widths = [max([len(f)] + [len(c[i]) for c in cells]) for i, f in enumerate(fields)]
    out.write("  ".join(f"{f:<{w}}" for f, w in zip(fields, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for c in cells:
        out.write("  ".join(f"{v:<{w}}" for v, w in zip(c, widths, strict=True)).rstrip() + "\n")


def _fmt(args: argparse.Namespace) -> str:
    return "json" if args.json else "csv" if args.csv else "table"


def _add_format(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("--csv", action="store_true", help="print CSV")


# --- mpan ---------------------------------------------------------------------------------

def cmd_parse(args: argparse.Namespace) -> int:
    """Parse one MPAN (the words are joined, so spaces need no quoting); 1 if not valid."""
    text = " ".join(args.mpan)
    try:
        m = parse_mpan(text)
    except MpanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _emit([m.to_dict()], PARSE_FIELDS, _fmt(args), vertical=True)
    if not m.check_digit_valid:
        print(f"invalid: check digit is {m.check_digit}, expected {m.expected_check_digit}",
              file=sys.stderr)
        return 1
    return 0


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
        print(f"error: FILE {args.file!r}: cannot read it ({exc.strerror or exc}); give the path "
              "of a text file with one MPAN a line, a CSV with an MPAN column, or - for stdin",
              file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    _emit(rows, VALIDATE_FIELDS, _fmt(args))
    bad = sum(1 for r in rows if not r["valid"])
    print(f"{len(rows)} MPANs, {len(rows) - bad} valid, {bad} invalid", file=sys.stderr)
    return 1 if bad or not rows else 0


MAX_GENERATE = 10_000_000  # more would print for a very long time (and fill memory)


def cmd_generate(args: argparse.Namespace) -> int:
    """Print N unique valid cores (or full MPANs) for a distributor (N up to 10,000,000)."""
    if args.n > MAX_GENERATE:
        print(f"error: -n {args.n:,} is too many: give -n up to {MAX_GENERATE:,}",
              file=sys.stderr)
        return 1
    try:
        d = get_distributor(args.dno)
        make = generate_full_mpans if args.full else generate_cores
        values = make(args.n, d.distributor_id, args.seed).tolist()
    except (MpanError, UnknownDistributorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [{"mpan": v, "distributor_id": d.distributor_id, "short_code": d.short_code}
            for v in values]
    _emit(rows, ("mpan", "distributor_id", "short_code"), _fmt(args))
    return 0


# --- dno ----------------------------------------------------------------------------------

def cmd_dno_show(args: argparse.Namespace) -> int:
    """Show one distributor by ID, MPID or short code."""
    try:
        d = get_distributor(args.key)
    except UnknownDistributorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    fields = (*DNO_FIELDS, "area")
    _emit([d.to_dict()], fields, _fmt(args), vertical=True)
    return 0


def cmd_dno_list(args: argparse.Namespace) -> int:
    """List distributors (all, or only DNOs / only IDNOs)."""
    ds = all_distributors()
    if args.dnos:
        ds = [d for d in ds if not d.is_idno]
    elif args.idnos:
        ds = [d for d in ds if d.is_idno]
    _emit([d.to_dict() for d in ds], DNO_FIELDS, _fmt(args))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `mpan` and `dno` to the `bess-duos` parser."""
    mpan = subparsers.add_parser("mpan", help="parse, validate and generate MPANs")
    msub = mpan.add_subparsers(dest="mpan_command", metavar="ACTION", required=True)

    p = msub.add_parser("parse", help="parse one MPAN (core, full, or pasted text)")
    p.add_argument("mpan", nargs="+", help="the MPAN; spaces allowed without quotes")
    _add_format(p)
    p.set_defaults(func=cmd_parse)

    p = msub.add_parser("validate", help="validate a file of MPANs; exit 1 if any is invalid")
    p.add_argument("file", help="one MPAN a line, or a CSV with an MPAN column ('-' = stdin)")
    p.add_argument("--column", help="CSV column holding the MPANs (default: the one named *mpan*)")
    _add_format(p)
    p.set_defaults(func=cmd_validate)

    p = msub.add_parser("generate", help="generate unique valid MPANs for a distributor")
    p.add_argument("--dno", required=True, help="distributor ID, MPID or short code")
    p.add_argument("-n", type=int, default=1,
                   help=f"how many (default 1, at most {MAX_GENERATE:,})")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible output")
    p.add_argument("--full", action="store_true", help="full 21-digit MPANs with a top line")
    _add_format(p)
    p.set_defaults(func=cmd_generate)

    dno = subparsers.add_parser("dno", help="show distributors (DNOs and IDNOs)")
    dsub = dno.add_subparsers(dest="dno_command", metavar="ACTION", required=True)
    p = dsub.add_parser("show", help="one distributor by ID, MPID or short code")
    p.add_argument("key", help="e.g. 14, MIDE or NGED-WM")
    _add_format(p)
    p.set_defaults(func=cmd_dno_show)
    p = dsub.add_parser("list", help="all distributors")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dnos", action="store_true", help="only the 14 DNO areas")
    g.add_argument("--idnos", action="store_true", help="only IDNOs")
    _add_format(p)
    p.set_defaults(func=cmd_dno_list)
