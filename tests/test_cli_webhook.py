"""`bess-duos demo`, `lookup` and `serve` (serve as a real process, gunicorn and --dev)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from bess_duos.core.duos import duos_charges
from bess_duos.core.features import profile_features
from bess_duos.core.mpan import generate_core
from bess_duos.core.synthetic import generate_profile
from bess_duos.core.tariffs import resolve_tariff
from bess_duos.webhook.auth import signed_headers
from bess_duos.webhook.cli import main
from bess_duos.webhook.sheets import reset_ordering_state
from bess_duos.webhook.workbook_sheet import WorkbookSheet

REPO = Path(__file__).resolve().parents[1]
GOOD_14 = "1405566778898"


@pytest.fixture(autouse=True)
def _fresh_ordering_state() -> None:
    """Fresh sheet-write ordering state for every test."""
    reset_ordering_state()


def test_demo_writes_workbook_and_prints_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BESS_DUOS_WORKBOOK", raising=False)
    assert main(["demo", "--save-profile", "demo.csv"]) == 0
    out = capsys.readouterr().out
    assert "14 National Grid Electricity Distribution (West Midlands) plc (NGED-WM" in out
    assert "check digit WRONG (expected 8)" in out
    assert "WARNING: MPAN 1405566778899 has a wrong check digit" in out

    series = generate_profile("office", 250_000, start="2025-01-01", seed=0)
    tariff = resolve_tariff(14, on=dt.date.today())
    annual = duos_charges(series.to_frame("kwh"), tariff).summary.annualised_total_gbp
    features = profile_features(series)
    sheet = WorkbookSheet(tmp_path / "bess_sheet.xlsx")
    assert sheet.read_range("B6:B6") == [["00800999932 1405566778899"]]  # the MPAN as text
    assert sheet.read_range("A4:A4") == [["warning"]]
    assert sheet.read_range("C6:H6") == [[14, tariff_name(14), "NGED-WM", "MIDE", "_E",
                                          "Midlands"]]
    assert sheet.read_range("B9:D9") == [list(tariff.unit_rates_p_per_kwh)]
    e15 = sheet.read_range("E15:H15")[0]
    assert e15[0] == round(annual, 2)
    assert e15[1] == round(features.values["peak_ratio"], 4)
    assert f"{round(annual, 2):,.2f}" in out
    assert (tmp_path / "demo.csv").read_text().startswith("timestamp,kwh\n")


def tariff_name(distributor_id: int) -> str:
    from bess_duos.core.distributors import get_distributor

    return get_distributor(distributor_id).name


def test_lookup_json_no_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["lookup", "--mpan", GOOD_14, "--voltage", "HV", "--kva", "900",
                 "--date", "2026-11-24", "--no-write", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    expected = resolve_tariff(14, on=dt.date(2026, 11, 24), voltage="HV", kva=900)
    assert data["status"] == "ok" and data["written"] is None
    assert data["fields"]["red_rate_p_per_kwh"] == expected.red_rate
    assert data["tariff"]["name"] == expected.tariff_name
    assert list(tmp_path.iterdir()) == []


def test_lookup_with_profile_file_writes_given_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = generate_profile("retail", 120_000, start="2025-06-01", end="2025-07-01", seed=2)
    csv = tmp_path / "site.csv"
    series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        csv, date_format="%Y-%m-%dT%H:%M:%SZ")
    book = tmp_path / "out.xlsx"
    code = main(["lookup", "--mpan", GOOD_14, "--profile", str(csv), "--sheet", str(book),
                 "--date", "2026-11-24", "--flex", "10%"])
    assert code == 0, capsys.readouterr().err
    tariff = resolve_tariff(14, on=dt.date(2026, 11, 24))
    annual = duos_charges(series.to_frame("kwh"), tariff).summary.annualised_total_gbp
    assert WorkbookSheet(book).read_range("E15:E15") == [[round(annual, 2)]]
    assert "Annual DUoS £" in capsys.readouterr().out


def test_lookup_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "out.xlsx"
    assert main(["lookup", "--mpan", "12AB", "--kva", "-1", "--sheet", str(book)]) == 2
    err = capsys.readouterr().err
    assert "error: mpan:" in err and "error: kva:" in err
    assert WorkbookSheet(book).read_range("A4:A4") == [["error"]]
    assert main(["lookup", "--no-write"]) == 2
    assert "error: no site given: give --mpan or --postcode" in capsys.readouterr().err
    # a missing profile file is bad input (2), as for `duos`
    assert main(["lookup", "--mpan", GOOD_14, "--profile", str(tmp_path / "none.csv"),
                 "--no-write"]) == 2
    assert "none.csv' not found" in capsys.readouterr().err
    # a link that breaks a fetch rule (here: a loopback address) is bad input (2)
    port = _free_port()
    assert main(["lookup", "--mpan", GOOD_14, "--profile", f"https://127.0.0.1:{port}/p.csv",
                 "--no-write"]) == 2  # loopback: refused by the address rule
    assert "public addresses only" in capsys.readouterr().err


def test_serve_refuses_without_secret(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BESS_DUOS_WEBHOOK_SECRET", raising=False)
    assert main(["serve", "--port", "1"]) == 2
    assert "--insecure-dev" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _file_server(folder: Path) -> Iterator[int]:
    """Plain HTTP on 127.0.0.1 serving `folder` (a profile link to try by hand)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", [[], ["--dev"]], ids=["gunicorn", "dev"])
