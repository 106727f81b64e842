"""End to end: the webhook served for real on loopback, signed requests, the profile fetched
from a loopback HTTP server, gspread writing to the local Sheets API test server (or the local
workbook); the cells read back are checked against the core functions' own results."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gspread
import pandas as pd
import pytest
from bess_duos.core.distributors import get_distributor
from bess_duos.core.duos import duos_charges
from bess_duos.core.features import profile_features
from bess_duos.core.flexibility import calculate_flexibility_value
from bess_duos.core.profiles import load_profile
from bess_duos.core.synthetic import generate_profile
from bess_duos.core.tariffs import resolve_tariff
from bess_duos.webhook.auth import signed_headers
from bess_duos.webhook.google_sheet import GoogleSheet
from bess_duos.webhook.profile_links import FetchPolicy
from bess_duos.webhook.sheets import reset_ordering_state
from bess_duos.webhook.workbook_sheet import WorkbookSheet

from tests.loopback import FileServer, Webhook, gspread_client
from tests.sheets_server import SheetsServer

SECRET = "e2e-secret-0123456789abcdefghijklm"
SID = "1E2e-bess_sheet"
TAB = "BESS"
DAY = dt.date(2026, 11, 24)
SEED = "00800999932 1405566778899"
READ_BACK = ["A4:H4", "C6:H6", "B9:D9", "E9:H9", "B10:D13", "E15:H15", "E16:F16"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No allowlist; fresh ordering state (the conftest guard keeps the network to loopback)."""
    monkeypatch.delenv("BESS_DUOS_SPREADSHEET_ALLOWLIST", raising=False)
    reset_ordering_state()


