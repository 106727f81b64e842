"""Profile files as tables: bytes (CSV, XLSX or Parquet) -> a pandas frame, under limits.

Every limit is checked on the raw bytes before pandas, openpyxl or pyarrow sees the file, with
cheap linear scans (a CSV's lines and delimiters counted in C, an XLSX's worksheet XML counted
as it is decompressed, a Parquet file's footer), then again on the parsed frame. So the work
and memory of a parse are bounded by the limits, not by what a file claims or contains: a
CSV header of a million columns or an XLSX of a million rows is refused in milliseconds.
Each refusal is a `ProfileLimitError` naming the limit and the file's figure.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from bess_duos.core.profile_errors import ProfileError, ProfileLimitError

if TYPE_CHECKING:
    import pyarrow as pa

MB = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
SUPPORTED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".parquet", ".pq")
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls
_SCAN_CHUNK = 4 * MB
# Arrow's default. Measured on 2 shared cores, with 2 processes reading at once too: threaded
# ~2x the reads/s of one thread (Arrow's pool does not spin, unlike BLAS's).
ARROW_THREADS = True


@dataclass(frozen=True)
class TableLimits:
    """How big a profile file may be. The defaults fit three years of 15-minute readings as
    CSV, and a year and a half of half hours as XLSX (whose parser takes ~12 µs a cell, so
    60,000 cells take under a second)."""

    max_bytes: int = 200 * MB
    max_rows: int = 120_000
    max_columns: int = 120
    max_cells: int = 2_500_000
    max_line_bytes: int = 16 * 1024
    max_xlsx_cells: int = 60_000
    max_unzipped_bytes: int = 24 * MB  # XLSX members decompressed; Parquet data uncompressed


DEFAULT_LIMITS = TableLimits()


def table_kind(content: bytes, name: str = "") -> str:
    """'csv', 'xlsx' or 'parquet', by the file's first bytes (the name only breaks no tie)."""
    if content.startswith(_ZIP_MAGIC):
        return "xlsx"
    if content.startswith(_PARQUET_MAGIC):
        return "parquet"
    if content.startswith(_OLE_MAGIC):
        raise ProfileError(
            f"profile file {name!r} is an old binary Excel file (.xls): save it as .xlsx or CSV"
        )
    if name.lower().endswith((".xlsx", ".xlsm", ".parquet", ".pq")):
        kind = "parquet" if name.lower().endswith((".parquet", ".pq")) else "xlsx"
        raise ProfileError(
            f"profile file {name!r} could not be read as {kind}: its content is not a {kind} "
            "file; export it again, or give it as CSV"
        )
    return "csv"


def read_table_bytes(
    content: bytes, *, name: str = "profile", limits: TableLimits = DEFAULT_LIMITS
) -> pd.DataFrame:
    """Parse a profile file's bytes into a frame (string column names, stripped), or raise
    `ProfileError` (`ProfileLimitError` for a file over a limit) naming the file."""
    if not content:
        raise ProfileError(f"profile file {name!r} is empty (0 bytes)")
    if len(content) > limits.max_bytes:
        raise ProfileLimitError(
            "bytes", len(content), limits.max_bytes,
            "split the file (a site-year of half hours is under 1 MB as CSV)", source=name)
    kind = table_kind(content, name)
    try:
        if kind == "csv":
            frame = _read_csv(content, limits)
        elif kind == "xlsx":
            frame = _read_xlsx(content, limits)
        else:
            frame = _read_parquet(content, limits)
    except ProfileError as exc:
        raise _named(exc, name) from None
    except pd.errors.EmptyDataError:
        raise ProfileError(f"profile file {name!r} has no header or rows") from None
    except Exception as exc:  # parser, zip and arrow errors all mean "not a readable table"
        raise ProfileError(
            f"profile file {name!r} could not be read as {kind}: {exc}") from None
    _check_frame(frame, limits, name)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ProfileError(
            f"profile file {name!r} has no data rows (columns: {list(frame.columns)})")
    return frame


def _named(exc: ProfileError, name: str) -> ProfileError:
    """The same refusal, naming the file."""
    if isinstance(exc, ProfileLimitError):
        return exc.named(name)
    return ProfileError(f"profile file {name!r}: {exc}", retry_with=exc.retry_with)


def _check_frame(frame: pd.DataFrame, limits: TableLimits, name: str) -> None:
    """The parsed frame within the limits (the scans are bounds; this is the figure)."""
    rows, columns = frame.shape
    for what, figure, limit in (("rows", rows, limits.max_rows),
                                ("columns", columns, limits.max_columns),
                                ("cells", rows * columns, limits.max_cells)):
        if figure > limit:
            raise ProfileLimitError(what, figure, limit, source=name)


