"""Analytics speed: features per second for 1,000 site-years, and one site-year of battery LP/MILP.

Run: .venv/bin/python benchmarks/bench_analytics.py [--sites 1000] [--baseline-sites 20]
     [--battery-only]

Features: `create_features_dataframe` over N synthetic site-years sharing one index (stacked
into one [sites, half hours] array), against a naive per-site pandas implementation (groupby
per feature, Series.autocorr) timed on a sample and reported as a ratio of sites per second.
Battery: `optimise_battery` on one synthetic office year with illustrative three-rate prices,
in weekly blocks (the default), daily blocks and one whole-year LP (no export: a plain LP;
target under 1 s cold in weekly blocks). Then the same year with export (target: MILP under
5 s, gap under 0.1%): import = DUoS + an illustrative energy price with negative prices on
summer weekend middays, export earning that energy price (binaries only where charging and
discharging at once could pay, before a negative price); and a harder variant where export
also earns 0.7 p in green half hours, so it beats import every night.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from bess_duos.core.bess import Battery, optimise_battery
from bess_duos.core.features import create_features_dataframe
from bess_duos.core.flexibility import calculate_flexibility_value
from bess_duos.core.synthetic import ARCHETYPES, generate_profile


def _portfolio(n_sites: int, seed: int = 0) -> dict[str, pd.Series]:
    """N site-years: the archetypes with per-site scale and multiplicative noise."""
    bases = [generate_profile(name, 1.0, "2025-01-01", seed=i) for i, name in
             enumerate(ARCHETYPES)]
    index = bases[0].index
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(bases), n_sites)
    matrix = np.vstack([b.to_numpy() for b in bases])[pick]
    matrix *= rng.lognormal(0.0, 0.05, matrix.shape) * rng.uniform(5e4, 5e6, (n_sites, 1))
    return {f"site{i:05d}": pd.Series(matrix[i], index=index) for i in range(n_sites)}


def naive_features(profile: pd.Series) -> dict[str, float]:
    """Per-site pandas version of the same features (the baseline)."""
    local = profile.tz_convert("Europe/London")
    hour = local.index.hour + local.index.minute / 60
    weekend = local.index.day_of_week >= 5
    month = local.index.month
    mean, peak = profile.mean(), profile.max()
    day = (hour >= 7) & (hour < 23)
    daily = local.groupby([local.index.hour, local.index.minute]).mean()
    top = daily.idxmax()
    return {
        "peak_ratio": peak / mean,
        "load_factor": mean / peak,
        "weekend_factor": profile[weekend].mean() / profile[~weekend].mean(),
        "day_night_ratio": profile[day].mean() / profile[~day].mean(),
        "base_load_ratio": profile.quantile(0.05) / mean,
        "seasonal_ratio": profile[np.isin(month, [11, 12, 1, 2])].mean()
        / profile[np.isin(month, [5, 6, 7, 8])].mean(),
        "autocorr_24h": profile.autocorr(48),
        "autocorr_168h": profile.autocorr(336),
        "peak_time_h": top[0] + top[1] / 60,
    }


def _prices(index: pd.DatetimeIndex) -> np.ndarray:
    local = index.tz_convert("Europe/London")
    weekday = local.day_of_week < 5
    red = weekday & (local.hour >= 16) & (local.hour < 19)
    amber = weekday & (local.hour >= 7) & (local.hour < 21)
    return np.where(red, 20.0, np.where(amber, 3.0, 0.5))  # illustrative p/kWh


def _energy_prices(index: pd.DatetimeIndex) -> np.ndarray:
    """Illustrative energy p/kWh: 8 at night, 12 by day, 18 at 16-19; -2 on summer weekend
    middays (11-15, May-August)."""
    local = index.tz_convert("Europe/London")
    hour = local.hour
    price = np.where((hour >= 7) & (hour < 23), 12.0, 8.0) + np.where(
        (hour >= 16) & (hour < 19), 6.0, 0.0)
    sunny = (local.month >= 5) & (local.month <= 8) & (local.day_of_week >= 5) & (
        hour >= 11) & (hour < 15)
    return np.where(sunny, -2.0, price)


def bench_battery() -> None:
    """One site-year: the LP without export, then the MILP with export."""
    load = generate_profile("office", 500_000, "2025-01-01", seed=1)
    prices = _prices(load.index)
    battery = Battery(100, 200, 0.90, soc_min=0.1, soc_max=0.9, initial_soc=0.5)
    for block in ("week", "day", "year"):
        started = time.perf_counter()
        r = optimise_battery(load, battery, prices, block=block)
        elapsed = time.perf_counter() - started
        print(f"battery LP, no export, one site-year, {block:>4} blocks ({r.blocks:>3}): "
              f"{elapsed:.2f} s, saving £{r.saving_gbp:,.2f}, "
              f"{r.equivalent_full_cycles:.0f} cycles, binaries {r.binaries}")
    energy = _energy_prices(load.index)
    green = np.where(prices == 0.5, 0.7, 0.0)
    for label, export in (("export at the energy price", energy),
                          ("export + 0.7 p in green", energy + green)):
        relaxed = optimise_battery(load, battery, prices + energy, export_prices=export,
                                   binaries="none")
        started = time.perf_counter()
        r = optimise_battery(load, battery, prices + energy, export_prices=export)
        elapsed = time.perf_counter() - started
        gap = "none (LP)" if r.mip_gap is None else (
            f"{r.mip_gap:.4%} of block cost, £{r.mip_gap_gbp:,.2f} in all = "
            f"{r.mip_gap_gbp / r.saving_gbp:.4%} of the saving")
        print(f"battery MILP, {label}, one site-year, week blocks: {elapsed:.2f} s, "
              f"{r.binaries} binaries, gap {gap}, saving £{r.saving_gbp:,.2f} "
              f"(LP relaxation claims £{relaxed.saving_gbp:,.2f})"
              + (" TIME LIMIT" if r.time_limited else ""))
    started = time.perf_counter()
    flex = calculate_flexibility_value(load, 0.3, prices)
    print(f"flexibility heuristic, one site-year: {time.perf_counter() - started:.3f} s, "
          f"value £{flex.value_gbp:,.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--baseline-sites", type=int, default=20)
    parser.add_argument("--battery-only", action="store_true", help="skip the features part")
    args = parser.parse_args()
    if args.battery_only:
        bench_battery()
        return

    profiles = _portfolio(args.sites)
    started = time.perf_counter()
    frame = create_features_dataframe(profiles)
    fast = time.perf_counter() - started
    sample = list(profiles)[: args.baseline_sites]
    started = time.perf_counter()
    naive = pd.DataFrame({s: naive_features(profiles[s]) for s in sample}).T
    slow = time.perf_counter() - started
    check = frame.loc[sample, naive.columns].astype(float)
    worst = float((check - naive).drop(columns=["autocorr_24h", "autocorr_168h"]).abs().max().max())
    fast_rate, slow_rate = args.sites / fast, len(sample) / slow
    print(f"features: {args.sites} site-years in {fast:.2f} s = {fast_rate:,.0f} site-years/s")
    print(f"naive per-site pandas: {len(sample)} site-years in {slow:.2f} s = "
          f"{slow_rate:,.1f} site-years/s")
    print(f"speed-up: {fast_rate / slow_rate:,.1f}x "
          f"(max difference on the shared features {worst:.1e})")

    bench_battery()


if __name__ == "__main__":
    main()
