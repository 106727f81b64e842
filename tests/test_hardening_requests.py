"""The request-level findings of the hardening issue, each through the real app on loopback:
odd X-Timestamps (9, 10), deep JSON (10), requests dated ahead (9), leaks of local paths and
exception text (11), a missing tab (11). Each failed (a 500, a frozen sheet or a leak) before."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from bess_duos.core.settings import Settings
from bess_duos.webhook.auth import signed_headers
from bess_duos.webhook.sheets import reset_ordering_state
from bess_duos.webhook.workbook_sheet import WorkbookSheet

from tests.loopback import Webhook, gspread_client
from tests.sheets_server import SheetsServer
from tests.test_end_to_end import DAY, SECRET, SEED, SID, TAB


@pytest.fixture(autouse=True)
def _isolated() -> None:
    reset_ordering_state()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Webhook]]:
    started: list[Webhook] = []

    def start(**config: Any) -> Webhook:
        hook = Webhook({"WEBHOOK_SECRET": SECRET, "LOOKUP_DATE": DAY,
                        "WORKBOOK_PATH": str(tmp_path / "bess_sheet.xlsx"), **config})
        started.append(hook)
        return hook

    yield start
    for hook in started:
        hook.close()


def post_raw(hook: Webhook, body: bytes, headers: dict[str, str], path: str = "/lookup"
             ) -> requests.Response:
    return requests.post(hook.url + path, data=body, timeout=10,
                         headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("stamp", ["²", "1" * 5000, "17e8", "³¹"])
def test_odd_timestamps_are_4xx_everywhere(serve: Callable[..., Webhook], stamp: str) -> None:
    hook = serve()
    assert requests.get(hook.url + "/health", headers={"X-Timestamp": stamp},
                        timeout=5).status_code == 200
    body = json.dumps({"mpan": SEED, "write": False}).encode()
    headers = {**signed_headers(SECRET, body), "X-Timestamp": stamp}
    answer = post_raw(hook, body, headers)
    assert answer.status_code == 401 and "whole seconds" in answer.json()["error"]


def test_json_nested_20000_deep_is_a_400(serve: Callable[..., Webhook]) -> None:
    hook = serve()
    body = b'{"mpan": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert len(body) < 64 * 1024
    answer = post_raw(hook, body, signed_headers(SECRET, body))
    assert answer.status_code == 400
    assert answer.json()["fields"]["body"] == "nested too deeply"


def test_a_request_dated_ahead_cannot_freeze_the_sheet(serve: Callable[..., Webhook],
                                                       tmp_path: Path) -> None:
    hook = serve()
    book = tmp_path / "bess_sheet.xlsx"
    far = json.dumps({"mpan": SEED, "kva": 100}).encode()
    ahead = post_raw(hook, far, signed_headers(SECRET, far, timestamp=int(time.time()) + 290))
    assert ahead.status_code == 401 and "ahead" in ahead.json()["error"]
    near = json.dumps({"mpan": SEED, "kva": 200}).encode()
    first = post_raw(hook, near, signed_headers(SECRET, near, timestamp=int(time.time()) + 25))
    assert first.status_code == 200 and first.json()["written"]["written"] is True
    # a request signed now still writes: the one dated 25 s ahead is ordered as of its arrival
    now = json.dumps({"mpan": SEED, "kva": 300}).encode()
    second = post_raw(hook, now, signed_headers(SECRET, now))
    assert second.status_code == 200 and second.json()["written"]["written"] is True
    assert WorkbookSheet(book).read_range("H4:H4") == [[second.json()["request_id"]]]


def test_a_workbook_that_cannot_be_written_does_not_show_its_path(
    serve: Callable[..., Webhook], tmp_path: Path
) -> None:
    secret_folder = tmp_path / "srv-private-folder"
    secret_folder.write_text("a file where a folder should be")
    hook = serve(WORKBOOK_PATH=str(secret_folder / "bess_sheet.xlsx"))
    body = json.dumps({"mpan": SEED}).encode()
    answer = post_raw(hook, body, signed_headers(SECRET, body))
    assert answer.status_code == 502
    assert "srv-private-folder" not in answer.text and str(tmp_path) not in answer.text
    assert "bess_sheet.xlsx cannot be written on the server" in answer.json()["error"]


def test_credentials_errors_do_not_show_the_key_files_path(
    serve: Callable[..., Webhook], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bess_duos.webhook import google_sheet

    key = tmp_path / "private-keys" / "service-account.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setattr(google_sheet, "_default_client", None)
    hook = serve(SETTINGS=Settings.from_env())
    body = json.dumps({"mpan": SEED, "spreadsheet_id": SID}).encode()
    answer = post_raw(hook, body, signed_headers(SECRET, body, spreadsheet_id=SID))
    assert answer.status_code == 502
    assert "private-keys" not in answer.text and "service-account.json" not in answer.text
    assert "no usable Google credentials" in answer.json()["error"]


def test_a_missing_tab_is_the_callers_400_not_a_502(serve: Callable[..., Webhook],
                                                     tmp_path: Path) -> None:
    from bess_duos.webhook.google_sheet import GoogleSheet

    with SheetsServer() as sheets:
        sheets.add_spreadsheet(SID, tabs={TAB: {}})

        client = gspread_client(sheets, tmp_path, (2.0, 5.0))
        hook = serve(SHEET_FACTORY=lambda sid, tab: GoogleSheet(sid, tab, client=client,
                                                               retry_initial=0.01))
        body = json.dumps({"mpan": SEED, "spreadsheet_id": SID, "worksheet": "Nope"}).encode()
        answer = post_raw(hook, body, signed_headers(SECRET, body, spreadsheet_id=SID))
        assert answer.status_code == 400
        assert "Nope" in answer.json()["fields"]["worksheet"]


def test_ready_says_what_is_missing_in_words(serve: Callable[..., Webhook], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from bess_duos.core import distributors, tariffs
    from bess_duos.webhook import layout

    empty = tmp_path / "empty-config"
    empty.mkdir()
    for memo in (layout.default_layout, distributors._tables, tariffs.available_years):
        if hasattr(memo, "cache_clear"):
            memo.cache_clear()
    monkeypatch.setenv("BESS_DUOS_CONFIG", str(empty))
    hook = serve()
    answer = requests.get(hook.url + "/ready", timeout=10)
    try:
        assert answer.status_code == 503
        assert answer.json()["error"] == (
            "the sheet layout (config/sheet_layout.yaml) could not be read")
        assert "empty-config" not in answer.text and "Errno" not in answer.text
    finally:
        monkeypatch.delenv("BESS_DUOS_CONFIG")
        for memo in (layout.default_layout, distributors._tables, tariffs.available_years):
            if hasattr(memo, "cache_clear"):
                memo.cache_clear()


def test_a_sheets_write_whose_answer_is_lost_never_lands_over_a_newer_one(
    serve: Callable[..., Webhook], tmp_path: Path
) -> None:
    """Finding 6: a write that timed out landed late over a newer result, after both answered
    'written'. Now the first is 'outcome unknown' (502, status cell untouched), a newer
    request is held off (503 Retry-After) while the old write can still land, and the sheet
    ends with the old request's results, never a mix."""
    from bess_duos.webhook.google_sheet import GoogleSheet

    from tests.sheets_server import Fault

    with SheetsServer() as sheets:
        sheets.add_spreadsheet(SID, tabs={TAB: {}})
        client = gspread_client(sheets, tmp_path, (2.0, 0.3))
        hook = serve(SHEET_FACTORY=lambda sid, tab: GoogleSheet(
            sid, tab, client=client, retry_initial=0.01, confirm_wait=0.6))
        sheets.inject([Fault(delay=2.0)])  # the write lands 2 s after it was sent
        first = json.dumps({"mpan": SEED, "kva": 100, "spreadsheet_id": SID,
                            "worksheet": TAB}).encode()
        lost = post_raw(hook, first, signed_headers(SECRET, first, spreadsheet_id=SID))
        assert lost.status_code == 502 and lost.json()["outcome"] == "unknown"
        second = json.dumps({"mpan": SEED, "kva": 300, "spreadsheet_id": SID,
                             "worksheet": TAB}).encode()
        held = post_raw(hook, second, signed_headers(SECRET, second, spreadsheet_id=SID))
        assert held.status_code == 503 and int(held.headers["Retry-After"]) > 30
        time.sleep(2.0)
        cells = sheets.cells(SID, TAB)
        assert cells["H4"] == lost.json()["request_id"]  # the old write landed, whole
        assert len(sheets.writes(SID)) == 1  # nothing else was sent: no status, no retry


def test_a_signature_is_bound_to_its_method_and_path(serve: Callable[..., Webhook]) -> None:
    """Finding 11: the signature covered neither method nor path, so a signed /mpan/validate
    body could be replayed to /lookup."""
    hook = serve()
    body = json.dumps({"mpan": SEED}).encode()
    for_validate = signed_headers(SECRET, body, path="/mpan/validate")
    moved = post_raw(hook, body, for_validate, path="/lookup")
    assert moved.status_code == 401 and "does not match" in moved.json()["error"]
    assert post_raw(hook, body, for_validate, path="/mpan/validate").status_code == 200


def test_a_short_secret_is_refused_at_start(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 11: any one-character secret was accepted."""
    from bess_duos.webhook.app import create_app
    from bess_duos.webhook.auth import MissingSecretError
    from bess_duos.webhook.cli import main

    monkeypatch.setenv("BESS_DUOS_WEBHOOK_SECRET", "x")
    assert main(["serve", "--port", "1"]) == 2
    assert "at least 32" in capsys.readouterr().err
    with pytest.raises(MissingSecretError, match="at least 32"):
        create_app({"WEBHOOK_SECRET": "y" * 31})
