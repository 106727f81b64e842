"""Opens a sheet back end: a Google spreadsheet by ID, else the local workbook.

The one module that imports both back ends (they import `webhook.sheets`, never each other).
"""

from __future__ import annotations

from pathlib import Path

from bess_duos.webhook.layout import SheetLayout
from bess_duos.webhook.sheets import SheetBackend

DEFAULT_WORKBOOK = "bess_sheet.xlsx"


def open_sheet(
    spreadsheet_id: str | None = None,
    worksheet: str | None = None,
    workbook: str | Path | None = None,
    layout: SheetLayout | None = None,
) -> SheetBackend:
    """A Google spreadsheet when an ID is given, else the local workbook (`bess_sheet.xlsx`)."""
    if spreadsheet_id:
        from bess_duos.webhook.google_sheet import GoogleSheet

        return GoogleSheet(spreadsheet_id, worksheet=worksheet, layout=layout)
    from bess_duos.webhook.workbook_sheet import WorkbookSheet

    return WorkbookSheet(Path(workbook or DEFAULT_WORKBOOK), worksheet=worksheet, layout=layout)
