"""GoogleSheet through gspread's real HTTP path against the local Sheets API test server."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gspread
import pytest
from bess_duos.webhook import google_sheet
from bess_duos.webhook.google_sheet import SCOPES, GoogleSheet
from bess_duos.webhook.layout import load_layout
from bess_duos.webhook.sheet_factory import open_sheet
from bess_duos.webhook.sheets import (
    RequestOrder,
    SheetBackend,
    SheetError,
    reset_ordering_state,
)

from tests.loopback import gspread_client
from tests.sheets_server import Fault, SheetsServer

SID = "1AbC-bess_sheet_test"
TAB = "BESS"
LAYOUT = load_layout()
OUTPUT_CELLS = [a1 for block in LAYOUT.outputs for a1, field in block.cells if field]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BESS_DUOS_SPREADSHEET_ALLOWLIST", "BESS_DUOS_SHEETS_API_URL"):
        monkeypatch.delenv(name, raising=False)
    reset_ordering_state()


@pytest.fixture
def server():
    with SheetsServer() as srv:
        srv.add_spreadsheet(
            SID,
            tabs={
                TAB: {"A6": "SW1A 1AA", "B6": "1405566778899", "C15": "500", "C16": "30%"},
                "Notes": {},
            },
        )
        yield srv


@pytest.fixture
def client(server: SheetsServer, tmp_path: Path) -> gspread.Client:
    return gspread_client(server, tmp_path, (2.0, 2.0))


def result_fields(n: int) -> dict[str, object]:
    """A full result whose every value encodes `n`, so a mixed sheet is detectable."""
    fields: dict[str, object] = {
        "status": "ok",
        "message": f"lookup {n}",
        "request_id": f"req-{n}",
        "time": f"2026-11-25T14:{n % 60:02d}:00Z",
        "distributor_id": f"{n:02d}",
        "dno_name": f"DNO {n}",
        "short_code": f"SC-{n}",
        "mpid": f"M{n}",
        "gsp_group_id": f"_{n}",
        "gsp_group_name": f"Group {n}",
        "red_rate_p_per_kwh": n + 0.25,
        "amber_rate_p_per_kwh": n + 0.5,
        "green_rate_p_per_kwh": n + 0.75,
        "annual_duos_gbp": n * 100.0,
        "peak_ratio": n + 0.1,
        "load_factor": n + 0.2,
        "weekend_factor": n + 0.3,
        "flex_value_gbp_per_year": n * 10,
        "flex_saving_pct": n + 0.4,
        "tariff_name": f"Tariff {n}",
        "charging_year": f"20{n % 100:02d}/xx",
        "assumptions": f"LV assumed {n}",
        "tariff_source": f"workbook {n} / sheet / row {n}",
        "fixed_p_per_day": n + 0.01,
        "capacity_p_per_kva_per_day": n + 0.02,
        "exceeded_capacity_p_per_kva_per_day": n + 0.03,
        "reactive_p_per_kvarh": n + 0.04,
    }
    for i in range(1, 5):
        for band in ("red", "amber", "green"):
            fields[f"{band}_period_{i}"] = f"{band} {i} of {n}"
    return fields


def assert_only_status_row_changed(
    before: dict[str, object], after: dict[str, object], status: list[object]
) -> None:
    """Row 4 now shows `status` in A4 (status), B4 (message), H4 (request ID); every other
    output cell is as it was."""
    assert [after[c] for c in ("A4", "B4", "H4")] == status
    assert {a1: v for a1, v in after.items() if not a1.endswith("4")} == {
        a1: v for a1, v in before.items() if not a1.endswith("4")
    }


def write_concurrently(
    make_sheet: Callable[[], Any], orders: list[RequestOrder], seed: int
) -> dict[int, Any]:
    """Request i writes `result_fields(i)` with `orders[i]` from its own thread and its own sheet
    instance (as the app does); the threads start in a shuffled order and write together.
    Returns the write reports by i."""
    n = len(orders)
    jobs = list(range(n))
    random.Random(seed).shuffle(jobs)
    barrier = threading.Barrier(n)
    reports: dict[int, Any] = {}

    def lookup(i: int) -> None:
        sheet = make_sheet()
        barrier.wait()
        reports[i] = sheet.write(result_fields(i), order=orders[i])

    threads = [threading.Thread(target=lookup, args=(i,)) for i in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return reports


def expected_outputs(n: int) -> dict[str, object]:
    """The output cells after request `n` is written (the API returns whole floats as ints)."""
    fields = result_fields(n)
    return {
        a1: int(v) if isinstance(v, float) and v.is_integer() else v
        for a1, v in ((a1, fields[f]) for block in LAYOUT.outputs for a1, f in block.cells if f)
    }


def outputs(server: SheetsServer) -> dict[str, object]:
    cells = server.cells(SID, TAB)
    return {a1: cells.get(a1) for a1 in OUTPUT_CELLS}


def test_gspread_end_to_end_with_the_real_jwt_exchange(server: SheetsServer, client) -> None:
    worksheet = client.open_by_key(SID).worksheet(TAB)
    worksheet.update([["via gspread", 42]], "D20:E20")
    assert worksheet.get("D20:E20", value_render_option="UNFORMATTED_VALUE") == [
        ["via gspread", 42]
    ]
    token_calls = [r for r in server.requests if r.kind == "token"]
    assert len(token_calls) == 1 and token_calls[0].status == 200
    assert token_calls[0].body == {"scope": SCOPES[0]}
    assert all(r.status == 200 for r in server.requests)


def test_write_is_one_raw_batch_update_of_every_block(server: SheetsServer, client) -> None:
    sheet = GoogleSheet(SID, TAB, client=client)
    assert isinstance(sheet, SheetBackend)
    fields = result_fields(7)
    fields["peak_ratio"] = None
    report = sheet.write(fields)

    assert report.written and report.attempts == 1
    assert report.ranges == LAYOUT.output_ranges
    api_calls = [r for r in server.requests if r.kind != "token"]
    assert [r.kind for r in api_calls] == ["values.batchUpdate"]
    body = api_calls[0].body
    assert body["valueInputOption"] == "RAW"
    assert [d["range"] for d in body["data"]] == [f"'BESS'!{r}" for r in LAYOUT.output_ranges]
    rates = next(d for d in body["data"] if d["range"].endswith("B9:D9"))
    assert rates["values"] == [[7.25, 7.5, 7.75]]  # JSON numbers, not strings
    e15 = next(d for d in body["data"] if d["range"].endswith("E15:H15"))
    assert e15["values"] == [[700.0, "", 7.2, 7.3]]  # None sent as "" (cleared)

    cells = server.cells(SID, TAB)
    assert [cells.get(c) for c in ("A4", "B4", "G4", "H4")] == [
        "ok",
        "lookup 7",
        "2026-11-25T14:07:00Z",
        "req-7",
    ]
    assert cells["C6"] == "07"  # text stays text under RAW
    assert [cells.get(c) for c in ("B9", "C9", "D9")] == [7.25, 7.5, 7.75]
    assert cells["D13"] == "green 4 of 7"
    assert "F15" not in cells
    assert [cells.get(c) for c in ("E16", "F16")] == [70, 7.4]
    assert cells["B6"] == 1405566778899  # inputs untouched


def test_first_tab_is_addressed_without_a_tab_name(server: SheetsServer, client) -> None:
    GoogleSheet(SID, client=client).write(result_fields(3))
    [write] = server.writes(SID)
    assert [d["range"] for d in write.body["data"]] == list(LAYOUT.output_ranges)
    assert server.cells(SID, TAB)["D6"] == "DNO 3"


def test_read_inputs_is_one_batch_get_of_displayed_strings(server: SheetsServer, client) -> None:
    inputs = GoogleSheet(SID, TAB, client=client).read_inputs()
    assert inputs == {
        "postcode": "SW1A 1AA",
        "mpan": "1.40557E+12",  # a 13-digit MPAN typed as a number, as Sheets shows it
        "voltage": "",
        "profile_url": "",
        "kva": "500",
        "flex_fraction": "30%",
    }
    [call] = [r for r in server.requests if r.kind != "token"]
    assert call.kind == "values.batchGet"
    assert call.params["valueRenderOption"] == ["FORMATTED_VALUE"]
    assert call.params["ranges"] == [f"'BESS'!{c}" for c in LAYOUT.input_ranges()]


def test_mpan_written_as_text_reads_back_exactly(server: SheetsServer, client) -> None:
    sheet = GoogleSheet(SID, TAB, client=client)
    sheet.write_inputs({"mpan": "1405566778899"})
    assert server.cells(SID, TAB)["B6"] == "1405566778899"
    assert sheet.read_inputs()["mpan"] == "1405566778899"


def test_429_then_success_writes_once_whole(server: SheetsServer, client) -> None:
    server.inject([429])
    sheet = GoogleSheet(SID, TAB, client=client, retry_initial=0.01)
    report = sheet.write(result_fields(5))
    assert report.attempts == 2
    writes = server.writes(SID)
    assert [(w.status, w.applied) for w in writes] == [(429, False), (200, True)]
    assert writes[0].body == writes[1].body  # the body was rebuilt the same for the retry
    assert outputs(server) == expected_outputs(5)


def test_500_every_try_is_bounded_and_leaves_outputs_untouched(
    server: SheetsServer, client
) -> None:
    sheet = GoogleSheet(SID, TAB, client=client, max_attempts=3, retry_initial=0.01)
    sheet.write(result_fields(1))
    before = outputs(server)
    server.clear_log()
    server.inject([500] * 10)

    with pytest.raises(SheetError, match=r"HTTP 500 .*after 3 attempt"):
        sheet.write(result_fields(2))
    assert len(server.writes(SID)) == 3
    assert outputs(server) == before

    server.clear_faults()  # Google recovers
    report = sheet.write_status("error", "Google Sheets failed (HTTP 500)", "req-2")
    assert report.ranges == ("A4:H4",)
    last = server.writes(SID)[-1]
    assert [d["range"] for d in last.body["data"]] == ["'BESS'!A4:H4"]
    assert_only_status_row_changed(
        before, outputs(server), ["error", "Google Sheets failed (HTTP 500)", "req-2"]
    )


def test_403_is_not_retried_and_says_to_share_the_sheet(server: SheetsServer, client) -> None:
    server.inject([403])
    with pytest.raises(SheetError, match="share the spreadsheet with the service account"):
        GoogleSheet(SID, TAB, client=client, retry_initial=0.01).write(result_fields(1))
    assert len(server.writes(SID)) == 1


SHEETS_API_DISABLED = (
    "Google Sheets API has not been used in project 123456789012 before or it is disabled. "
    "Enable it by visiting https://console.developers.google.com/apis/api/sheets.googleapis.com/"
    "overview?project=123456789012 then retry."
)


def test_403_api_disabled_says_to_enable_the_api_not_to_share(
    server: SheetsServer, client
) -> None:
    server.inject([Fault(status=403, message=SHEETS_API_DISABLED)])
    with pytest.raises(SheetError) as caught:
        GoogleSheet(SID, TAB, client=client, retry_initial=0.01).write(result_fields(1))
    text = str(caught.value)
    assert "HTTP 403 Google Sheets API has not been used in project 123456789012" in text
    assert "the Google Sheets API is not enabled in Google Cloud project 123456789012" in text
    assert "gcloud services enable sheets.googleapis.com" in text
    assert "share the spreadsheet with the service account" not in text
    assert len(server.writes(SID)) == 1


def test_unknown_tab_is_a_clear_error_not_retried(server: SheetsServer, client) -> None:
    with pytest.raises(SheetError, match=r"tab 'Missing'.*Unable to parse range") as caught:
        GoogleSheet(SID, "Missing", client=client, retry_initial=0.01).write(result_fields(1))
    assert caught.value.field == "worksheet"  # the caller's input, not a server fault
    assert len(server.writes(SID)) == 1


def test_every_call_has_a_timeout(server: SheetsServer, tmp_path: Path) -> None:
    slow_client = gspread_client(server, tmp_path, (1.0, 0.5))
    server.inject([Fault(delay=1.5)])
    start = time.monotonic()
    sheet = GoogleSheet(SID, TAB, client=slow_client, retry_initial=0.01, confirm_wait=5)
    report = sheet.write(result_fields(4))
    elapsed = time.monotonic() - start
    # the answer was lost after 0.5 s; the write was not sent again but looked for in H4,
    # where it appeared once the server applied it (1.5 s)
    assert report.written and report.attempts == 1
    assert 1.4 < elapsed < 4.0
    assert len(server.writes(SID)) == 1 and server.cells(SID, TAB)["D6"] == "DNO 4"


def test_a_lost_write_is_never_resent_and_an_older_one_cannot_land_over_a_newer(
    server: SheetsServer, tmp_path: Path
) -> None:
    """Finding 6 of the hardening issue: a timed-out write landed late over a newer result.
    Now a write whose answer is lost is reported as 'outcome unknown' and the sheet refuses
    newer writes until the old one can no longer land."""
    slow_client = gspread_client(server, tmp_path, (1.0, 0.3))
    server.inject([Fault(delay=2.0)])  # lands after 2 s, long after the client gave up
    sheet = GoogleSheet(SID, TAB, client=slow_client, retry_initial=0.01, confirm_wait=0.6)
    with pytest.raises(SheetError) as lost:
        sheet.write(result_fields(5))
    assert lost.value.outcome_unknown and "outcome unknown" in lost.value.public
    newer = GoogleSheet(SID, TAB, client=slow_client, retry_initial=0.01)
    with pytest.raises(SheetError) as busy:
        newer.write(result_fields(6))
    assert busy.value.retry_after is not None and busy.value.retry_after > 30
    time.sleep(2.0)
    assert server.cells(SID, TAB)["D6"] == "DNO 5"  # the old write landed, nothing newer lost
    assert len(server.writes(SID)) == 1


def test_a_malformed_spreadsheet_id_is_refused_before_any_request(
    server: SheetsServer, client
) -> None:
    with pytest.raises(ValueError, match="is not a spreadsheet key"):
        GoogleSheet("../etc/passwd", client=client)
    assert server.requests == []
    assert GoogleSheet(SID, TAB, client=client).write(result_fields(1)).written


def test_credentials_from_the_environment(
    server: SheetsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(server.key_file(tmp_path)))
    monkeypatch.setenv("BESS_DUOS_SHEETS_API_URL", server.url)
    monkeypatch.setattr(google_sheet, "_default_client", None)
    sheet = open_sheet(SID, TAB)
    assert isinstance(sheet, GoogleSheet)
    assert sheet.read_inputs()["postcode"] == "SW1A 1AA"
    assert [r.kind for r in server.requests] == ["token", "values.batchGet"]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setattr(google_sheet, "_default_client", None)
    with pytest.raises(SheetError, match="no usable Google credentials"):
        GoogleSheet(SID, TAB).read_inputs()


def test_an_older_request_after_a_newer_one_is_dropped(server: SheetsServer, client) -> None:
    older = RequestOrder.arrived(1_764_079_200)
    newer = RequestOrder.arrived(1_764_079_201)
    sheet = GoogleSheet(SID, TAB, client=client)
    assert sheet.write(result_fields(2), order=newer).written
    late = GoogleSheet(SID, TAB, client=client).write(result_fields(1), order=older)
    assert not late.written and late.ranges == ()
    assert "newer request" in (late.dropped_reason or "")
    late_status = sheet.write_status("error", "late failure", "req-1", order=older)
    assert not late_status.written
    assert len(server.writes(SID)) == 1
    assert server.cells(SID, TAB)["H4"] == "req-2"
    # same X-Timestamp: arrival order decides
    first, second = RequestOrder.arrived(1_764_079_300), RequestOrder.arrived(1_764_079_300)
    assert sheet.write(result_fields(4), order=second).written
    assert not sheet.write(result_fields(3), order=first).written
    assert server.cells(SID, TAB)["H4"] == "req-4"


def test_200_concurrent_writes_leave_one_request_whole(server: SheetsServer, client) -> None:
    n = 200
    timestamps = [1_764_079_000 + i // 10 for i in range(n)]  # many share an X-Timestamp
    orders = [RequestOrder.arrived(ts) for ts in timestamps]
    reports = write_concurrently(lambda: GoogleSheet(SID, TAB, client=client), orders, seed=5)

    assert len(reports) == n
    written = [i for i, r in reports.items() if r.written]
    assert len(server.writes(SID)) == len(written)
    assert all(r.dropped_reason for r in reports.values() if not r.written)
    assert outputs(server) == expected_outputs(n - 1)  # the newest request, whole