# ---------------------------------------------------------------- CSV


def _lines(content: bytes) -> tuple[int, int]:
    """(number of lines, longest line in bytes), scanned in chunks without copying lines.
    Lines end at \n, or at \r in a file with no \n (old Mac line ends, which pandas reads)."""
    view = np.frombuffer(content, np.uint8)
    end = 10 if content.find(b"\n") >= 0 else 13
    longest, start, count = 0, 0, 0
    for offset in range(0, view.size, _SCAN_CHUNK):
        ends = np.flatnonzero(view[offset:offset + _SCAN_CHUNK] == end) + offset
        if ends.size:
            starts = np.concatenate([[start], ends[:-1] + 1])
            longest = max(longest, int((ends - starts).max()))
            start = int(ends[-1]) + 1
            count += int(ends.size)
    if start < view.size:  # a last line without a newline
        longest = max(longest, view.size - start)
        count += 1
    return count, longest


def _short_lines(content: bytes, max_line: int) -> int | None:
    """The number of lines (as `_lines` counts them) of a file of up to one scan chunk whose
    every block of max_line // 2 bytes holds a line end: no line of it can then be longer than
    `max_line` bytes, without finding where each line ends. Else None (`_lines` decides)."""
    block = max_line // 2
    if len(content) > _SCAN_CHUNK or block < 1:
        return None
    end = 10 if content.find(b"\n") >= 0 else 13
    is_end = np.frombuffer(content, np.uint8) == end
    whole = is_end.size // block * block
    if not is_end[:whole].reshape(-1, block).any(axis=1).all():
        return None
    return int(np.count_nonzero(is_end)) + (content[-1] != end)


def _read_csv(content: bytes, limits: TableLimits) -> pd.DataFrame:
    delimiter = _checked_delimiter(content, limits)
    return pd.read_csv(io.BytesIO(content), sep=delimiter, skipinitialspace=True)


def _header(content: bytes, limits: TableLimits) -> tuple[bytes, str]:
    """(the CSV's first line, its delimiter: the commonest of DELIMITERS in it)."""
    header_end = content.find(b"\n")
    if header_end < 0:
        header_end = content.find(b"\r")
    header = content if header_end < 0 else content[:header_end]
    sample = header[: limits.max_line_bytes].decode("utf-8", errors="replace")
    return header, max(DELIMITERS, key=sample.count)


def _checked_delimiter(content: bytes, limits: TableLimits) -> str:
    """The CSV's delimiter (the commonest of DELIMITERS in the header), once the bytes are
    within the limits; else `ProfileLimitError`."""
    header, delimiter = _header(content, limits)
    columns = header.count(delimiter.encode()) + 1
    if columns > limits.max_columns:
        raise ProfileLimitError("columns", columns, limits.max_columns,
                                "a profile needs a timestamp and kWh, or a date and 48 half hours")
    lines = _short_lines(content, limits.max_line_bytes)
    if lines is None:
        lines, longest = _lines(content)
        if longest > limits.max_line_bytes:
            raise ProfileLimitError("bytes in one line", longest, limits.max_line_bytes)
    if lines - 1 > limits.max_rows:
        raise ProfileLimitError("rows", lines - 1, limits.max_rows)
    # Delimiters and line ends are distinct bytes, so a file of no more bytes than the limit
    # cannot be over it: count only a larger one.
    if len(content) + 1 > limits.max_cells:
        cells = content.count(delimiter.encode()) + lines
        if cells > limits.max_cells:
            raise ProfileLimitError("cells", cells, limits.max_cells)
    return delimiter


