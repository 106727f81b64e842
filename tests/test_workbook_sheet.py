"""WorkbookSheet: the local .xlsx back end (layout, text MPANs, atomic save, lock, ordering)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from bess_duos.webhook import workbook_sheet
from bess_duos.webhook.layout import load_layout
from bess_duos.webhook.sheet_factory import open_sheet
from bess_duos.webhook.sheets import (
    RequestOrder,
    SheetBackend,
    SheetError,
    reset_ordering_state,
)
from bess_duos.webhook.workbook_sheet import STATE_TAB, WorkbookSheet, display_text

from tests.test_google_sheet import (
    assert_only_status_row_changed,
    expected_outputs,
    result_fields,
    write_concurrently,
)

LAYOUT = load_layout()
OUTPUT_CELLS = [a1 for block in LAYOUT.outputs for a1, field in block.cells if field]


@pytest.fixture(autouse=True)
def _isolated() -> None:
    reset_ordering_state()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "bess_sheet.xlsx"


def outputs(path: Path) -> dict[str, object]:
    sheet = openpyxl.load_workbook(path)["BESS"]
    return {a1: sheet[a1].value for a1 in OUTPUT_CELLS}


def test_missing_workbook_is_created_with_labels(path: Path) -> None:
    sheet = WorkbookSheet(path)
    assert isinstance(sheet, SheetBackend)
    assert sheet.read_inputs() == dict.fromkeys(LAYOUT.inputs, "")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["BESS"]
    tab = book["BESS"]
    assert [tab[c].value for c in ("A5", "B5", "A8", "B14", "C14", "B16")] == [
        "Postcode",
        "MPAN (format as plain text)",
        "Voltage (LV, LV Sub, HV, EHV)",
        "Profile link (half-hourly kWh)",
        "Agreed capacity (kVA)",
        "Flexible share",
    ]
    assert tab["B6"].number_format == "@"  # a typed MPAN stays text
    assert all(tab[a1].value is None for a1 in OUTPUT_CELLS)


def test_write_puts_every_block_where_the_layout_says(path: Path) -> None:
    sheet = WorkbookSheet(path)
    fields = result_fields(9)
    fields["load_factor"] = None
    report = sheet.write(fields)
    assert report.written and report.ranges == LAYOUT.output_ranges
    cells = outputs(path)
    expected = expected_outputs(9)
    expected["G15"] = None
    assert cells == expected
    assert isinstance(cells["B9"], float) and cells["C6"] == "09"
    assert sheet.read_range("B9:D9") == [[9.25, 9.5, 9.75]]


def test_write_status_changes_only_the_status_block(path: Path) -> None:
    sheet = WorkbookSheet(path)
    sheet.write(result_fields(1))
    before = outputs(path)
    report = sheet.write_status("error", "no tariff bundled for area 14", "req-2")
    assert report.ranges == ("A4:H4",)
    assert_only_status_row_changed(
        before, outputs(path), ["error", "no tariff bundled for area 14", "req-2"]
    )


def test_mpan_stays_text(path: Path) -> None:
    sheet = WorkbookSheet(path)
    sheet.write_inputs({"mpan": "1405566778899", "postcode": "B1 1AA", "flex_fraction": "30%"})
    cell = openpyxl.load_workbook(path)["BESS"]["B6"]
    assert (cell.value, cell.data_type, cell.number_format) == ("1405566778899", "s", "@")
    assert sheet.read_inputs()["mpan"] == "1405566778899"


def test_numbers_typed_into_input_cells_read_as_exact_or_rounded_text(path: Path) -> None:
    sheet = WorkbookSheet(path)
    sheet.ensure_exists()
    book = openpyxl.load_workbook(path)
    tab = book["BESS"]
    tab["B6"] = 1405566778899  # a 13-digit core typed as a number: exact in a double
    tab["B6"].number_format = "General"
    tab["C15"] = 500
    tab["C16"] = 0.3
    tab["C16"].number_format = "0%"
    book.save(path)
    assert sheet.read_inputs() == {
        "postcode": "",
        "mpan": "1405566778899",
        "voltage": "",
        "profile_url": "",
        "kva": "500",
        "flex_fraction": "30%",
    }


@pytest.mark.parametrize(
    ("value", "number_format", "shown"),
    [
        (100800999932140556677, "General", "1.00801E+20"),  # rounded 21 digits: never exact
        (1.0080099993214056e20, "General", "1.00801E+20"),
        (1405566778899.0, "General", "1405566778899"),
        (0.125, "0.0%", "12.5%"),
        (2.5, "General", "2.5"),
        (True, "General", "TRUE"),
        (None, "General", ""),
    ],
)
def test_display_text(value: object, number_format: str, shown: str) -> None:
    assert display_text(value, number_format) == shown


def test_a_crash_mid_save_leaves_the_old_file_intact(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = WorkbookSheet(path)
    sheet.write(result_fields(1))
    old_bytes = path.read_bytes()

    def crashing_save(self: openpyxl.Workbook, filename: str) -> None:
        Path(filename).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        sheet.write(result_fields(2))
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]
    assert outputs(path) == expected_outputs(1)
    # the failed request was never recorded as written: a later one at the same time still wins
    assert sheet.write(result_fields(3)).written


def test_writers_wait_for_the_file_lock(path: Path) -> None:
    sheet = WorkbookSheet(path)
    sheet.ensure_exists()
    held = sheet.file_lock()
    held.acquire()
    try:
        with pytest.raises(SheetError, match="is locked by another writer"):
            WorkbookSheet(path, lock_timeout=0.1).write(result_fields(1))
        done = threading.Event()
        waiter = threading.Thread(
            target=lambda: (WorkbookSheet(path).write(result_fields(2)), done.set())
        )
        waiter.start()
        time.sleep(0.3)
        assert not done.is_set()  # blocked while another writer holds the lock
    finally:
        held.release()
    waiter.join(10)
    assert done.is_set()
    assert outputs(path)["H4"] == "req-2"


def test_ordering_survives_another_process(path: Path) -> None:
    older = RequestOrder.arrived(1_764_079_200)
    newer = RequestOrder.arrived(1_764_079_201)
    assert WorkbookSheet(path).write(result_fields(2), order=newer).written
    reset_ordering_state()  # as if the older request reached another worker process
    late = WorkbookSheet(path).write(result_fields(1), order=older)
    assert not late.written and "newer request" in (late.dropped_reason or "")
    assert outputs(path) == expected_outputs(2)
    book = openpyxl.load_workbook(path)
    assert book[STATE_TAB].sheet_state == "hidden"


def test_a_stored_order_from_the_future_is_bounded_by_the_clock_after_a_restart(
    path: Path
) -> None:
    """A workbook whose stored order lies ahead (a clock that jumped, or an older server that
    took a request's X-Timestamp as it came) no longer holds the sheet after a restart."""
    assert WorkbookSheet(path).write(result_fields(1)).written
    book = openpyxl.load_workbook(path)
    ahead = RequestOrder(time.time() + 300, time.time_ns() + 300 * 10**9)
    book[STATE_TAB]["B1"] = json.dumps(ahead.as_dict())
    book.save(path)
    reset_ordering_state()  # a restarted server
    signed_now = RequestOrder.arrived(int(time.time()))
    assert WorkbookSheet(path).write(result_fields(2), order=signed_now).written
    assert outputs(path) == expected_outputs(2)


def test_concurrent_writes_leave_the_newest_request_whole(path: Path) -> None:
    n = 24
    orders = [RequestOrder.arrived(1_764_079_000 + i // 4) for i in range(n)]
    reports = write_concurrently(lambda: WorkbookSheet(path), orders, seed=3)
    assert len(reports) == n
    assert outputs(path) == expected_outputs(n - 1)


def test_unknown_tab_and_bad_path_are_clear_errors(path: Path) -> None:
    WorkbookSheet(path).ensure_exists()
    with pytest.raises(SheetError, match=r"has no tab 'Inputs' \(tabs: \['BESS'\]\)"):
        WorkbookSheet(path, "Inputs").read_inputs()
    with pytest.raises(ValueError, match=r"ending in \.xlsx"):
        WorkbookSheet(path.with_suffix(".csv"))


def test_open_sheet_defaults_to_the_workbook(path: Path) -> None:
    sheet = open_sheet(workbook=path)
    assert isinstance(sheet, WorkbookSheet) and sheet.path == path


def test_a_file_that_is_not_a_workbook_is_a_clear_error(path: Path) -> None:
    path.write_text("not a workbook")
    with pytest.raises(SheetError, match=r"cannot open workbook .*it must be an \.xlsx workbook"):
        WorkbookSheet(path).write(result_fields(3))
    assert path.read_text() == "not a workbook"


def test_saved_workbook_keeps_normal_file_permissions(path: Path) -> None:
    """The atomic save goes through a 0600 temp file: the result gets the usual mode back."""
    WorkbookSheet(path).write(result_fields(3))
    assert path.stat().st_mode & 0o777 == 0o666 & ~workbook_sheet._UMASK
    path.chmod(0o664)
    WorkbookSheet(path).write(result_fields(4))
    assert path.stat().st_mode & 0o777 == 0o664


def test_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(SheetError, match=r"cannot write workbook .*give a path in a folder you"):
        WorkbookSheet(blocker / "bess_sheet.xlsx").write(result_fields(3))
