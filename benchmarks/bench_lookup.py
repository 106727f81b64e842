"""One cold lookup's own work: `run_lookup` of a loaded one-year profile, memos cleared, less
the flexibility plan (timed apart: core/flexibility.py has its own benchmark).

Run: `python benchmarks/bench_lookup.py [--repeat 300]`. Single-threaded (BLAS pinned to 1);
min of --repeat runs (the machine is shared). The profile is `generate_profile("office",
180_000, start="2025-04-01", seed=5)` written as a CSV and read with `load_profile`, MPAN
1405566778898 (area 14), on 2026-11-30. Target (issue 18): <= 0.8 ms for the lookup less its
flexibility (area, tariff, memo key, DUoS, features, weekday load, the answer).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import bess_duos.core.valuation as valuation  # noqa: E402
from bess_duos.core.lookup import parse_inputs, run_lookup  # noqa: E402
from bess_duos.core.profiles import load_profile  # noqa: E402
from timing import loadavg, write_office_year  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "site.csv"
        write_office_year(csv)
        profile = load_profile(csv)
    flexibility = valuation._flexibility
    spent = [0.0]

    def timed(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return flexibility(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    valuation._flexibility = timed  # type: ignore[assignment]
    totals, without = [], []
    for _ in range(args.repeat + 5):
        valuation.clear_memos()
        spent[0] = 0.0
        start = time.perf_counter()
        run_lookup(parse_inputs({"mpan": "1405566778898"}), profile=profile,
                   on=dt.date(2026, 11, 30))
        total = time.perf_counter() - start
        totals.append(total)
        without.append(total - spent[0])
    valuation._flexibility = flexibility
    print(f"load average {loadavg()}")
    print(f"cold lookup, one year: {min(totals[5:]) * 1e3:.3f} ms; less its flexibility "
          f"{min(without[5:]) * 1e3:.3f} ms (target <= 0.8)")


if __name__ == "__main__":
    main()
