"""Load-shape features speed: one site-year, and many site-years sharing one index.

Run: `python benchmarks/bench_features.py [--sites 100] [--repeat 15]`. Single-threaded
(BLAS/OpenMP threads pinned to 1); times are the minimum of `--repeat` runs (the machine
is shared and noisy). Prints each figure beside its target (issue 18):
- `profile_features` of one year (office, 17,520 half hours): <= 0.8 ms, clock caches warm;
  also cold (the per-grid clock and groups cleared), as a lookup of a new profile pays it;
- `create_features_dataframe` of N sites sharing one index: <= 0.3 ms per site;
- the portfolio's case, N sites of one index in --band-sets DUoS band sets: one
  `create_features_dataframe` per band set (as before) against one `feature_rows` call.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bess_duos.core import bands, features  # noqa: E402
from bess_duos.core.synthetic import generate_profile  # noqa: E402
from timing import best_ms  # noqa: E402

SHEET = ("peak_ratio", "load_factor", "weekend_factor")  # core.valuation.FEATURE_FIELDS


def _best_ms(run: Callable[[], object], number: int, repeat: int) -> float:
    """`timing.best_ms` after one call (caches and allocator warmed)."""
    run()
    return best_ms(run, repeat, number)


def _cold(profile: pd.Series) -> Callable[[], object]:
    def run() -> object:
        features._regular_fields.cache_clear()
        bands._regular_clock.cache_clear()
        return features.profile_features(profile)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--band-sets", type=int, default=10)
    args = parser.parse_args()

    year = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    warm = _best_ms(lambda: features.profile_features(year), 100, args.repeat)
    cold = _best_ms(_cold(year), 20, args.repeat)
    print(f"profile_features, one year: {warm:.3f} ms warm (target <= 0.8), {cold:.3f} ms cold")
    sheet = _best_ms(lambda: features.profile_features(year, only=SHEET), 100, args.repeat)
    print(f"  only the sheet's {', '.join(SHEET)} (a lookup): {sheet:.3f} ms warm")

    rng = np.random.default_rng(0)
    profiles = {f"site{i:05d}": pd.Series(year.to_numpy() * rng.lognormal(0, 0.3, len(year)),
                                          index=year.index) for i in range(args.sites)}
    shared = np.where(np.arange(len(year)) % 48 >= 32, "red", "green")
    for label, given in (("no bands", None), ("shared bands", shared)):
        total = _best_ms(lambda g=given: features.create_features_dataframe(profiles, g), 3,
                         args.repeat)
        print(f"create_features_dataframe, {args.sites} site-years, {label}: {total:.2f} ms = "
              f"{total / args.sites:.4f} ms per site (target <= 0.3)")

    sets = max(1, min(args.band_sets, args.sites))
    red = rng.random((sets, len(year))) < 0.1
    code = np.arange(args.sites) % sets
    names = [np.where(mask, "red", "green") for mask in red]
    groups = [{s: profiles[s] for s, c in zip(profiles, code, strict=True) if c == k}
              for k in range(sets)]
    by_set = _best_ms(lambda: [features.create_features_dataframe(g, names[k])
                               for k, g in enumerate(groups)], 3, args.repeat)
    rows = [p.to_numpy() for p in profiles.values()]
    one = _best_ms(lambda: features.feature_rows(rows, year.index, list(profiles), red, code),
                   3, args.repeat)
    print(f"{args.sites} site-years in {sets} band sets: one create_features_dataframe per set "
          f"{by_set / args.sites:.4f} ms per site; one feature_rows "
          f"{one / args.sites:.4f} ms per site")


if __name__ == "__main__":
    main()
