"""`bess-duos postcode lookup --file` over 100,000 postcodes, offline (the table only).

Run: `python benchmarks/bench_postcodes.py [N]` (default 100,000). The postcodes are drawn from
the table's districts with random inward codes (so most hit a district row, the split
districts their sector rows, and some are unknown units of known sectors: all answered by the
table), plus 1% malformed ones. Times the command in-process after start-up (the parser
built, so every command module imported; the first call reads the table and the file, so
both are included), and once as a fresh process.
Target: under 1 s after start-up.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bess_duos.core.postcode_table import area_table
from bess_duos.webhook import cli

INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def sample(n: int, seed: int = 15) -> list[str]:
    """n postcodes: a table district, a random inward code; 1% malformed."""
    rng = np.random.default_rng(seed)
    districts = np.array(sorted(area_table().districts))
    outward = districts[rng.integers(0, len(districts), n)]
    digit = rng.integers(0, 10, n).astype(str)
    letters = INWARD_LETTERS[rng.integers(0, len(INWARD_LETTERS), (n, 2))]
    codes = [f"{o} {d}{a}{b}" for o, d, (a, b) in zip(outward, digit, letters, strict=True)]
    for i in rng.choice(n, n // 100, replace=False):
        codes[i] = codes[i][:-1]  # one character short
    return codes


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 100_000
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "postcodes.txt", Path(folder) / "areas.csv"
        source.write_text("\n".join(sample(n)) + "\n", encoding="utf-8")
        args = ["postcode", "lookup", "--file", str(source), "--offline", "--no-cache",
                "--output", str(out)]
        parser = cli.build_parser()  # start-up: imports every command module
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            parsed = parser.parse_args(args)
            assert parsed.func(parsed) == 0
            times.append(time.perf_counter() - t0)
        rows = sum(1 for _ in out.open(encoding="utf-8")) - 1
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bess_duos.webhook.cli", *args], check=True,
                       capture_output=True)
        cold = time.perf_counter() - t0
    best = min(times)
    print(f"{n:,} postcodes ({rows:,} rows out): first {times[0]:.3f} s, best {best:.3f} s "
          f"after start-up ({n / best:,.0f}/s); fresh process incl. start-up {cold:.2f} s")
    print("target < 1 s after start-up:", "met" if times[0] < 1.0 else "NOT met")
    return 0 if times[0] < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
