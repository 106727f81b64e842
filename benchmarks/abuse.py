"""The worst inputs of issue 13 against `bess-duos serve` (gunicorn) on loopback.

Run: .venv/bin/python benchmarks/abuse.py [--threads 8] [--processes 0] [--skip-slow]

Starts a loopback HTTP server holding the hostile profile files (tests/abuse_files.py) and
`bess-duos serve --processes 0` (everything in the one gunicorn worker, so its figures are the
request's; `--processes N` parses and computes in N compute processes, and CPU is then summed
over the worker and them) with the test-only loopback allowance for that server's port. Then
sends each input as one signed `/lookup` (`write: false`) and prints, per request: the answer,
wall time, CPU seconds (/proc/<pid>/stat), peak memory (VmHWM, reset before each request via
/proc/<pid>/clear_refs) and `/health` latency meanwhile (polled every 50 ms from another
thread). With `--processes 0` a CPU-bound parse shares the worker's GIL with `/health`, which
then waits tens of milliseconds (more on a busy machine); compute processes keep it at a few.
Targets: under 1 s CPU and 300 MB per request, `/health` under 100 ms.

Last, one and then eight links that trickle their headers a byte a second (as many as the
server's threads): the one fetch deadline (20 s) ends each, and at most four are fetched at once
(the rest are refused at once), so `/health` always finds a free thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bess_duos.webhook.auth import signed_headers  # noqa: E402

from tests.abuse_files import (  # noqa: E402
    far_cell_xlsx,
    million_row_xlsx,
    wide_csv,
    xlsx_from_rows,
)

SECRET = "abuse-benchmark-secret-0123456789abcdef"
MPAN = "1405566778898"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TARGET_CPU_S = 1.0
TARGET_PEAK_MB = 300.0
TARGET_HEALTH_MS = 100.0
TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Files:
    """Loopback HTTP server: path -> (bytes, content type); `/trickle` sends headers slowly."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.startswith("/trickle"):
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nX-Slow: " \
                                + b"a" * 100:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(1.0)
                    except OSError:
                        pass
                    return
                body, kind = outer.bodies[self.path]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, path: str, body: bytes, kind: str = "text/csv") -> str:
        self.bodies[path] = (body, kind)
        return f"http://127.0.0.1:{self.port}{path}"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class HealthPoller:
    """Polls /health every 50 ms in a thread; keeps the latencies (ms)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            with contextlib.suppress(requests.RequestException):
                requests.get(self.url + "/health", timeout=60)
            self.latencies.append((time.perf_counter() - began) * 1000)
            self._stop.wait(0.05)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _signed_post(url: str, raw: bytes, timeout: float = 120) -> requests.Response:
    return requests.post(url + "/lookup", data=raw, timeout=timeout,
                         headers={**signed_headers(SECRET, raw),
                                  "Content-Type": "application/json"})


def _cases(files: Files) -> list[tuple[str, Callable[[], bytes]]]:
    def body(**fields: Any) -> Callable[[], bytes]:
        return lambda: json.dumps({"write": False, **fields}).encode()

    year_one = b"timestamp,kwh\n0001-01-01T00:00:00Z,1\n0001-01-01T00:30:00Z,2\n"
    times = pd.date_range("2020-01-01", periods=119_000, freq="30min")
    dateutil = pd.DataFrame({"timestamp": times.strftime("%b %d %Y %I:%M%p"), "kwh": 1.0})
    largest = pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "kwh": np.round(np.random.default_rng(1).random(times.size), 3)})
    header_only = b",".join(b"%x" % i for i in range(2_900_000)) + b"\n"
    xlsx_rows = (b'<row r="1"><c r="A1" t="inlineStr"><is><t>timestamp</t></is></c>'
                 b'<c r="B1" t="inlineStr"><is><t>kwh</t></is></c></row>' + b"".join(
                     b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c>'
                     b'<c r="B%d"><v>1.5</v></c></row>' % (i + 2, i + 2, stamp.encode(), i + 2)
                     for i, stamp in enumerate(times[:29_990].strftime("%Y-%m-%dT%H:%M:%SZ"))))
    links = {
        "year-1 timestamps": files.add("/year1.csv", year_one),
        "CSV, 1 M columns": files.add("/wide1m.csv", wide_csv(1_000_000)),
        "CSV, 2.9 M columns": files.add("/wide29m.csv", header_only),
        "XLSX, 1 M rows": files.add("/rows.xlsx", million_row_xlsx(), XLSX),
        "XLSX, a cell at XFD1048576": files.add("/far.xlsx", far_cell_xlsx(), XLSX),
        "CSV, 119 k AM/PM dates (dateutil)": files.add("/ampm.csv",
                                                       dateutil.to_csv(index=False).encode()),
        "XLSX, 29,990 half hours (largest accepted)": files.add(
            "/largest.xlsx", xlsx_from_rows(xlsx_rows), XLSX),
        "CSV, 119 k half hours (largest accepted)": files.add(
            "/largest.csv", largest.to_csv(index=False).encode()),
    }
    cases: list[tuple[str, Callable[[], bytes]]] = [
        ("MPAN of 65,500 digits", body(mpan="1" * 65_500)),
        ("kva = 10^309 (JSON integer)",
         lambda: b'{"write": false, "mpan": "%s", "kva": 1%s}' % (MPAN.encode(), b"0" * 309)),
        ("MPAN 1e999999999999999999", body(mpan="1e999999999999999999")),
        ("link https://[::1/x", body(mpan=MPAN, profile_url="https://[::1/x")),
    ]
    for label, link in links.items():
        cases.append((f"{label} ({len(files.bodies[link.split(str(files.port))[1]][0]) / 2**20:.1f}"
                      " MB)", body(mpan=MPAN, profile_url=link)))
    return cases


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the gunicorn worker and its compute processes)."""
    found = [pid]
    for child in _children(pid):
        found.extend(_tree(child))
    return found


