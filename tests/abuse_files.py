"""The hostile profile files of issue 13 (item 2), built in memory in well under a second each.

Shared by tests/test_hardening_profiles.py and benchmarks/abuse.py.
"""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
    b'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def wide_csv(columns: int) -> bytes:
    """A header of `columns` columns and one row of numbers (the 1 M / 2.9 M column files)."""
    header = b"timestamp,kwh," + b",".join(b"c%d" % i for i in range(columns - 2))
    row = b"2026-01-01T00:00:00Z,1," + b",".join([b"1"] * (columns - 2))
    return header + b"\n" + row + b"\n"


def xlsx_from_rows(sheet_data: bytes) -> bytes:
    """A minimal valid XLSX package whose one worksheet holds `sheet_data` (`<row>` elements)."""
    sheet = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b"<sheetData>" + sheet_data + b"</sheetData></worksheet>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def million_row_xlsx(rows: int = 1_000_000) -> bytes:
    """An XLSX of a header and `rows` rows of two numbers (the 7.7 MB, million-row file)."""
    header = (b'<row r="1"><c r="A1" t="inlineStr"><is><t>timestamp</t></is></c>'
              b'<c r="B1" t="inlineStr"><is><t>kwh</t></is></c></row>')
    body = b"".join(b'<row r="%d"><c r="A%d"><v>46000</v></c><c r="B%d"><v>1</v></c></row>'
                    % (i, i, i) for i in range(2, rows + 2))
    return xlsx_from_rows(header + body)


def far_cell_xlsx() -> bytes:
    """Two cells: a header, and one at XFD1048576 (openpyxl would fill the grid between)."""
    return xlsx_from_rows(b'<row r="1"><c r="A1" t="inlineStr"><is><t>kwh</t></is></c></row>'
                          b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
