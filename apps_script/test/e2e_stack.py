"""The Python side of the Apps Script end-to-end test (apps_script/test/e2e.test.js).

`serve` (the default) starts, all on free loopback ports:

- the local Sheets API v4 test server (`tests.sheets_server.SheetsServer`) with one spreadsheet
  and a service-account key file whose `token_uri` points at it;
- a plain HTTP server for the site's half-hourly profile (a CSV made from the reference data);
- the Flask webhook, `bess-duos serve --dev`, as its own process, with the webhook secret, the
  key file, the Sheets API URL and the test-only loopback allowance for the profile's port in
  its environment;

then prints ONE JSON line (webhook_url, secret, sheet_key (the spreadsheet's own key),
sheets_url, token, spreadsheet_id, tab, profile_url, profile_path, webhook_log) and waits until
its stdin closes (or SIGTERM), then stops everything.

`expect --profile FILE --inputs JSON` prints the cells the lookup should write, computed by the
core functions (`core.lookup.parse_inputs` + `run_lookup` on the same profile file, then
`webhook.layout.result_fields`) and mapped to cells through config/sheet_layout.yaml:
{"C6": 14, ..., "A4": "warning", ...}; a cleared cell is "". The request id and time are left
out (they differ per request).

Run from the repository root with the project's virtualenv Python.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SPREADSHEET_ID = "1AppsScriptE2eBessSheet0000000000000000000"
TAB = "BESS"
SOURCE_PROFILE = "profiles/cambridge_estates/UCam_Building_b0_electricity_2019_hourly_kwh.csv"
VOLATILE_FIELDS = ("time", "request_id")


def write_profile(path: Path) -> Path:
    """A half-hourly UTC CSV from the reference hourly file (each hour's kWh halved)."""
    from bess_duos.core.paths import reference_data_dir

    source = reference_data_dir() / SOURCE_PROFILE
    start = calendar.timegm((2019, 1, 1, 0, 0, 0))
    with source.open(newline="") as handle, path.open("w", newline="") as out:
        reader = csv.reader(handle)
        next(reader)
        writer = csv.writer(out)
        writer.writerow(["timestamp", "kwh"])
        for i, row in enumerate(reader):
            kwh = float(row[1]) / 2
            for half in (0, 1800):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 3600 * i + half))
                writer.writerow([stamp, f"{kwh:.4f}"])
    return path


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ProfileHandler(SimpleHTTPRequestHandler):
    extensions_map = {".csv": "text/csv"}  # noqa: RUF012 (the stdlib's own class attribute)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_profile(folder: Path) -> ThreadingHTTPServer:
    """Serves `folder` over plain HTTP on loopback (the webhook allows only this port)."""
    handler = lambda *a, **k: _ProfileHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the webhook exited ({process.returncode}):\n{log_path.read_text()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"the webhook did not answer /health within 60 s:\n{log_path.read_text()}")


def serve() -> int:
    from bess_duos.webhook.auth import sheet_key

    from tests.sheets_server import SheetsServer

    folder = Path(tempfile.mkdtemp(prefix="bess-e2e-"))
    secret = "e2e-" + os.urandom(16).hex()
    profile = write_profile(folder / "site-profile.csv")
    profiles = serve_profile(folder)
    sheets = SheetsServer(0).start()
    sheets.add_spreadsheet(SPREADSHEET_ID, tabs={TAB: {}})
    key_file = sheets.key_file(folder / "service-account.json")
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BESS_DUOS_WEBHOOK_SECRET": secret,
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "BESS_DUOS_SHEETS_API_URL": sheets.url,
        "BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS": str(profiles.server_address[1]),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = folder / "webhook.log"
    with log_path.open("wb") as log:
        webhook = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bess_duos.webhook.cli",
                "serve",
                "--dev",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(*_: Any) -> None:
        webhook.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            webhook.wait(5)
        if webhook.poll() is None:
            webhook.kill()
        sheets.stop()
        profiles.shutdown()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_ready(webhook_url, webhook, log_path)
        print(
            json.dumps(
                {
                    "webhook_url": webhook_url,
                    "secret": secret,
                    "sheet_key": sheet_key(secret, SPREADSHEET_ID),
                    "sheets_url": sheets.url,
                    "token": sheets.issue_token(),
                    "spreadsheet_id": SPREADSHEET_ID,
                    "tab": TAB,
                    "profile_url": f"http://127.0.0.1:{profiles.server_address[1]}/{profile.name}",
                    "profile_path": str(profile),
                    "webhook_log": str(log_path),
                }
            ),
            flush=True,
        )
        sys.stdin.read()  # until the test closes our stdin (or exits)
    finally:
        stop()
    return 0


def _cells(a1_range: str) -> list[list[str]]:
    m = re.fullmatch(r"([A-Z]+)(\d+):([A-Z]+)(\d+)", a1_range)
    assert m, a1_range
    c1, r1, c2, r2 = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
    cols = [chr(c) for c in range(ord(c1), ord(c2) + 1)]
    return [[f"{c}{r}" for c in cols] for r in range(r1, r2 + 1)]


def expect(profile_path: Path, raw_inputs: dict[str, str]) -> dict[str, Any]:
    """The output cells the webhook should write for these inputs, from the core functions."""
    import yaml
    from bess_duos.core.lookup import parse_inputs, run_lookup
    from bess_duos.core.paths import config_dir
    from bess_duos.core.profiles import load_profile
    from bess_duos.webhook.layout import result_fields

    control = ("spreadsheet_id", "worksheet", "write")
    raw = {k: v for k, v in raw_inputs.items() if k not in control}
    inputs = parse_inputs(raw)
    profile = load_profile(profile_path) if inputs.profile_url else None
    fields = result_fields(run_lookup(inputs, profile=profile))
    layout = yaml.safe_load((config_dir() / "sheet_layout.yaml").read_text())
    out: dict[str, Any] = {}
    for block in layout["outputs"]:
        for names, cells in zip(block["fields"], _cells(block["range"]), strict=True):
            for name, cell in zip(names, cells, strict=True):
                if name in VOLATILE_FIELDS:
                    continue
                value = None if name is None else fields[name]
                out[cell] = "" if value is None else value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="start the stack and print its addresses (default)")
    exp = sub.add_parser("expect", help="print the cells the core functions give")
    exp.add_argument("--profile", type=Path, required=True)
    exp.add_argument("--inputs", required=True, help="the posted inputs, as JSON")
    args = parser.parse_args(argv)
    if args.command == "expect":
        print(json.dumps(expect(args.profile, json.loads(args.inputs))))
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main())
