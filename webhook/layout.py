"""The BESS sheet's cell map (`config/sheet_layout.yaml`): load, validate, and map results to cells.

`core` never knows about cells; this module and that table alone turn a lookup result into
cell values. `result_fields` gives a result's flat values keyed by the layout's field names:
as many time-band rows per band as the layout has `<band>_period_<n>` fields, and numbers
rounded as its `display.round` says. Output values become the `{"range", "values"}` blocks of
one Sheets `values.batchUpdate` (or one workbook save): numbers stay numbers, `None` (or a
field the result does not have) clears its cell as `""`. A taller sheet is a change to the
YAML only (e.g. `B10:D14` with a fifth `red_period_5, amber_period_5, green_period_5` row).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from bess_duos.core.paths import config_dir
from bess_duos.core.plain import json_safe
from bess_duos.core.timebands import BANDS
from bess_duos.webhook.sheet_fields import tariff_fields

if TYPE_CHECKING:
    from bess_duos.core.lookup import LookupResult

LAYOUT_FILE = "sheet_layout.yaml"
STATUSES = ("ok", "warning", "error")
FEATURE_FIELDS = ("peak_ratio", "load_factor", "weekend_factor")
_PERIOD_RE = re.compile(rf"^({'|'.join(BANDS)})_period_([1-9][0-9]*)$")

_CELL_RE = re.compile(r"^([A-Z]{1,3})([1-9][0-9]{0,6})$")

Cell = tuple[int, int]  # (row, column), both 1-based


class LayoutError(ValueError):
    """The layout file is malformed: the message names the key and what to fix."""


def column_index(letters: str) -> int:
    """`A` -> 1, `Z` -> 26, `AA` -> 27."""
    index = 0
    for char in letters:
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index


def column_letters(index: int) -> str:
    """1 -> `A`, 27 -> `AA` (the inverse of `column_index`)."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def parse_cell(a1: str) -> Cell:
    """`"B6"` -> `(6, 2)`; raises ValueError for anything that is not one A1 cell."""
    match = _CELL_RE.match(a1.strip().upper())
    if not match:
        raise ValueError(f"{a1!r} is not an A1 cell reference like 'B6'")
    return int(match.group(2)), column_index(match.group(1))


def cell_name(row: int, col: int) -> str:
    """`(6, 2)` -> `"B6"`."""
    return f"{column_letters(col)}{row}"


def parse_range(a1: str) -> tuple[Cell, Cell]:
    """`"C6:H6"` (or one cell `"A6"`) -> top-left and bottom-right cells."""
    first, sep, last = a1.strip().partition(":")
    top_left = parse_cell(first)
    bottom_right = parse_cell(last) if sep else top_left
    if bottom_right[0] < top_left[0] or bottom_right[1] < top_left[1]:
        raise ValueError(f"{a1!r}: the second corner must be below and right of the first")
    return top_left, bottom_right


@dataclass(frozen=True)
class OutputBlock:
    """One rectangular output range and the field shown in each of its cells (None = unused)."""

    range: str
    fields: tuple[tuple[str | None, ...], ...]

    @property
    def cells(self) -> list[tuple[str, str | None]]:
        """Every `(A1 cell, field)` of the block, row by row."""
        (row0, col0), _ = parse_range(self.range)
        return [
            (cell_name(row0 + r, col0 + c), field)
            for r, row in enumerate(self.fields)
            for c, field in enumerate(row)
        ]


@dataclass(frozen=True)
class Presentation:
    """How the sheet looks: labels, number formats, notes, input validation, column widths.

    `formats` maps an A1 cell or range to a number format; `cell_formats()` expands it per cell.
    `validation` maps an input cell to `{"list": [...]}` or `{"between": [lo, hi]}` and `help`.
    """

    labels: Mapping[str, str] = dc_field(default_factory=dict)
    formats: Mapping[str, str] = dc_field(default_factory=dict)
    notes: Mapping[str, str] = dc_field(default_factory=dict)
    validation: Mapping[str, Mapping[str, Any]] = dc_field(default_factory=dict)
    widths: Mapping[str, float] = dc_field(default_factory=dict)

    def cell_formats(self) -> dict[str, str]:
        """`{"B9": '0.000" p/kWh"', "C9": ..., ...}`: every formatted cell and its format."""
        out: dict[str, str] = {}
        for a1, fmt in self.formats.items():
            (r0, c0), (r1, c1) = parse_range(a1)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    out[cell_name(r, c)] = fmt
        return out