def _measure(url: str, worker: int, raw: bytes) -> dict[str, Any]:
    processes = _tree(worker)
    for pid in processes:
        _reset_peak(pid)
    cpu = sum(_cpu_seconds(pid) for pid in processes)
    began = time.perf_counter()
    with HealthPoller(url) as health:
        response = _signed_post(url, raw)
    wall = time.perf_counter() - began
    text = response.json().get("error") or response.json().get("status") or ""
    return {"status": response.status_code, "wall_s": wall,
            "cpu_s": sum(_cpu_seconds(pid) for pid in processes) - cpu,
            "peak_mb": max(_peak_mb(pid) for pid in processes),
            "health_max_ms": max(health.latencies, default=float("nan")),
            "health_n": len(health.latencies), "answer": str(text)[:70]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--skip-slow", action="store_true", help="skip the 20 s trickle part")
    parser.add_argument("--processes", type=int, default=0,
                        help="compute processes (default 0: all in the worker; CPU is summed "
                        "over the worker and its compute processes, peak is the largest one)")
    args = parser.parse_args(argv)
    files = Files()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="bess-abuse-"))
    env = {**os.environ, "BESS_DUOS_WEBHOOK_SECRET": SECRET,
           "BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS": str(files.port),
           "BESS_DUOS_WORKBOOK": str(folder / "bess.xlsx")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "bess_duos.webhook.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--threads", str(args.threads), "--processes", str(args.processes)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        workers = _children(serve.pid)
        if len(workers) != 1:
            print(f"expected one gunicorn worker, found {workers}")
            return 1
        worker = workers[0]
        _signed_post(url, json.dumps({"mpan": MPAN, "write": False}).encode())  # warm up
        print(f"bess-duos serve on {url} (worker pid {worker}, {args.threads} threads, "
              f"--processes {args.processes}); targets: CPU < 1 s, peak < 300 MB, /health < "
              "100 ms\n")
        print(f"{'input':52} {'HTTP':>4} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} "
              f"{'/health max ms':>14}  answer")
        failures = 0
        for label, make in _cases(files):
            row = _measure(url, worker, make())
            ok = (row["status"] < 500 and row["cpu_s"] < TARGET_CPU_S
                  and row["peak_mb"] < TARGET_PEAK_MB and row["health_max_ms"] < TARGET_HEALTH_MS)
            failures += not ok
            print(f"{label:52} {row['status']:>4} {row['wall_s']:>7.2f} {row['cpu_s']:>6.2f} "
                  f"{row['peak_mb']:>8.0f} {row['health_max_ms']:>14.0f}  "
                  f"{'' if ok else 'OVER TARGET: '}{row['answer']}")
        if not args.skip_slow:
            failures += _trickles(url, files, args.threads)
        print(f"\n{'every target met' if not failures else f'{failures} row(s) over a target'}")
        return 0 if not failures else 1
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
        files.httpd.shutdown()


def _trickles(url: str, files: Files, threads: int) -> int:
    """One and then `threads` header-trickling links at once: time to the 422, /health."""
    failures = 0
    for count in (1, threads):
        bodies = [json.dumps({"mpan": MPAN, "write": False, "profile_url":
                              f"http://127.0.0.1:{files.port}/trickle{i}"}).encode()
                  for i in range(count)]
        began = time.perf_counter()
        with HealthPoller(url) as health, ThreadPoolExecutor(count) as pool:
            answers = list(pool.map(lambda raw: _signed_post(url, raw), bodies))
        wall = time.perf_counter() - began
        codes = sorted({a.status_code for a in answers})
        p50 = statistics.median(health.latencies) if health.latencies else float("nan")
        worst = max(health.latencies, default=float("nan"))
        label = f"{count} link(s) trickling headers at 1 byte/s"
        ok = worst < TARGET_HEALTH_MS
        failures += not ok
        print(f"{label:52} {codes!s:>4} {wall:>7.1f}    (fetch deadline 20 s)  /health "
              f"median {p50:.0f} ms, max {worst:.0f} ms{'' if ok else '  OVER TARGET'}")
    return failures


if __name__ == "__main__":
    sys.exit(main())
