"""MPAN core validation speed: `core.mpan.check_digits_valid` vs the `mpan` package, same run.

Run: `python benchmarks/bench_mpan.py [N_VECTOR] [N_PACKAGE]` (defaults 2,000,000 and 100,000).
Single-threaded (BLAS/OpenMP threads pinned to 1). Target: >= 2 million cores/s and >= 50x.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import mpan as mpan_pkg  # noqa: E402
import numpy as np  # noqa: E402
from bess_duos.core.mpan import check_digits_valid, generate_cores  # noqa: E402


def _sample(n: int, seed: int) -> np.ndarray:
    """n cores of distributors 10-23, every third with its check digit changed."""
    rng = np.random.default_rng(seed)
    parts = [generate_cores(n // 14 + 1, did, seed + did) for did in range(10, 24)]
    cores = rng.permutation(np.concatenate(parts))[:n]
    codes = cores.view(np.uint32).reshape(n, 13).copy()
    bump = np.arange(n) % 3 == 0
    codes[bump, 12] = (codes[bump, 12] - 48 + 1) % 10 + 48
    return codes.view("<U13").reshape(-1)


def _best_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv: list[str]) -> int:
    n_vec = int(argv[0]) if argv else 2_000_000
    n_pkg = int(argv[1]) if len(argv) > 1 else 100_000
    cores = _sample(n_vec, seed=377)
    as_int = cores.astype(np.int64)
    as_bytes = cores.astype("S13")
    sub = cores[:n_pkg].tolist()

    ours = check_digits_valid(cores)
    theirs = np.array([mpan_pkg.MPAN(c).is_valid for c in sub])
    if not np.array_equal(ours[:n_pkg], theirs):
        print("MISMATCH between core.mpan and the mpan package", file=sys.stderr)
        return 1

    rates = {
        "numpy, '<U13' strings": _best_rate(lambda: check_digits_valid(cores), n_vec, 3),
        "numpy, 'S13' bytes": _best_rate(lambda: check_digits_valid(as_bytes), n_vec, 3),
        "numpy, int64": _best_rate(lambda: check_digits_valid(as_int), n_vec, 3),
    }
    pkg = _best_rate(lambda: [mpan_pkg.MPAN(c).is_valid for c in sub], n_pkg, 2)
    gen = _best_rate(lambda: generate_cores(n_vec, 14, seed=1), n_vec, 1)

    print(f"cores: {n_vec:,} (numpy paths), {n_pkg:,} (mpan package); "
          f"{int((~ours).sum()):,} invalid; results agree with the package")
    print(f"{'path':<26} {'cores/s':>14} {'vs mpan package':>16}")
    for name, rate in rates.items():
        print(f"{name:<26} {rate:>14,.0f} {rate / pkg:>15.1f}x")
    print(f"{'mpan package (per item)':<26} {pkg:>14,.0f} {1:>15.1f}x")
    print(f"{'generate_cores (unique)':<26} {gen:>14,.0f}")
    headline = rates["numpy, '<U13' strings"]
    ok = headline >= 2_000_000 and headline / pkg >= 50
    print(f"target >= 2,000,000 cores/s and >= 50x: {'met' if ok else 'NOT met'} "
          f"({headline:,.0f} cores/s, {headline / pkg:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
