"""Only `serve` imports Flask: every other command runs in a fresh interpreter without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

GOOD_14 = "1405566778898"


def test_no_command_but_serve_imports_flask(tmp_path: Path) -> None:
    profile, book = tmp_path / "site.csv", tmp_path / "book.xlsx"
    mpans = tmp_path / "mpans.txt"
    mpans.write_text(f"{GOOD_14}\n", encoding="utf-8")
    commands = [
        (["mpan", "parse", GOOD_14, "--json"], 0),
        (["mpan", "validate", str(mpans), "--csv"], 0),
        (["mpan", "generate", "--dno", "14", "-n", "2"], 0),
        (["dno", "show", "14"], 0),
        (["dno", "list", "--json"], 0),
        (["profile", "generate", "--archetype", "office", "--kwh-per-year", "100000",
          "--start", "2026-06-01", "--end", "2026-06-15", "--out", str(profile)], 0),
        (["profile", "features", str(profile)], 0),
        (["battery", "optimise", "--profile", str(profile), "--flat-price", "5",
          "--power-kw", "10", "--energy-kwh", "20", "--block", "day"], 0),
        (["tariffs", "show", "--dno", "14", "--voltage", "HV", "--date", "2026-11-24"], 0),
        (["tariffs", "list", "--csv"], 0),
        (["postcode", "lookup", "B1 1AA", "--offline", "--cache-dir", str(tmp_path / "c")], 0),
        (["duos", str(profile), "--dno", "14", "--voltage", "HV", "--kva", "300"], 0),
        (["lookup", "--mpan", GOOD_14, "--voltage", "HV", "--profile", str(profile),
          "--sheet", str(book), "--date", "2026-11-24"], 0),
        (["lookup", "--mpan", GOOD_14, "--profile", "https://127.0.0.1:9/p.csv",
          "--no-write"], 2),  # the link path (refused: loopback) without Flask too
        (["demo", "--sheet", str(tmp_path / "demo.xlsx"), "--json"], 0),
        (["portfolio", "demo", "--sites", "3", "--days", "7", "--out",
          str(tmp_path / "pf"), "--run", "--workers", "1", "--no-progress"], 0),
    ]
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from bess_duos.webhook.cli import main
        codes = []
        for argv in {[c for c, _ in commands]!r}:
            with contextlib.redirect_stdout(io.StringIO()), \\
                    contextlib.redirect_stderr(io.StringIO()):
                codes.append(main(argv))
        print(json.dumps({{"codes": codes, "flask": sorted(
            m for m in sys.modules if m == "flask" or m.startswith("flask."))}}))
    """)
    env = {**os.environ, "BESS_DUOS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["codes"] == [code for _, code in commands]
    assert report["flask"] == []
