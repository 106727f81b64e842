"""How every command prints its result: text (a table, or the command's own), `--json` or
`--csv`. `add_output_flags` adds the two flags; `emit` is the one function that prints."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from bess_duos.core.plain import json_safe

Record = Mapping[str, Any]


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """`--json` / `--csv` (one or the other; default: text)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print the result as JSON")
    group.add_argument("--csv", action="store_true", help="print the result as CSV")


def output_format(args: argparse.Namespace) -> str:
    """'json', 'csv' or 'text', from the flags `add_output_flags` added."""
    if getattr(args, "json", False):
        return "json"
    return "csv" if getattr(args, "csv", False) else "text"


def flatten(record: Record, prefix: str = "") -> dict[str, Any]:
    """One CSV row from a nested record: keys joined with '.', lists joined with '; '."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            row.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            scalar = all(not isinstance(v, Mapping | list | tuple) for v in value)
            row[name] = "; ".join(map(str, value)) if scalar else json.dumps(json_safe(value))
        else:
            row[name] = value
    return row


def cell(value: Any) -> str:
    """A value as a text-table cell: blank for None, yes/no for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_table(rows: Sequence[Record], fields: Sequence[str], vertical: bool = False) -> str:
    """Rows as aligned columns under a header; `vertical` prints one row as name/value lines."""
    if vertical and len(rows) == 1:
        width = max(len(f) for f in fields)
        return "\n".join(f"{f:<{width}}  {cell(rows[0].get(f))}".rstrip() for f in fields)
    cells = [[cell(r.get(f)) for f in fields] for r in rows]
    widths = [max([len(f)] + [len(c[i]) for c in cells]) for i, f in enumerate(fields)]
    lines = ["  ".join(f"{f:<{w}}" for f, w in zip(fields, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(f"{v:<{w}}" for v, w in zip(c, widths, strict=True)).rstrip()
              for c in cells]
    return "\n".join(lines)


def emit(args: argparse.Namespace, data: Record | Sequence[Record], *,
         fields: Sequence[str] | None = None, text: str | Callable[[], str] | None = None,
         out: TextIO | None = None) -> None:
    """Print a result: one record (a mapping) or rows (a list of mappings).

    `--json`: the data as JSON (NaN -> null). `--csv`: a header and one line per row, nested
    values flattened to `a.b` columns (NaN -> blank). Text: `text` (a string, or a function
    making it, so text-only work is skipped otherwise), else a table of `fields`. `fields`
    also limits and orders the JSON and CSV keys.
    """
    out = out or sys.stdout
    rows = [data] if isinstance(data, Mapping) else list(data)
    if fields is not None:
        rows = [{f: r.get(f) for f in fields} for r in rows]
    fmt = output_format(args)
    if fmt == "json":
        body = rows[0] if isinstance(data, Mapping) else rows
        out.write(json.dumps(json_safe(body), indent=2, default=str) + "\n")
    elif fmt == "csv":
        flat = [flatten(json_safe(dict(r))) for r in rows]  # NaN -> blank
        names = list(fields) if fields is not None else list(dict.fromkeys(
            key for row in flat for key in row))
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
    else:
        if text is None:
            names = list(fields) if fields is not None else list(rows[0]) if rows else []
            shown = format_table(rows, names, vertical=isinstance(data, Mapping))
        else:
            shown = text() if callable(text) else text
        out.write(shown.rstrip("\n") + "\n")