def read_csv_arrow(
    content: bytes, *, name: str = "profile", limits: TableLimits = DEFAULT_LIMITS
) -> pa.Table | None:
    """A CSV's bytes parsed by Arrow into typed columns (ISO 8601 times with an offset as UTC
    timestamps), under the same limits, when Arrow reads it as cleanly as pandas would; else
    None (not CSV, over a limit, ragged rows, column names blank, repeated or padded, ...), and the
    caller reads it with `read_table_bytes`, which words any refusal."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        if not content or len(content) > limits.max_bytes or table_kind(content, name) != "csv":
            return None
        delimiter = _checked_delimiter(content, limits)
        table = pcsv.read_csv(
            pa.py_buffer(content),
            read_options=pcsv.ReadOptions(use_threads=ARROW_THREADS),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
        )
        names = table.column_names  # decoded here: bytes that are not UTF-8 raise
    except Exception:  # any refusal (limits, Arrow, UTF-8) is worded by the general path
        return None
    rows, columns = table.shape
    if (rows == 0 or len(set(names)) < len(names) or any(n != n.strip() or not n for n in names)
            or rows > limits.max_rows or columns > limits.max_columns
            or rows * columns > limits.max_cells):
        return None  # pandas would rename (or strip) such columns; the limits are worded there
    return table


def csv_first_text(content: bytes, names: list[str], column: str, *, lines: int = 8
                   ) -> str | None:
    """The first non-null value of `column` (one of the CSV's column `names`), as written, from
    the CSV's first `lines` lines; None when there is none there or Arrow cannot read them."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    delimiter = _header(content, DEFAULT_LIMITS)[1]
    start = content.find(b"\n") + 1
    stop = content.find(b"\n", start) if start else 0
    line = content[start:stop] if stop >= 0 else content[start:]
    fields = line.rstrip(b"\r").decode("utf-8", errors="replace").split(delimiter)
    if b'"' not in line and len(fields) == len(names):  # the usual plain second line
        value = fields[names.index(column)]
        if value not in pcsv.ConvertOptions().null_values:
            return value
    end = -1
    for _ in range(lines):
        end = content.find(b"\n", end + 1)
        if end < 0:
            break
    head = content if end < 0 else content[:end + 1]
    try:
        text = pcsv.read_csv(
            pa.py_buffer(head),
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(include_columns=[column], strings_can_be_null=True,
                                                column_types={column: pa.string()}),
        ).column(0).drop_null()
    except (pa.ArrowException, ValueError, KeyError):
        return None
    return text[0].as_py() if len(text) else None


# ---------------------------------------------------------------- XLSX

_FIRST_SHEET = re.compile(rb"<(?:\w+:)?sheet\b[^>]{0,2000}?\br:id=\"([^\"]{1,64})\"")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^>]{0,2000}>")
_ATTRIBUTE = re.compile(rb"\b(Id|Target)=\"([^\"]{0,512})\"")
_ROW_TAGS = (b"<row", b":row ", b":row>")
_CELL_TAGS = (b"<c ", b"<c>", b":c ", b":c>")
_STRING_TAGS = (b"<si>", b"<si ", b":si>", b":si ")
_SHARED_STRINGS = "xl/sharedStrings.xml"
_SMALL_PART = 1 * MB  # workbook.xml and its relationships are a few hundred bytes
_OTHER_PARTS = 4 * MB  # styles, theme, properties: a few kB in a real workbook
_MAX_PARTS = 1_000
_TAIL = 64  # bytes carried between chunks: longer than any reference pattern's match
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]{0,48}?\br=\"([A-Z]{1,3})[0-9]{1,9}\"")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\b[^>]{0,48}?\br=\"([0-9]{1,9})\"")
_XLSX_ADVICE = "an XLSX profile is limited more tightly than a CSV: save it as CSV"


def _first_sheet_path(book: zipfile.ZipFile) -> str:
    """The member holding the first worksheet (the one pandas reads), by the workbook's order."""
    fallback = "xl/worksheets/sheet1.xml"
    try:
        workbook = _read_member(book, "xl/workbook.xml", _SMALL_PART)
        rels = _read_member(book, "xl/_rels/workbook.xml.rels", _SMALL_PART)
    except KeyError:
        return fallback
    first = _FIRST_SHEET.search(workbook)
    if first is None:
        return fallback
    for tag in _RELATIONSHIP.findall(rels):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if attributes.get(b"Id") == first.group(1) and b"Target" in attributes:
            target = attributes[b"Target"].decode("utf-8", errors="replace")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return fallback


def _read_member(book: zipfile.ZipFile, member: str, cap: int) -> bytes:
    with book.open(member) as handle:
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise ProfileLimitError(f"bytes in {member}", len(data), cap, at_least=True)
    return data


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


@dataclass
class _SheetScan:
    """What a worksheet's XML holds, counted while it is decompressed as a stream."""

    rows: int = 0  # <row> elements
    cells: int = 0  # <c> elements
    cell_refs: int = 0  # cells with an r="B12" reference
    last_row: int = 0  # the largest r= of a row
    last_column: int = 0  # the largest column letter of a cell reference, as a number

    def extent(self) -> int:
        """Cells openpyxl and pandas will materialise: the grid the references span."""
        height = max(self.rows, self.last_row)
        width = max(self.last_column, self.cells - self.cell_refs, 1)
        return height * width


