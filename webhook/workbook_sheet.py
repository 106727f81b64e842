"""`WorkbookSheet`: the BESS sheet as a local .xlsx (openpyxl); the default without Google keys.

The workbook is created when missing, laid out and decorated (labels, number formats, notes,
input validation) by the same layout table as the Google sheet. Writes happen under a file lock
(`<file>.lock`, shared with other processes) and are atomic: the workbook is saved to a
temporary file in the same folder, flushed to disk, then moved over the old one with
`os.replace`, so a crash mid-write leaves the old file intact. The newest request order written
is kept in a hidden tab (`_bess_duos`) of the same file, so the ordering rule holds across
processes too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import openpyxl
from bess_duos.webhook.layout import SheetLayout, parse_range
from bess_duos.webhook.sheets import GuardedSheet, RequestOrder, SheetError, sheet_lock
from filelock import FileLock, Timeout
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

_UMASK = os.umask(0)  # read once at import (setting it back at once): new files honour it
os.umask(_UMASK)

DEFAULT_TAB = "BESS"
STATE_TAB = "_bess_duos"
TEXT_FORMAT = "@"
_EXACT_INT_LIMIT = 2**53

def display_text(value: object, number_format: str = "General") -> str:
    """A cell value as a displayed string, for reading inputs.

    Whole numbers an IEEE double holds exactly are shown in full; larger ones (a typed 21-digit
    MPAN, already rounded) are shown as Sheets shows them (`1.23457E+20`) so they are never taken
    for exact digits. Percent-formatted cells show `30%`.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        number = float(value)
        if "%" in number_format:
            return f"{number * 100:.10g}%"
        if isinstance(value, int) and abs(value) < _EXACT_INT_LIMIT:
            return str(value)
        if number.is_integer() and abs(number) < _EXACT_INT_LIMIT:
            return str(int(number))
        if abs(number) >= _EXACT_INT_LIMIT:
            mantissa, exponent = f"{number:.5E}".split("E")
            return f"{mantissa.rstrip('0').rstrip('.')}E{exponent[0]}{int(exponent[1:]):02d}"
        return f"{number:.15g}"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