@dataclass(frozen=True)
class SheetLayout:
    """Input cells by field, output blocks, which block is the status block, and the looks."""

    inputs: Mapping[str, str]
    outputs: tuple[OutputBlock, ...]
    status_range: str
    rounding: Mapping[str, int] = dc_field(default_factory=dict)  # field -> places
    presentation: Presentation = dc_field(default_factory=Presentation)

    @cached_property  # a layout is never changed: worked out once per layout
    def period_rows(self) -> int:
        """Time-band rows per band: the largest n of the `<band>_period_<n>` output fields."""
        found = [int(m.group(2)) for f in self.output_fields if (m := _PERIOD_RE.match(f))]
        return max(found, default=0)

    @cached_property
    def output_fields(self) -> frozenset[str]:
        """Every field name some output cell shows."""
        return frozenset(f for b in self.outputs for row in b.fields for f in row if f)

    @property
    def status_block(self) -> OutputBlock:
        """The block written alone when a lookup fails."""
        return next(b for b in self.outputs if b.range == self.status_range)

    @property
    def output_ranges(self) -> tuple[str, ...]:
        """The A1 ranges of every output block, in layout order."""
        return tuple(b.range for b in self.outputs)

    def output_blocks(self, fields: Mapping[str, object]) -> list[dict[str, Any]]:
        """All output blocks, whole, as `[{"range": "C6:H6", "values": [[...]]}, ...]`.

        A field missing from `fields`, or None, clears its cell (`""`); keys the layout does not
        show are ignored. Unused cells of a block (null in the layout) are cleared too.
        """
        return [_block_values(block, fields) for block in self.outputs]

    def status_blocks(
        self, status: str, message: str, request_id: str, time: str
    ) -> list[dict[str, Any]]:
        """Only the status block, filled from the four status fields."""
        check_status(status)
        fields = {"status": status, "message": message, "request_id": request_id, "time": time}
        return [_block_values(self.status_block, fields)]

    def cell_of(self, field: str) -> str:
        """The A1 cell showing `field` (e.g. ``request_id`` -> ``H4``); KeyError if none."""
        return next(cell for b in self.outputs for cell, f in b.cells if f == field)

    def input_ranges(self) -> list[str]:
        """The input cells in the order of `inputs` (one range each, for one batchGet)."""
        return list(self.inputs.values())

    def inputs_from_values(self, values: Sequence[object]) -> dict[str, str]:
        """Map the displayed strings read from `input_ranges()` (same order) to field names."""
        if len(values) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} input values, got {len(values)}")
        return {
            name: "" if value is None else str(value)
            for name, value in zip(self.inputs, values, strict=True)
        }

    def input_blocks(self, values: Mapping[str, object]) -> list[dict[str, Any]]:
        """Blocks writing the given inputs (e.g. for the demo): strings stay text."""
        unknown = sorted(set(values) - set(self.inputs))
        if unknown:
            raise ValueError(
                f"unknown input field(s) {unknown}: the layout's inputs are {sorted(self.inputs)}"
            )
        return [
            {"range": self.inputs[name], "values": [[cell_value(name, value)]]}
            for name, value in values.items()
        ]