def _check_scan(scan: _SheetScan, limits: TableLimits, *, extent: bool = True) -> None:
    if max(scan.rows, scan.last_row) - 1 > limits.max_rows:
        raise ProfileLimitError("rows", max(scan.rows, scan.last_row) - 1, limits.max_rows,
                                at_least=True)
    if scan.cells > limits.max_xlsx_cells:
        raise ProfileLimitError("cells", scan.cells, limits.max_xlsx_cells, _XLSX_ADVICE,
                                at_least=True)
    if scan.last_column > limits.max_columns:
        raise ProfileLimitError("columns", scan.last_column, limits.max_columns, at_least=True)
    if extent and scan.extent() > limits.max_xlsx_cells:
        raise ProfileLimitError("cells (rows x columns the references span)", scan.extent(),
                                limits.max_xlsx_cells, _XLSX_ADVICE, at_least=True)


def _scan_sheet(book: zipfile.ZipFile, member: str, limits: TableLimits) -> _SheetScan:
    """Count rows, cells and the references' extent, refusing as soon as one is over."""
    scan = _SheetScan()
    tail = b""
    with book.open(member) as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            window = tail + chunk  # tags wholly in the tail were counted with the last chunk
            scan.rows += sum(window.count(t) - tail.count(t) for t in _ROW_TAGS)
            scan.cells += sum(window.count(t) - tail.count(t) for t in _CELL_TAGS)
            _check_scan(scan, limits, extent=False)  # before the patterns: bounds their work
            columns = _CELL_REF.findall(window)
            scan.cell_refs += len(columns) - len(_CELL_REF.findall(tail))
            if columns:
                scan.last_column = max(scan.last_column,
                                       _column_number(max(columns, key=lambda c: (len(c), c))))
            if rows := _ROW_REF.findall(window):
                scan.last_row = max(scan.last_row, max(int(r) for r in rows))
            _check_scan(scan, limits)
            tail = window[-_TAIL:]
    return scan


def _count_strings(book: zipfile.ZipFile, limits: TableLimits) -> None:
    count = 0
    tail = b""
    with book.open(_SHARED_STRINGS) as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            window = tail + chunk
            count += sum(window.count(t) - tail.count(t) for t in _STRING_TAGS)
            tail = window[-3:]  # shorter than any tag, so no tag lies wholly in it
            if count > limits.max_xlsx_cells:
                raise ProfileLimitError("shared strings", count, limits.max_xlsx_cells,
                                        _XLSX_ADVICE, at_least=True)


def _check_xlsx_package(book: zipfile.ZipFile, limits: TableLimits) -> None:
    """Sizes and counts of the parts openpyxl will read, before it reads any of them."""
    members = book.infolist()
    if len(members) > _MAX_PARTS:
        raise ProfileLimitError("parts in the XLSX package", len(members), _MAX_PARTS)
    sheet = _first_sheet_path(book)
    sizes = {m.filename: m.file_size for m in members}  # zipfile never inflates past these
    if sheet not in sizes:
        raise ProfileError("the XLSX file has no worksheet")
    for member in (sheet, _SHARED_STRINGS):
        if sizes.get(member, 0) > limits.max_unzipped_bytes:
            raise ProfileLimitError(f"bytes in {member} unzipped", sizes[member],
                                    limits.max_unzipped_bytes, _XLSX_ADVICE)
    others = sum(size for name, size in sizes.items()
                 if name not in (sheet, _SHARED_STRINGS) and not name.startswith("xl/worksheets/"))
    if others > _OTHER_PARTS:
        raise ProfileLimitError("bytes in the XLSX styles and other parts", others, _OTHER_PARTS)
    _scan_sheet(book, sheet, limits)
    if _SHARED_STRINGS in sizes:
        _count_strings(book, limits)


def _read_xlsx(content: bytes, limits: TableLimits) -> pd.DataFrame:
    """The first worksheet, once the package is checked (openpyxl fills the grid the cell
    references span with blanks, so a lone far-away cell would be millions of cells)."""
    try:
        book = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise ProfileError(f"not a readable XLSX file ({exc})") from None
    with book:
        _check_xlsx_package(book, limits)
    return pd.read_excel(io.BytesIO(content), sheet_name=0)


# ---------------------------------------------------------------- Parquet


def _read_parquet(content: bytes, limits: TableLimits) -> pd.DataFrame:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(io.BytesIO(content))
    meta = parquet.metadata
    if meta.num_columns > limits.max_columns:
        raise ProfileLimitError("columns", meta.num_columns, limits.max_columns)
    if meta.num_rows > limits.max_rows:
        raise ProfileLimitError("rows", meta.num_rows, limits.max_rows)
    if meta.num_rows * meta.num_columns > limits.max_cells:
        raise ProfileLimitError("cells", meta.num_rows * meta.num_columns, limits.max_cells)
    unzipped = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unzipped > limits.max_unzipped_bytes:
        raise ProfileLimitError("bytes uncompressed", unzipped, limits.max_unzipped_bytes)
    return parquet.read().to_pandas()
