"""CI: what a deployment does with the wheel, run from a folder outside the checkout.

Run with the python of a fresh virtualenv into which only the built wheel was installed
(`.ci/run` does it). Checks: nothing generic at the top of site-packages; `dno list`,
`tariffs show --json`, `demo` (C6 of the written workbook is 14); a signed /lookup against
`bess-duos serve` on loopback. Exits non-zero with one line naming the failed step.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN / "bess-duos")
SECRET = "ci-wheel-smoke-secret-0123456789abcdef"


def step(name: str, ok: bool, detail: str = "") -> None:
    print(f"wheel smoke: {name}: {'ok' if ok else 'FAILED'} {detail}".rstrip(), flush=True)
    if not ok:
        sys.exit(1)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bess-duos-wheel-"))
    os.chdir(work)
    for name in ("core", "webhook", "config"):
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
        step(f"'import {name}' fails", probe.returncode != 0)

    from importlib.resources import files

    shipped = Path(str(files("bess_duos.config")))
    repo = Path(__file__).resolve().parents[1] / "config"

    def data(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and p.suffix in (".csv", ".yaml")}

    missing = data(repo) - data(shipped)
    step("every config/ data file ships in the wheel", not missing,
         f"({len(data(shipped))} files; missing e.g. {sorted(missing)[:3]})")

    listed = run("dno", "list")
    step("dno list", listed.returncode == 0 and "NGED" in listed.stdout, listed.stderr[-300:])

    shown = run("tariffs", "show", "--dno", "14", "--voltage", "HV", "--json")
    ok = shown.returncode == 0
    if ok:
        data = json.loads(shown.stdout)
        ok = "red" in json.dumps(data).lower()
    step("tariffs show --json", ok, shown.stderr[-300:])

    demo = run("demo")
    step("demo", demo.returncode == 0, demo.stderr[-300:])
    import openpyxl

    c6 = openpyxl.load_workbook(work / "bess_sheet.xlsx").worksheets[0]["C6"].value
    step("demo wrote C6 = 14", str(c6) == "14", f"(C6 = {c6!r})")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"BESS_DUOS_WEBHOOK_SECRET": SECRET, "BESS_DUOS_WORKBOOK": str(work / "served.xlsx")}
    server = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    ready = json.load(r)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    step("serve starts", False, server.stderr.read().decode()[-500:])
                time.sleep(0.3)
        step("serve /ready", ready.get("status") == "ready", json.dumps(ready))
        from bess_duos.webhook.auth import signed_headers

        body = json.dumps({"mpan": "1405566778898", "kva": 300}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/lookup", data=body, method="POST",
            headers={**signed_headers(SECRET, body), "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            result = json.load(answer)
        fields = result.get("fields", {})
        step("signed /lookup", fields.get("distributor_id") == 14 and result.get("written"),
             f"(distributor {fields.get('distributor_id')!r})")
    finally:
        server.terminate()
        server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