def check_status(status: str) -> None:
    """Raise ValueError unless `status` is one of ok / warning / error."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")


def cell_value(field: str, value: object) -> object:
    """A JSON-ready cell value: str, bool, int or float; None and non-finite numbers -> `""`."""
    if value is None:
        return ""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(
        f"field {field!r}: cannot write a {type(value).__name__} to a cell; "
        "give a number, a string or None"
    )


def _block_values(block: OutputBlock, fields: Mapping[str, object]) -> dict[str, Any]:
    values = [[cell_value(f, fields.get(f)) if f else "" for f in row] for row in block.fields]
    return {"range": block.range, "values": values}


def load_layout(path: Path | None = None) -> SheetLayout:
    """Read and validate the layout file (default `config/sheet_layout.yaml`)."""
    path = path or config_dir() / LAYOUT_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LayoutError(f"cannot read the sheet layout {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise LayoutError(f"{path} is not valid YAML: {exc}") from exc
    return layout_from_dict(raw, source=str(path))


@cache
def default_layout() -> SheetLayout:
    """The shipped layout, loaded once per process."""
    return load_layout()


def layout_from_dict(raw: object, source: str = "layout") -> SheetLayout:
    """Validate a parsed layout mapping; every error names the key and what is wrong."""
    if not isinstance(raw, Mapping):
        raise LayoutError(f"{source}: expected a mapping with inputs, outputs, status_range")
    missing = [k for k in ("inputs", "outputs", "status_range") if k not in raw]
    if missing:
        raise LayoutError(f"{source}: missing key(s) {missing}")
    inputs = _validate_inputs(raw["inputs"], source)
    outputs = _validate_outputs(raw["outputs"], source)
    status_range = str(raw["status_range"])
    if status_range not in {b.range for b in outputs}:
        raise LayoutError(f"{source}: status_range {status_range!r} is not one of the outputs")
    status_fields = {
        f for row in next(b for b in outputs if b.range == status_range).fields for f in row if f
    }
    if not {"status", "message"} <= status_fields:
        raise LayoutError(f"{source}: the status block must show the fields status and message")
    _check_no_overlap(inputs, outputs, source)
    layout = SheetLayout(inputs=inputs, outputs=outputs, status_range=status_range)
    _check_period_rows(layout, source)
    rounding = _validate_display(raw.get("display"), layout, source)
    presentation = _validate_presentation(raw, inputs, outputs, source)
    return dataclasses.replace(layout, rounding=rounding, presentation=presentation)


def _check_period_rows(layout: SheetLayout, source: str) -> None:
    """Every band has rows 1..n of the same n (n = `period_rows`)."""
    shown = {f for f in layout.output_fields if _PERIOD_RE.match(f)}
    wanted = {f"{band}_period_{i}" for band in BANDS for i in range(1, layout.period_rows + 1)}
    if shown != wanted:
        raise LayoutError(
            f"{source}: time-band rows must be <band>_period_1..{layout.period_rows} for each "
            f"of {', '.join(BANDS)}; missing {sorted(wanted - shown)}"
        )


def _validate_display(raw: object, layout: SheetLayout, source: str) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or set(raw) - {"round"}:
        raise LayoutError(f"{source}: display must be a mapping with the key 'round'")
    places = raw.get("round") or {}
    if not isinstance(places, Mapping):
        raise LayoutError(f"{source}: display.round must map field names to decimal places")
    out: dict[str, int] = {}
    for name, value in places.items():
        if name not in layout.output_fields:
            raise LayoutError(f"{source}: display.round.{name}: no output cell shows {name!r}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LayoutError(f"{source}: display.round.{name}: {value!r} is not a whole "
                              "number of decimal places (0 or more)")
        out[str(name)] = value
    return out


# ---------------------------------------------------------------- a result's cells


def result_fields(result: LookupResult, layout: SheetLayout | None = None) -> dict[str, object]:
    """A lookup result's flat values (plain JSON values) keyed by the layout's field names;
    None clears a cell.

    Time bands fill `layout.period_rows` rows per band (the first periods when a band has
    more); numbers named in the layout's `display.round` are rounded to that many places.
    """
    layout = layout or default_layout()
    d, tariff = result.distributor, result.tariff
    out: dict[str, object] = {
        "status": result.status,
        "message": result.message,
        "time": result.time,
        "request_id": result.request_id,
        "distributor_id": d.distributor_id,
        "dno_name": d.name,
        "short_code": d.short_code,
        "mpid": d.mpid,
        "gsp_group_id": result.site.gsp_group_id,
        "gsp_group_name": result.site.distributor.gsp_group_name,
    }
    rates = tariff.unit_rates_p_per_kwh if tariff else (None,) * len(BANDS)
    for band, rate in zip(BANDS, rates, strict=True):
        out[f"{band}_rate_p_per_kwh"] = rate
        rows = result.periods.get(band, [])
        for i in range(layout.period_rows):
            out[f"{band}_period_{i + 1}"] = rows[i] if i < len(rows) else None
    out["annual_duos_gbp"] = result.duos.annualised_total_gbp if result.duos else None
    for name in FEATURE_FIELDS:
        out[name] = getattr(result.features, name) if result.features else None
    flex = result.flexibility
    out["flex_value_gbp_per_year"] = flex.annual_value_gbp if flex else None
    out["flex_saving_pct"] = flex.saving_pct if flex else None
    out.update(tariff_fields(result))
    shown = json_safe(out)  # a number that is not finite: None
    for name, places in layout.rounding.items():
        if name in shown:
            shown[name] = _rounded(shown[name], places)
    return shown


def _rounded(value: object, places: int) -> object:
    """A number rounded to `places` as the cell shows it; anything else as it is."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return round(float(value), places)
    return value