class WorkbookSheet(GuardedSheet):
    """One tab of a local .xlsx (the first tab when `worksheet` is None)."""

    def __init__(
        self,
        path: str | Path,
        worksheet: str | None = None,
        *,
        layout: SheetLayout | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        super().__init__(layout)
        self.path = Path(path)
        if self.path.suffix.lower() != ".xlsx":
            raise ValueError(f"workbook {self.path}: give a path ending in .xlsx")
        self.worksheet = worksheet
        self.lock_timeout = lock_timeout
        self._workbook: Workbook | None = None

    @property
    def sheet_key(self) -> str:
        return f"xlsx:{self.path.resolve()}/{self.worksheet or ''}"

    @property
    def lock_path(self) -> Path:
        """The lock file beside the workbook (other processes use the same one)."""
        return self.path.with_name(self.path.name + ".lock")

    def file_lock(self, timeout: float | None = None) -> FileLock:
        """The cross-process lock taken around every write."""
        return FileLock(
            str(self.lock_path), timeout=self.lock_timeout if timeout is None else timeout
        )

    def ensure_exists(self) -> None:
        """Create the labelled workbook if the file is missing."""
        if not self.path.exists():
            with sheet_lock(self.sheet_key), self._exclusive():
                pass

    def read_inputs(self) -> dict[str, str]:
        """The input cells as displayed strings (creates the workbook if missing)."""
        self.ensure_exists()
        workbook = self._load()
        sheet = self._tab(workbook)
        values = [
            display_text(sheet[a1].value, sheet[a1].number_format)
            for a1 in self.layout.input_ranges()
        ]
        return self.layout.inputs_from_values(values)

    def read_range(self, a1: str) -> list[list[object]]:
        """The stored values of a range, row by row (None when empty); for tests and the CLI."""
        self.ensure_exists()
        sheet = self._tab(self._load())
        (r0, c0), (r1, c1) = parse_range(a1)
        return [
            [sheet.cell(row=r, column=c).value for c in range(c0, c1 + 1)]
            for r in range(r0, r1 + 1)
        ]

    # --- the guard's hooks ---

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the file lock and the loaded (or newly created) workbook while writing."""
        lock = self.file_lock()
        try:
            lock.acquire()
        except Timeout as exc:
            raise SheetError(
                f"workbook {self.path} is locked by another writer ({self.lock_path}) for more "
                f"than {self.lock_timeout:g} s; try again, or delete a stale lock file",
                public=f"the workbook {self.path.name} is busy; try again",
            ) from exc
        except OSError as exc:  # e.g. a folder the user cannot write in
            raise SheetError(
                f"cannot write workbook {self.path}: {exc.strerror or exc}"
                f"{f' ({exc.filename})' if exc.filename else ''}; give a path in a folder you "
                "can write to (CLI: --sheet PATH.xlsx)",
                public=f"the workbook {self.path.name} cannot be written on the server",
            ) from exc
        try:
            self._workbook = self._load() if self.path.exists() else self._new_workbook()
            if not self.path.exists():
                self._save(self._workbook)
            try:
                yield
            finally:
                self._workbook = None
        finally:
            lock.release()

    def _newest_written(self) -> RequestOrder | None:
        stored = self._stored_order()
        newest = super()._newest_written()
        candidates = [o for o in (stored, newest) if o is not None]
        return max(candidates) if candidates else None

    def _put_blocks(self, blocks: list[dict[str, Any]], order: RequestOrder | None) -> int:
        workbook = self._workbook
        assert workbook is not None, "_put_blocks runs inside _exclusive()"
        sheet = self._tab(workbook)
        formats = self.layout.presentation.cell_formats()
        for block in blocks:
            (row0, col0), _ = parse_range(block["range"])
            for i, row in enumerate(block["values"]):
                for j, value in enumerate(row):
                    _set_cell(sheet, row0 + i, col0 + j, value, formats)
        if order is not None:
            state = self._state_tab(workbook)
            state["A1"] = "newest request order written (bess-duos; do not edit)"
            state["B1"] = json.dumps(order.as_dict())
        self._save(workbook)
        return 1

    # --- file handling ---

    def _load(self) -> Workbook:
        try:
            return openpyxl.load_workbook(self.path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise SheetError(
                f"cannot open workbook {self.path}: {exc}; it must be an .xlsx workbook: give "
                "another --sheet path (a new file is created) or move this file away",
                public=f"the workbook {self.path.name} on the server is not a usable .xlsx",
            ) from exc

    def _tab(self, workbook: Workbook) -> Worksheet:
        if self.worksheet is None:
            return workbook.worksheets[0]
        if self.worksheet not in workbook.sheetnames:
            tabs = [n for n in workbook.sheetnames if n != STATE_TAB]
            raise SheetError(
                f"workbook {self.path} has no tab {self.worksheet!r} (tabs: {tabs})",
                public=f"the workbook has no tab {self.worksheet!r} (tabs: {tabs})",
                field="worksheet",
            )
        return workbook[self.worksheet]

    def _stored_order(self) -> RequestOrder | None:
        workbook = self._workbook
        if workbook is None or STATE_TAB not in workbook.sheetnames:
            return None
        raw = workbook[STATE_TAB]["B1"].value
        try:
            return RequestOrder.from_dict(json.loads(raw)).bounded() if raw else None
        except (ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _state_tab(workbook: Workbook) -> Worksheet:
        if STATE_TAB in workbook.sheetnames:
            return workbook[STATE_TAB]
        sheet = workbook.create_sheet(STATE_TAB)
        sheet.sheet_state = "hidden"
        return sheet

    def _new_workbook(self) -> Workbook:
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = self.worksheet or DEFAULT_TAB
        decorate(sheet, self.layout)
        return workbook

    def _save(self, workbook: Workbook) -> None:
        """Save to a temp file in the same folder, fsync, then `os.replace` over the workbook."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(fd)
        try:
            # mkstemp makes it 0600: give it the workbook's own mode, or a new file's usual one
            mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o666 & ~_UMASK
            os.chmod(tmp_name, mode)
            workbook.save(tmp_name)
            with open(tmp_name, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise


def decorate(sheet: Worksheet, layout: SheetLayout) -> None:
    """The layout's labels (bold), number formats, notes, input validation and column widths.

    Input cells are formatted as text (so a typed MPAN stays text) unless the layout says
    otherwise; notes become cell comments; validation shows its help text and refuses others.
    """
    look = layout.presentation
    for a1, label in look.labels.items():
        sheet[a1] = label
        sheet[a1].font = Font(bold=True, size=14 if a1 == "A1" else 11)
    formats = look.cell_formats()
    for a1 in layout.inputs.values():
        sheet[a1].number_format = formats.get(a1, TEXT_FORMAT)
    for a1, fmt in formats.items():
        sheet[a1].number_format = fmt
    for a1, text in look.notes.items():
        sheet[a1].comment = Comment(text, "bess-duos", width=320, height=110)
    for a1, rule in look.validation.items():
        if "list" in rule:
            items = ",".join(str(v) for v in rule["list"])
            check = DataValidation(type="list", formula1=f'"{items}"', allow_blank=True)
        else:
            low, high = rule["between"]
            check = DataValidation(type="decimal", operator="between", formula1=str(low),
                                   formula2=str(high), allow_blank=True)
        check.promptTitle = "bess-duos"
        check.prompt = str(rule.get("help", ""))
        check.error = str(rule.get("help", ""))
        check.showInputMessage = check.showErrorMessage = True
        check.add(a1)
        sheet.add_data_validation(check)
    for letter, width in look.widths.items():
        sheet.column_dimensions[letter].width = float(width)


def _set_cell(
    sheet: Worksheet, row: int, col: int, value: object, formats: Mapping[str, str]
) -> None:
    """Strings as text (never a formula); numbers as numbers, in the layout's format."""
    cell = sheet.cell(row=row, column=col)
    if value == "" or value is None:
        cell.value = None
        return
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"  # never a formula, even when it starts with "="
        cell.number_format = TEXT_FORMAT
        return
    cell.value = value
    fmt = formats.get(cell.coordinate, "General")
    cell.number_format = "General" if fmt == TEXT_FORMAT else fmt
