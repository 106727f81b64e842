"""The local Sheets API v4 test server on its own, driven with raw `requests`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from tests.sheets_server import (
    GOOGLE_TOKEN_AUDIENCE,
    Fault,
    SheetsServer,
    format_automatic,
)

REPO = Path(__file__).resolve().parents[1]
SID = "test-sheet-1"


@pytest.fixture
def server():
    with SheetsServer() as srv:
        srv.add_spreadsheet(SID, tabs={"BESS": {"A1": "1", "B1": "2", "C1": "3"}, "Other": {}})
        yield srv


@pytest.fixture
def api(server: SheetsServer):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {server.issue_token()}"
    base = f"{server.url}/v4/spreadsheets/{SID}"
    return session, base


def _error(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["code"] == response.status_code
    return body["error"]


def test_api_calls_need_an_issued_bearer_token(server: SheetsServer) -> None:
    url = f"{server.url}/v4/spreadsheets/{SID}/values/A1"
    assert _error(requests.get(url, timeout=5))["status"] == "UNAUTHENTICATED"
    wrong = requests.get(url, headers={"Authorization": "Bearer made-up"}, timeout=5)
    assert wrong.status_code == 401
    good = requests.get(url, headers={"Authorization": f"Bearer {server.issue_token()}"}, timeout=5)
    assert good.status_code == 200
    assert good.json()["values"] == [["1"]]


def test_token_endpoint_verifies_the_jwt_signature(server: SheetsServer, tmp_path: Path) -> None:
    info = server.key_info()
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": GOOGLE_TOKEN_AUDIENCE,
        "scope": "https://www.googleapis.com/auth/spreadsheets",
        "iat": now,
        "exp": now + 600,
    }
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    signer = crypt.RSASigner.from_service_account_info(info)
    good = requests.post(
        server.token_uri,
        data={"grant_type": grant, "assertion": jwt.encode(signer, claims).decode()},
        timeout=5,
    )
    assert good.status_code == 200
    token = good.json()["access_token"]
    api = requests.get(
        f"{server.url}/v4/spreadsheets/{SID}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert api.status_code == 200

    # the same claims signed by another key are refused
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with SheetsServer(private_key=other_key) as other:
        foreign = crypt.RSASigner.from_service_account_info(other.key_info())
    bad = requests.post(
        server.token_uri,
        data={"grant_type": grant, "assertion": jwt.encode(foreign, claims).decode()},
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"
    expired = dict(claims, iat=now - 7200, exp=now - 3600)
    old = requests.post(
        server.token_uri,
        data={"grant_type": grant, "assertion": jwt.encode(signer, expired).decode()},
        timeout=5,
    )
    assert old.status_code == 400


@pytest.mark.parametrize(
    "bad_range", ["A0", "BESS!A1:", "Nope!A1", "'BESS!A1", "A1:B2:C3", "1A", "A-1", "!A1"]
)
def test_bad_ranges_and_unknown_tabs_are_400_like_google(api, bad_range: str) -> None:
    session, base = api
    response = session.get(f"{base}/values/{requests.utils.quote(bad_range, safe='')}", timeout=5)
    assert response.status_code == 400
    error = _error(response)
    assert error == {
        "code": 400,
        "message": f"Unable to parse range: {bad_range}",
        "status": "INVALID_ARGUMENT",
    }


def test_grid_limits_are_enforced(api) -> None:
    session, base = api
    assert session.get(f"{base}/values/A1000", timeout=5).status_code == 200
    rows = session.get(f"{base}/values/A1001", timeout=5)
    assert _error(rows)["message"] == (
        "Range (BESS!A1001) exceeds grid limits. Max rows: 1000, max columns: 26"
    )
    assert session.get(f"{base}/values/Z1", timeout=5).status_code == 200
    assert session.get(f"{base}/values/AA1", timeout=5).status_code == 400
    write = session.put(
        f"{base}/values/Z1",
        params={"valueInputOption": "RAW"},
        json={"values": [["a", "b"]]},
        timeout=5,
    )
    assert write.status_code == 400
    assert "exceeds grid limits" in _error(write)["message"]


def test_unknown_spreadsheet_is_404(server: SheetsServer, api) -> None:
    session, _ = api
    response = session.get(f"{server.url}/v4/spreadsheets/nope/values/A1", timeout=5)
    assert _error(response) == {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
    }


def test_metadata_lists_tabs_with_grid_properties(api) -> None:
    session, base = api
    sheets = session.get(base, timeout=5).json()["sheets"]
    assert [s["properties"]["title"] for s in sheets] == ["BESS", "Other"]
    assert sheets[0]["properties"]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}


def test_null_leaves_a_cell_and_empty_string_clears_it(server: SheetsServer, api) -> None:
    session, base = api
    response = session.put(
        f"{base}/values/BESS!A1:D1",
        params={"valueInputOption": "RAW"},
        json={"values": [[None, "", "x", 4.5]]},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["updatedCells"] == 3
    assert server.cells(SID, "BESS") == {"A1": 1, "C1": "x", "D1": 4.5}


def test_raw_keeps_text_user_entered_parses_numbers(server: SheetsServer, api) -> None:
    session, base = api
    for option, cell in (("RAW", "A2"), ("USER_ENTERED", "A3")):
        session.put(
            f"{base}/values/{cell}:E{cell[1:]}",
            params={"valueInputOption": option},
            json={"values": [["1405566778899", "30%", "'0123", "TRUE", "1,234.5"]]},
            timeout=5,
        ).raise_for_status()
    cells = server.cells(SID, "BESS")
    assert [cells[c] for c in ("A2", "B2", "C2", "D2", "E2")] == [
        "1405566778899",
        "30%",
        "'0123",
        "TRUE",
        "1,234.5",
    ]
    assert [cells[c] for c in ("A3", "B3", "C3", "D3", "E3")] == [
        1405566778899,
        0.3,
        "0123",
        True,
        1234.5,
    ]
    shown = session.get(
        f"{base}/values:batchGet",
        params={"ranges": ["A2:E2", "A3:E3"], "valueRenderOption": "FORMATTED_VALUE"},
        timeout=5,
    ).json()["valueRanges"]
    assert shown[0]["values"] == [["1405566778899", "30%", "'0123", "TRUE", "1,234.5"]]
    assert shown[1]["values"] == [["1.40557E+12", "30%", "0123", "TRUE", "1234.5"]]
    raw = session.get(
        f"{base}/values/A3:E3", params={"valueRenderOption": "UNFORMATTED_VALUE"}, timeout=5
    ).json()
    assert raw["values"] == [[1405566778899, 0.3, "0123", True, 1234.5]]


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        (12345678901, "12345678901"),
        (123456789012, "1.23457E+11"),
        (1405566778899, "1.40557E+12"),
        (100800999932140556677, "1.00801E+20"),
        (1e12, "1E+12"),
        (0.1 + 0.2, "0.3"),
        (-2.5, "-2.5"),
        (3.14159265358979, "3.141592654"),
        (0, "0"),
    ],
)
def test_formatted_numbers_look_like_sheets(number: float, shown: str) -> None:
    assert format_automatic(float(number)) == shown


def test_write_beyond_the_given_range_is_refused(server: SheetsServer, api) -> None:
    session, base = api
    response = session.put(
        f"{base}/values/A5:B5",
        params={"valueInputOption": "RAW"},
        json={"values": [["a", "b", "c"]]},
        timeout=5,
    )
    assert response.status_code == 400
    assert "tried writing to column [C]" in _error(response)["message"]
    missing = session.put(f"{base}/values/A5", json={"values": [["a"]]}, timeout=5)
    assert _error(missing)["message"] == "'valueInputOption' is required but not specified"
    assert "A5" not in server.cells(SID, "BESS")


def test_batch_update_is_all_or_nothing(server: SheetsServer, api) -> None:
    session, base = api
    body = {
        "valueInputOption": "RAW",
        "data": [
            {"range": "BESS!A7", "values": [["kept out"]]},
            {"range": "Missing!A1", "values": [["x"]]},
        ],
    }
    response = session.post(f"{base}/values:batchUpdate", json=body, timeout=5)
    assert _error(response)["message"] == "Unable to parse range: Missing!A1"
    assert "A7" not in server.cells(SID, "BESS")
    body["data"].pop()
    ok = session.post(f"{base}/values:batchUpdate", json=body, timeout=5).json()
    assert ok["totalUpdatedCells"] == 1
    assert ok["responses"][0]["updatedRange"] == "BESS!A7:A7"
    assert server.cells(SID, "BESS")["A7"] == "kept out"


def test_batch_get_keeps_order_and_omits_empty_values(api) -> None:
    session, base = api
    ranges = ["C1", "Other!A1:B2", "A1:B1"]
    value_ranges = session.get(
        f"{base}/values:batchGet", params={"ranges": ranges}, timeout=5
    ).json()["valueRanges"]
    assert [vr.get("values") for vr in value_ranges] == [[["3"]], None, [["1", "2"]]]
    assert [vr["range"] for vr in value_ranges] == ["BESS!C1:C1", "Other!A1:B2", "BESS!A1:B1"]
    columns = session.get(
        f"{base}/values/A1:C1", params={"majorDimension": "COLUMNS"}, timeout=5
    ).json()
    assert columns["values"] == [["1"], ["2"], ["3"]]


def test_clear_empties_the_range(server: SheetsServer, api) -> None:
    session, base = api
    response = session.post(f"{base}/values/{requests.utils.quote('A1:B1', safe='')}:clear")
    assert response.json()["clearedRange"] == "BESS!A1:B1"
    assert server.cells(SID, "BESS") == {"C1": 3}


def test_injected_faults_then_normal_service(server: SheetsServer, api) -> None:
    session, base = api
    server.inject([429, 500, 403, 200, Fault(delay=0.3), {"status": 503}])
    statuses = [session.get(f"{base}/values/A1", timeout=5).status_code for _ in range(3)]
    assert statuses == [429, 500, 403]
    assert session.get(f"{base}/values/A1", timeout=5).status_code == 200
    start = time.monotonic()
    assert session.get(f"{base}/values/A1", timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.3
    last = session.get(f"{base}/values/A1", timeout=5)
    assert _error(last)["status"] == "UNAVAILABLE"
    assert session.get(f"{base}/values/A1", timeout=5).status_code == 200
    log = server.requests
    assert [r.status for r in log] == [429, 500, 403, 200, 200, 503, 200]
    assert {r.kind for r in log} == {"values.get"}


def test_faulted_write_is_not_applied(server: SheetsServer, api) -> None:
    session, base = api
    server.inject([500])
    body = {"valueInputOption": "RAW", "data": [{"range": "A9", "values": [["x"]]}]}
    assert session.post(f"{base}/values:batchUpdate", json=body, timeout=5).status_code == 500
    assert "A9" not in server.cells(SID, "BESS")
    [write] = server.writes(SID)
    assert (write.status, write.applied) == (500, False)




def test_command_line_server_for_node_tests(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    command = [sys.executable, "-m", "tests.sheets_server", "--port", "0"]
    command += ["--key-file", str(key_file), "--spreadsheet", "node-sheet"]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert json.loads(key_file.read_text())["token_uri"] == info["url"] + "/token"
        headers = {"Authorization": f"Bearer {info['token']}"}
        base = f"{info['url']}/v4/spreadsheets/node-sheet"
        put = requests.put(
            f"{base}/values/BESS!B6",
            params={"valueInputOption": "USER_ENTERED"},
            json={"values": [["1405566778899"]]},
            headers=headers,
            timeout=5,
        )
        assert put.status_code == 200
        cells = requests.get(
            f"{info['url']}/_test/spreadsheets/node-sheet/BESS/cells?formatted=1", timeout=5
        ).json()
        assert cells == {"B6": "1.40557E+12"}
        requests.post(f"{info['url']}/_test/inject", json={"faults": [429]}, timeout=5)
        assert requests.get(f"{base}/values/B6", headers=headers, timeout=5).status_code == 429
        log = requests.get(f"{info['url']}/_test/requests", timeout=5).json()
        assert [(r["kind"], r["status"]) for r in log] == [
            ("values.update", 200),
            ("values.get", 429),
        ]
    finally:
        process.terminate()
        process.wait(10)