def result_json(result: LookupResult, layout: SheetLayout | None = None) -> dict[str, Any]:
    """`result.to_dict()` with the sheet's `fields`, plain JSON values; a note when a band has
    more periods than the sheet has rows (all of them are in `time_bands`)."""
    layout = layout or default_layout()
    body = result.to_dict()
    body["fields"] = result_fields(result, layout)
    rows = layout.period_rows
    if any(len(periods) > rows for periods in result.periods.values()):
        body["notes"] = [*body["notes"], f"more than {rows} periods in a band: the sheet shows "
                         f"the first {rows}; all are in time_bands"]
    return body


def _validate_presentation(
    raw: Mapping[str, Any], inputs: Mapping[str, str], outputs: Sequence[OutputBlock],
    source: str,
) -> Presentation:
    """Labels off the data cells, notes on output cells, validation on input cells."""
    data_cells = set(inputs.values()) | {a1 for b in outputs for a1, _ in b.cells}
    output_cells = {a1 for b in outputs for a1, _ in b.cells}
    tables: dict[str, dict[str, Any]] = {}
    for key in ("labels", "formats", "notes", "validation", "widths"):
        table = raw.get(key) or {}
        if not isinstance(table, Mapping):
            raise LayoutError(f"{source}: {key} must map cells to values")
        tables[key] = {str(k).upper(): v for k, v in table.items()}
    for a1 in tables["labels"]:
        _check_cell(a1, f"{source}: labels.{a1}")
        if a1 in data_cells:
            raise LayoutError(f"{source}: labels.{a1} sits on an input or output cell")
    for a1 in tables["formats"]:
        try:
            parse_range(a1)
        except ValueError as exc:
            raise LayoutError(f"{source}: formats.{a1}: {exc}") from exc
    for a1 in tables["notes"]:
        _check_cell(a1, f"{source}: notes.{a1}")
        if a1 not in output_cells:
            raise LayoutError(f"{source}: notes.{a1} is not an output cell")
    for a1, rule in tables["validation"].items():
        if a1 not in set(inputs.values()):
            raise LayoutError(f"{source}: validation.{a1} is not an input cell")
        ok_list = isinstance(rule, Mapping) and isinstance(rule.get("list"), list)
        between = rule.get("between") if isinstance(rule, Mapping) else None
        ok_between = isinstance(between, list) and len(between) == 2
        if not (ok_list or ok_between):
            raise LayoutError(
                f"{source}: validation.{a1}: give list: [...] or between: [low, high]"
            )
    return Presentation(**{k: {a: (str(v) if k in ("labels", "formats", "notes") else v)
                                for a, v in t.items()} for k, t in tables.items()})