@pytest.fixture(scope="module")
def profile_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-year synthetic office profile as the CSV a site would share."""
    series = generate_profile("office", 180_000, start="2025-04-01", seed=11)
    path = tmp_path_factory.mktemp("profile") / "site.csv"
    series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        path, date_format="%Y-%m-%dT%H:%M:%SZ")
    return path


@pytest.fixture
def files(profile_csv: Path) -> Iterator[FileServer]:
    server = FileServer()
    server.serve_bytes("/site.csv", profile_csv.read_bytes())
    yield server
    server.close()


@pytest.fixture
def sheets() -> Iterator[SheetsServer]:
    with SheetsServer() as server:
        server.add_spreadsheet(SID, tabs={TAB: {"B6": SEED}, "Other": {}})
        yield server


@pytest.fixture
def gclient(sheets: SheetsServer, tmp_path: Path) -> gspread.Client:
    return gspread_client(sheets, tmp_path, (2.0, 5.0))


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return tmp_path / "bess_sheet.xlsx"


@pytest.fixture
def webhook_factory(gclient: gspread.Client, workbook: Path, files: FileServer
                    ) -> Iterator[Callable[..., Webhook]]:
    started: list[Webhook] = []

    def start(loopback_ports: frozenset[int] | None = None) -> Webhook:
        def sheet(sid: str | None, tab: str | None) -> Any:
            if sid is None:
                return WorkbookSheet(workbook, tab)
            return GoogleSheet(sid, tab, client=gclient, retry_initial=0.01, retry_max=0.05)

        ports = frozenset({files.port}) if loopback_ports is None else loopback_ports
        hook = Webhook({
            "WEBHOOK_SECRET": SECRET,
            "FETCH_POLICY": FetchPolicy(allow_loopback_ports=ports),
            "SHEET_FACTORY": sheet,
            "LOOKUP_DATE": DAY,
        })
        started.append(hook)
        return hook

    yield start
    for hook in started:
        hook.close()


@pytest.fixture
def webhook(webhook_factory: Callable[..., Webhook]) -> Webhook:
    return webhook_factory()


def read_google(client: gspread.Client) -> dict[str, list[list[Any]]]:
    """The output ranges as stored (numbers as numbers), through gspread."""
    ranges = [f"{TAB}!{r}" for r in READ_BACK]
    got = client.http_client.values_batch_get(
        SID, ranges, params={"valueRenderOption": "UNFORMATTED_VALUE"})
    out = {}
    for a1, value_range in zip(READ_BACK, got["valueRanges"], strict=True):
        out[a1] = value_range.get("values", [])
    return out


def read_workbook(path: Path) -> dict[str, list[list[Any]]]:
    sheet = WorkbookSheet(path)
    return {a1: sheet.read_range(a1) for a1 in READ_BACK}


def _pad(rows: list[list[Any]], height: int, width: int) -> list[list[Any]]:
    """Google omits trailing empty cells; the workbook gives None: compare as ''."""
    rows = [[("" if v is None else v) for v in row] for row in rows]
    rows += [[] for _ in range(height - len(rows))]
    return [row + [""] * (width - len(row)) for row in rows]


def expected_cells(profile_csv: Path, flex: float = 0.30) -> dict[str, list[list[Any]]]:
    """What the core functions say, called directly (not through core.lookup)."""
    profile = load_profile(profile_csv)
    series = profile.data["kwh"]
    tariff = resolve_tariff(14, on=DAY)
    charged = duos_charges(profile.data, tariff)
    features = profile_features(series)
    prices = pd.Series(charged.frame["unit_rate_p_per_kwh"].to_numpy(), index=series.index)
    flexv = calculate_flexibility_value(series, flex, prices)
    d = get_distributor(14)
    bands = {b: tariff.time_bands.describe(b) for b in ("red", "amber", "green")}
    return {
        "C6:H6": [[14, d.name, d.short_code, d.mpid, d.gsp_group_id, d.gsp_group_name]],
        "B9:D9": [list(tariff.unit_rates_p_per_kwh)],
        "B10:D13": [[bands[b][i] if i < len(bands[b]) else "" for b in ("red", "amber", "green")]
                    for i in range(4)],
        "E15:H15": [[round(charged.summary.annualised_total_gbp, 2),
                     round(features.values["peak_ratio"], 4),
                     round(features.values["load_factor"], 4),
                     round(features.values["weekend_factor"], 4)]],
        "E16:F16": [[round(flexv.annual_value_gbp, 2), round(flexv.saving_pct, 2)]],
    }


def check_cells(got: dict[str, list[list[Any]]], profile_csv: Path, request_id: str) -> None:
    want = expected_cells(profile_csv)
    shapes = {"C6:H6": (1, 6), "B9:D9": (1, 3), "B10:D13": (4, 3), "E15:H15": (1, 4),
              "E16:F16": (1, 2)}
    for a1, (height, width) in shapes.items():
        assert _pad(got[a1], height, width) == want[a1], a1
    status = _pad(got["A4:H4"], 1, 8)[0]
    assert status[0] == "warning"
    assert "wrong check digit (expected 8)" in status[1]
    assert status[7] == request_id
    assert status[6].endswith("Z")


# --- the two back ends ------------------------------------------------------------------


def test_google_sheet_end_to_end(webhook: Webhook, sheets: SheetsServer, files: FileServer,
                                 gclient: gspread.Client, profile_csv: Path) -> None:
    sheets.clear_log()
    response = webhook.post({"mpan": SEED, "profile_url": files.url("/site.csv"),
                             "spreadsheet_id": SID, "worksheet": TAB})
    assert response.status_code == 200, response.text
    data = response.json()
    assert files.hits == ["/site.csv"]
    assert len(sheets.writes(SID)) == 1  # one batched write for the whole result
    assert data["written"]["ranges"] == READ_BACK
    check_cells(read_google(gclient), profile_csv, data["request_id"])
    assert sheets.cells(SID, TAB)["B6"] == SEED  # the input cell is left alone


def test_workbook_end_to_end(webhook: Webhook, files: FileServer, workbook: Path,
                             profile_csv: Path) -> None:
    response = webhook.post({"mpan": SEED, "profile_url": files.url("/site.csv")})
    assert response.status_code == 200, response.text
    check_cells(read_workbook(workbook), profile_csv, response.json()["request_id"])


# --- faults ------------------------------------------------------------------------------


def test_429_then_success_writes_once_whole(webhook: Webhook, sheets: SheetsServer,
                                            files: FileServer, gclient: gspread.Client,
                                            profile_csv: Path) -> None:
    sheets.clear_log()
    sheets.inject([429])
    response = webhook.post({"mpan": SEED, "profile_url": files.url("/site.csv"),
                             "spreadsheet_id": SID, "worksheet": TAB})
    assert response.status_code == 200, response.text
    assert response.json()["written"]["attempts"] == 2
    writes = sheets.writes(SID)
    assert [w.status for w in writes] == [429, 200]
    assert [w.applied for w in writes] == [False, True]
    check_cells(read_google(gclient), profile_csv, response.json()["request_id"])


def test_500_on_every_try_writes_status_only(webhook: Webhook, sheets: SheetsServer,
                                             files: FileServer, gclient: gspread.Client) -> None:
    first = webhook.post({"mpan": SEED, "profile_url": files.url("/site.csv"),
                          "spreadsheet_id": SID, "worksheet": TAB})
    assert first.status_code == 200
    before = read_google(gclient)
    sheets.clear_log()
    sheets.inject([500] * 4)  # GoogleSheet's bounded retry: 4 attempts
    response = webhook.post({"mpan": "1405566778898", "voltage": "HV",
                             "spreadsheet_id": SID, "worksheet": TAB})
    assert response.status_code == 502
    body = response.json()
    assert "500" in body["error"] and body["request_id"]
    assert body["result"]["fields"]["red_rate_p_per_kwh"] == resolve_tariff(
        14, on=DAY, voltage="HV").red_rate
    writes = sheets.writes(SID)
    assert [w.status for w in writes] == [500, 500, 500, 500, 200]
    after = read_google(gclient)
    for a1 in READ_BACK[1:]:
        assert after[a1] == before[a1], a1  # outputs untouched
    status = _pad(after["A4:H4"], 1, 8)[0]
    assert status[0] == "error" and "500" in status[1] and status[7] == body["request_id"]


def test_auth_failures_over_http_write_nothing(webhook: Webhook, sheets: SheetsServer,
                                               files: FileServer) -> None:
    sheets.clear_log()
    payload = {"mpan": SEED, "spreadsheet_id": SID, "worksheet": TAB}
    assert webhook.post(payload, secret="not-the-secret").status_code == 401
    body = json.dumps(payload).encode()
    stale = signed_headers(SECRET, body, timestamp=int(dt.datetime.now().timestamp()) - 600)
    assert webhook.post(payload, headers=stale).status_code == 401
    good = signed_headers(SECRET, body, spreadsheet_id=SID)
    assert webhook.post(payload, headers=good).status_code == 200
    assert len(sheets.writes(SID)) == 1
    replay = webhook.post(payload, headers=good)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]
    assert len(sheets.writes(SID)) == 1
    assert files.hits == []


@pytest.mark.parametrize("target", [
    "https://127.0.0.1/p.csv",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/p.csv",
])
def test_ssrf_refused_direct(webhook_factory: Callable[..., Webhook], files: FileServer,
                             target: str, workbook: Path) -> None:
    hook = webhook_factory(loopback_ports=frozenset())  # the loopback allowance OFF
    response = hook.post({"mpan": SEED, "profile_url": target})
    assert response.status_code == 422
    assert response.json()["rule"] == "public addresses only"
    assert response.json()["link"] == target
    loopback_http = hook.post({"mpan": SEED, "profile_url": files.url("/site.csv")})
    assert loopback_http.status_code == 422
    assert files.hits == []
    status = WorkbookSheet(workbook).read_range("A4:B4")[0]
    assert status[0] == "error" and "profile link" in status[1]
    assert WorkbookSheet(workbook).read_range("C6:C6") == [[None]]


@pytest.mark.parametrize("target", [
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/p.csv",
    "LOOPBACK",
])
def test_ssrf_refused_after_redirect(webhook_factory: Callable[..., Webhook], files: FileServer,
                                     target: str) -> None:
    """Only the redirector's port is allowed; its redirect to the targets is refused."""
    other = FileServer()
    other.serve_bytes("/site.csv", b"timestamp,kwh\n")
    try:
        location = other.url("/site.csv").replace("http:", "https:") if target == "LOOPBACK" \
            else target
        files.redirect("/jump", location)
        hook = webhook_factory(loopback_ports=frozenset({files.port}))
        response = hook.post({"mpan": SEED, "profile_url": files.url("/jump")})
        assert response.status_code == 422, response.text
        assert response.json()["rule"] == "public addresses only"
        assert files.hits == ["/jump"] and other.hits == []
    finally:
        other.close()


