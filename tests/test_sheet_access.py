"""Which spreadsheet a signed request may write (webhook/sheet_access.py)."""

from __future__ import annotations

import pytest
from bess_duos.webhook.auth import Signer
from bess_duos.webhook.sheet_access import SpreadsheetNotAllowed, spreadsheet_to_write

MASTER = Signer()
SHEET_A = Signer("sheet-A")


def test_a_sheet_key_writes_its_own_sheet_and_no_other() -> None:
    assert spreadsheet_to_write("sheet-A", SHEET_A, None) == "sheet-A"
    assert spreadsheet_to_write(None, SHEET_A, None) == "sheet-A"  # never the local workbook
    with pytest.raises(SpreadsheetNotAllowed, match="another spreadsheet's key"):
        spreadsheet_to_write("sheet-B", SHEET_A, frozenset({"sheet-B"}))


def test_the_master_key_writes_the_workbook_or_allowlisted_sheets_only() -> None:
    assert spreadsheet_to_write(None, MASTER, None) is None
    assert spreadsheet_to_write("sheet-B", MASTER, frozenset({"sheet-B"})) == "sheet-B"
    with pytest.raises(SpreadsheetNotAllowed, match="ALLOWLIST"):
        spreadsheet_to_write("sheet-B", MASTER, None)
    with pytest.raises(SpreadsheetNotAllowed, match="sheet-key"):
        spreadsheet_to_write("sheet-C", MASTER, frozenset({"sheet-B"}))


def test_development_without_a_secret_uses_the_allowlist_when_set() -> None:
    assert spreadsheet_to_write("any", None, None) == "any"
    with pytest.raises(SpreadsheetNotAllowed):
        spreadsheet_to_write("any", None, frozenset({"other"}))