def _check_cell(a1: str, where: str) -> None:
    try:
        parse_cell(a1)
    except ValueError as exc:
        raise LayoutError(f"{where}: {exc}") from exc


def apps_script_source(path: Path | None = None) -> str:
    """apps_script/Layout.gs: the layout table as one JS object (generated, never edited)."""
    path = path or config_dir() / LAYOUT_FILE
    layout = load_layout(path)
    p = layout.presentation
    table = {
        "inputs": dict(layout.inputs),
        "outputs": [{"range": b.range, "fields": [list(r) for r in b.fields]}
                    for b in layout.outputs],
        "status_range": layout.status_range,
        "labels": dict(p.labels),
        "formats": dict(p.formats),
        "notes": dict(p.notes),
        "validation": {k: dict(v) for k, v in p.validation.items()},
        "widths": dict(p.widths),
    }
    body = json.dumps(table, indent=2, ensure_ascii=False)
    return (
        "/**\n * The BESS sheet's layout: GENERATED from config/sheet_layout.yaml by\n"
        " * `python -m bess_duos.webhook.layout --apps-script > apps_script/Layout.gs`.\n"
        " * Do not edit (tests/test_apps_script_layout.py checks it is up to date).\n */\n"
        f"var SHEET_LAYOUT = {body};\n"
    )


def _validate_inputs(raw: object, source: str) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not raw:
        raise LayoutError(f"{source}: inputs must map field names to single cells like 'B6'")
    inputs: dict[str, str] = {}
    for name, a1 in raw.items():
        try:
            parse_cell(str(a1))
        except ValueError as exc:
            raise LayoutError(f"{source}: inputs.{name}: {exc}") from exc
        inputs[str(name)] = str(a1).upper()
    return inputs


def _validate_outputs(raw: object, source: str) -> tuple[OutputBlock, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise LayoutError(f"{source}: outputs must be a list of {{range, fields}} blocks")
    blocks: list[OutputBlock] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"{source}: outputs[{i}]"
        if not isinstance(item, Mapping) or "range" not in item or "fields" not in item:
            raise LayoutError(f"{where}: each block needs 'range' and 'fields'")
        a1 = str(item["range"]).upper()
        try:
            (r0, c0), (r1, c1) = parse_range(a1)
        except ValueError as exc:
            raise LayoutError(f"{where}.range: {exc}") from exc
        rows = item["fields"]
        if not isinstance(rows, Sequence) or any(
            not isinstance(row, Sequence) or isinstance(row, str) for row in rows
        ):
            raise LayoutError(f"{where}.fields: give a list of rows, each a list of field names")
        if len(rows) != r1 - r0 + 1 or any(len(row) != c1 - c0 + 1 for row in rows):
            raise LayoutError(
                f"{where}.fields: {a1} is {r1 - r0 + 1} row(s) x {c1 - c0 + 1} column(s); "
                "the fields table must have exactly that shape"
            )
        for field in (f for row in rows for f in row if f is not None):
            if not isinstance(field, str) or not field:
                raise LayoutError(f"{where}.fields: {field!r} is not a field name")
            if field in seen:
                raise LayoutError(f"{where}.fields: field {field!r} appears twice in the layout")
            seen.add(field)
        blocks.append(OutputBlock(a1, tuple(tuple(row) for row in rows)))
    return tuple(blocks)


def _check_no_overlap(
    inputs: Mapping[str, str], outputs: Sequence[OutputBlock], source: str
) -> None:
    owner: dict[str, str] = {}
    for name, a1 in inputs.items():
        if a1 in owner:
            raise LayoutError(f"{source}: inputs {owner[a1]} and {name} share cell {a1}")
        owner[a1] = f"input {name}"
    for block in outputs:
        for a1, _ in block.cells:
            if a1 in owner:
                raise LayoutError(
                    f"{source}: output block {block.range} overlaps {owner[a1]} at {a1}"
                )
            owner[a1] = f"output block {block.range}"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--apps-script"]:
        raise SystemExit("usage: python -m bess_duos.webhook.layout --apps-script")
    sys.stdout.write(apps_script_source())