def test_file_that_is_not_a_profile_is_422_naming_the_link(webhook: Webhook, files: FileServer,
                                                           workbook: Path) -> None:
    files.serve_bytes("/notes.csv", b"name,colour\nsite,red\n")
    response = webhook.post({"mpan": SEED, "profile_url": files.url("/notes.csv")})
    assert response.status_code == 422
    body = response.json()
    assert body["link"] == files.url("/notes.csv") and body["rule"] == "a half-hourly profile"
    assert "not a usable profile" in body["error"] and "profile_url" in body["fields"]
    status = WorkbookSheet(workbook).read_range("A4:B4")[0]
    assert status[0] == "error" and files.url("/notes.csv") in status[1]


def test_a_key_writes_only_its_own_spreadsheet(webhook: Webhook, sheets: SheetsServer,
                                               files: FileServer) -> None:
    """Finding 4 of the hardening issue: with no allowlist a signed caller wrote any sheet the
    service account can edit. Now a sheet's key writes that sheet only, and the master key
    writes no Google sheet unless it is on the allowlist."""
    sheets.clear_log()
    payload = {"mpan": SEED, "spreadsheet_id": SID, "worksheet": TAB}
    body = json.dumps(payload).encode()
    other_key = signed_headers(SECRET, body, spreadsheet_id="another-sheet")
    refused = webhook.post(payload, headers=other_key)
    assert refused.status_code == 403
    assert "another spreadsheet's key" in refused.json()["error"]
    master = webhook.post(payload, headers=signed_headers(SECRET, body))
    assert master.status_code == 403
    assert "BESS_DUOS_SPREADSHEET_ALLOWLIST" in master.json()["fields"]["spreadsheet_id"]
    assert sheets.writes(SID) == [] and files.hits == []
    # a sheet's key with no spreadsheet_id in the body means its own sheet
    own = {"mpan": SEED, "worksheet": TAB}
    body = json.dumps(own).encode()
    answer = webhook.post(own, headers=signed_headers(SECRET, body, spreadsheet_id=SID))
    assert answer.status_code == 200 and answer.json()["written"]["written"] is True
    assert len(sheets.writes(SID)) == 1