def test_serve_runs_for_real(mode: list[str], tmp_path: Path) -> None:
    """Both servers answer; only `--dev` fetches an http://127.0.0.1 profile link (issue 20
    item 8), and its start-up line says so."""
    port = _free_port()
    series = generate_profile("office", 100_000, start="2025-06-01", end="2025-07-01", seed=4)
    series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        tmp_path / "site.csv", date_format="%Y-%m-%dT%H:%M:%SZ")
    env = {**os.environ, "BESS_DUOS_WEBHOOK_SECRET": "s" * 32, "BESS_DUOS_WORKBOOK":
           str(tmp_path / "w.xlsx")}
    env.pop("BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bess_duos.webhook.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), *mode],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.RequestException:  # not bound yet, or still loading the app
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        assert requests.post(f"http://127.0.0.1:{port}/lookup", json={"mpan": GOOD_14},
                             timeout=5).status_code == 401
        with _file_server(tmp_path) as files:
            body = json.dumps({"mpan": GOOD_14, "write": False,
                               "profile_url": f"http://127.0.0.1:{files}/site.csv"}).encode()
            answer = requests.post(f"http://127.0.0.1:{port}/lookup", data=body, timeout=60,
                                   headers={"Content-Type": "application/json",
                                            **signed_headers("s" * 32, body)})
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    assert any(line.get("path") == "/health" and line.get("status") == 200 for line in lines)
    started = [line["message"] for line in lines
               if line.get("message", "").startswith("bess-duos serve: listening on")]
    assert started and f"http://127.0.0.1:{port}" in started[0]
    if mode:  # --dev: the loopback link is fetched, and the figure is the profile's
        assert "DEV MODE: profile links may be http://127.0.0.1" in started[0]
        assert answer.status_code == 200, answer.text
        tariff = resolve_tariff(14, on=dt.date.today())
        annual = duos_charges(series.to_frame("kwh"), tariff).summary.annualised_total_gbp
        assert answer.json()["fields"]["annual_duos_gbp"] == round(annual, 2)
    else:  # production rules: HTTPS only
        assert "DEV MODE" not in started[0]
        assert answer.status_code == 422 and "HTTPS only" in answer.text


def test_lookup_writes_google_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`--spreadsheet-id`: the service account from the environment, gspread, one write."""
    from bess_duos.webhook import google_sheet

    from tests.sheets_server import SheetsServer

    with SheetsServer() as sheets:
        sheets.add_spreadsheet("1CliSheet-test", tabs={"BESS": {}})
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sheets.key_file(tmp_path)))
        monkeypatch.setenv("BESS_DUOS_SHEETS_API_URL", sheets.url)
        monkeypatch.delenv("BESS_DUOS_SPREADSHEET_ALLOWLIST", raising=False)
        monkeypatch.setattr(google_sheet, "_default_client", None)
        code = main(["lookup", "--mpan", GOOD_14, "--spreadsheet-id", "1CliSheet-test",
                     "--worksheet", "BESS", "--date", "2026-11-24"])
        assert code == 0, capsys.readouterr().err
        cells = sheets.cells("1CliSheet-test", "BESS")
        tariff = resolve_tariff(14, on=dt.date(2026, 11, 24))
        assert (cells["A4"], cells["C6"], cells["B9"]) == ("ok", 14, tariff.red_rate)
        assert len(sheets.writes("1CliSheet-test")) == 1
        assert "Written to        google:1CliSheet-test/BESS" in capsys.readouterr().out


@pytest.mark.parametrize(("cores", "dev", "expected"), [(2, False, 2), (4, False, 4),
                                                       (1, False, 0), (2, True, 0)])
def test_serve_defaults_to_one_compute_process_per_core(
    monkeypatch: pytest.MonkeyPatch, cores: int, dev: bool, expected: int
) -> None:
    from bess_duos.webhook.cli import build_parser
    from bess_duos.webhook.cli.site import default_processes

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    args = build_parser().parse_args(["serve", *(["--dev"] if dev else [])])
    assert args.processes is None
    assert default_processes(args) == expected


def test_lookup_gsp_group_for_an_idno_site_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BESS_DUOS_CACHE_DIR", str(tmp_path / "cache"))
    idno = generate_core(25)
    code = main(["lookup", "--mpan", idno, "--gsp-group", "e", "--offline", "--no-write",
                 "--json", "--date", "2026-11-24"])
    assert code == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert data["site_area"]["source"] == "gsp_group" and data["status"] == "ok"
    assert (data["fields"]["distributor_id"], data["fields"]["gsp_group_id"]) == (25, "_E")
    tariff = resolve_tariff(25, on=dt.date(2026, 11, 24), area_distributor_id=14)
    assert data["fields"]["red_rate_p_per_kwh"] == tariff.red_rate
    # the same site by postcode alone, offline: the offline table places it
    assert main(["lookup", "--mpan", idno, "--postcode", "B1 1AA", "--offline", "--no-write",
                 "--json", "--date", "2026-11-24"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["site_area"]["source"], data["fields"]["gsp_group_id"]) == ("postcode", "_E")
    # a postcode the table is uncertain about (RM6 5: 63% London, 37% Eastern), offline: the
    # advice is the GSP group, not the MPAN
    assert main(["lookup", "--mpan", idno, "--postcode", "RM6 5AA", "--offline",
                 "--no-write"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: postcode: ") and "an IDNO" in err
    assert "_C London 63.3% or _A Eastern 36.6%" in err
    assert err.rstrip().endswith("enter the site's GSP group (e.g. _E)")
    assert "enter the MPAN" not in err
    assert main(["lookup", "--gsp-group", "_Q", "--no-write"]) == 2
    assert "error: gsp_group: unknown GSP group '_Q'" in capsys.readouterr().err


def test_lookup_csv_and_demo_json_print_the_result_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    monkeypatch.chdir(tmp_path)
    code = main(["lookup", "--mpan", GOOD_14, "--voltage", "HV", "--kva", "900",
                 "--date", "2026-11-24", "--no-write", "--csv"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    expected = resolve_tariff(14, on=dt.date(2026, 11, 24), voltage="HV", kva=900)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert float(rows[0]["tariff.red_rate_p_per_kwh"]) == expected.red_rate
    assert rows[0]["tariff.name"] == expected.tariff_name
    # demo --json: the JSON alone on stdout (no "Demo: ..." line before it)
    assert main(["demo", "--no-write", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fields"]["distributor_id"] == 14 and data["status"] == "warning"


def test_json_errors_are_json_on_stdout_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lookup", "--mpan", "12AB", "--no-write", "--json"]) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert (data["ok"], data["exit_code"], data["error"]) == (False, 2, "bad_input")
    assert data["message"].startswith("mpan: ") and captured.err.startswith("error: mpan: ")
