"""Portfolio throughput: site-years per second and peak memory, against a naive per-row baseline.

For each size in --sites (default 1,000 and 10,000) a synthetic portfolio of full-year profiles
is written (`core.portfolio_demo`, not timed), then run by the local engine in a fresh process
(`run_portfolio` with each batch's results spooled to Parquet as the CLI does; timed: SITES
reading, profile loading, tariffs, DUoS, features, flexibility; clustering and writing the
output files are not included). Peak memory is the maximum resident set size
(getrusage ru_maxrss) of the run's main process and of its largest worker process.

Floor (issue 18): the same Parquet parts read with pyarrow (site_id dictionary-encoded, kWh
only) and kWh summed per site, by the same number of worker processes, timed in the same run,
--floor-rounds times (default 3) alternated with as many local runs: the portfolio's median
rate over the floor's median is printed beside its target (>= 1/3) with every run's figure
(the machine drifts by 10% and more from minute to minute), and each worker's peak RSS
beside its target (<= 1 GB). The portfolio's files are flushed to disk (`os.sync`) before
the first run. With --dask the same portfolio also runs on a
`distributed.LocalCluster` of --workers single-thread worker processes, configured for a batch
job as docs/portfolio.md recommends (`DASK_BATCH_CONFIG`; no `MALLOC_TRIM_THRESHOLD_`),
--dask-rounds times (default 5), alternated with local runs so that both see the machine's same
minutes: the median Dask time against the median local one (target: within 20%), and whether
every result is identical. Both engines are warmed first with one 2-site batch (as
long-lived workers would be): the local engine's forked workers inherit it from the parent,
each (spawned) Dask worker runs it itself through `dask_batches` (so it has also frozen what it
holds, as after its first batch).

The baseline charges DUoS unit rates the naive way, one `DataFrame.apply` call per half hour
(clock time, day type and band looked up in Python for every row), on --baseline-sites sites;
the vectorised engine (`core.duos.charge_arrays`) is timed on the same sites. The ratio
printed is full portfolio pipeline site-years/s (which does far more per site) over the naive
DUoS-only site-years/s.

    .venv/bin/python benchmarks/bench_portfolio.py              # 1,000 and 10,000 sites
    .venv/bin/python benchmarks/bench_portfolio.py --sites 200  # quicker
    .venv/bin/python benchmarks/bench_portfolio.py --sites 1000 --dask
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bess_duos.core.duos import charge_arrays, tariffs_for_site  # noqa: E402
from bess_duos.core.portfolio import (  # noqa: E402
    iter_site_batches,
    result_dtypes,
    run_batch,
    run_batch_safely,
)
from bess_duos.core.portfolio_demo import make_demo_portfolio  # noqa: E402
from bess_duos.core.portfolio_engines import (  # noqa: E402
    SpoolSink,
    dask_batches,
    default_workers,
    run_portfolio,
)
from bess_duos.core.synthetic import generate_profile  # noqa: E402
from bess_duos.core.tariffs import TariffQuery, charging_year  # noqa: E402
from bess_duos.core.timebands import BAND_ALIASES, BANDS  # noqa: E402
from timing import loadavg  # noqa: E402

UK = "Europe/London"


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports kB


# A batch job's cluster on few cores (docs/portfolio.md): the event loops' 20 ms tick checks,
# the workers' 10 ms profiler samples and the scheduler's work stealing woke every process many
# times a second, and the cores were shared with the workers: 2,000-6,000 involuntary context
# switches a worker in a 10,000-site run, and the Dask run 24-63% slower than the local engine
# against 6-19% with these (alternated, 2026-12-01).
DASK_BATCH_CONFIG = {
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
}
TARGET_FLOOR_SHARE = 1 / 3  # portfolio site-years/s over the read-and-sum floor's
TARGET_WORKER_MB = 1024.0
TARGET_DASK_SLOWER = 0.20


def _sum_part(path: str) -> tuple[int, float]:
    """Read one part (site_id dictionary-encoded, kWh only) and sum kWh per site."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["site_id", "kwh"],
                          read_dictionary=["site_id"]).unify_dictionaries()
    sums = table.group_by("site_id").aggregate([("kwh", "sum"), ("kwh", "count")])
    return sums.num_rows, float(pc.sum(sums["kwh_count"]).as_py()) / 48.0 / 365.0


def floor(parts: list[str], workers: int) -> dict[str, float]:
    """The read-and-sum floor: every part read and summed by `workers` fresh processes."""
    from concurrent.futures import ProcessPoolExecutor

    from bess_duos.core.portfolio import _OneBlasThread

    with _OneBlasThread(), ProcessPoolExecutor(workers) as pool:
        list(pool.map(_sum_part, parts[:workers]))  # start the processes and import pyarrow
        started = time.perf_counter()
        done = list(pool.map(_sum_part, parts))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "sites": sum(d[0] for d in done),
            "site_years": sum(d[1] for d in done)}


def child(sites_csv: str, workers: int, batch_size: int, engine: str = "local") -> None:
    """Run one portfolio in this (fresh) process and print JSON timings and memory."""
    # Warm both engines alike (imports, tariff and clock caches), as a long-lived cluster's
    # workers are: a 2-site batch in this process, whose forked local workers inherit it,
    # and on every Dask worker (spawned, so they inherit nothing).
    warm = next(iter_site_batches(sites_csv, 2))
    run_batch_safely(warm)
    cluster = None
    if engine == "dask":
        import dask
        import distributed

        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off
        # glibc's adaptive mmap threshold: every large temporary array is then mapped and
        # unmapped afresh, and a batch took over twice the CPU (docs/portfolio.md). Keep the
        # one-thread BLAS settings, drop that one.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ, **DASK_BATCH_CONFIG})
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        with distributed.Client(cluster) as client:
            client.run(dask_batches, None, [(0, pickle.dumps(warm, protocol=5))])
    with tempfile.TemporaryDirectory() as spool:
        started = time.perf_counter()
        outcome = run_portfolio(sites_csv, workers=workers, batch_size=batch_size,
                                sink=SpoolSink(spool), engine=engine,
                                scheduler=None if cluster is None else cluster.scheduler_address)
        seconds = time.perf_counter() - started
        days = outcome.sink.read_results_columns(["days_covered"])["days_covered"].sum()
        numeric = [c for c, t in result_dtypes().items() if t != "str"]
        digest = hashlib.sha256(pd.util.hash_pandas_object(
            outcome.results[["site_id", *numeric]], index=False).to_numpy().tobytes()).hexdigest()
    worker_mb = _maxrss_mb(resource.RUSAGE_CHILDREN)
    if cluster is not None:
        with distributed.Client(cluster) as client:  # each worker process's own peak RSS
            worker_mb = max(client.run(_maxrss_mb, resource.RUSAGE_SELF).values())
        cluster.close()
    print(json.dumps({
        "seconds": seconds,
        "sites": outcome.sites,
        "ok": outcome.sink.n_results,
        "errors": outcome.sink.n_errors,
        "site_years": float(days) / 365.0,
        "main_mb": _maxrss_mb(resource.RUSAGE_SELF),
        "worker_mb": worker_mb,
        "digest": digest,
    }))


def _run_child(sites_csv: Path, workers: int, batch_size: int, engine: str) -> dict[str, Any]:
    """One portfolio run in a fresh process (`child`): its JSON timings and memory."""
    run = subprocess.run(
        [sys.executable, __file__, "--child", str(sites_csv), "--engine", engine,
         "--workers", str(workers), "--batch-size", str(batch_size)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _dask_against_local(sites_csv: Path, args: argparse.Namespace,
                        before: list[dict[str, Any]]) -> str:
    """The Dask engine's line: --dask-rounds Dask runs alternated with local ones (after the
    local runs `before`), so both see the machine's same minutes; medians compared."""
    first = before[0]
    local, dask_runs = list(before), []
    for round_ in range(args.dask_rounds):
        dask_runs.append(_run_child(sites_csv, args.workers, args.batch_size, "dask"))
        if round_ < args.dask_rounds - 1:
            local.append(_run_child(sites_csv, args.workers, args.batch_size, "local"))
    local_s = statistics.median(r["seconds"] for r in local)
    dask_s = statistics.median(r["seconds"] for r in dask_runs)
    slower = dask_s / local_s - 1.0
    same = {r["digest"] for r in local + dask_runs} == {first["digest"]}
    runs = ", ".join(f"{r['seconds']:.1f}" for r in dask_runs)
    locals_ = ", ".join(f"{r['seconds']:.1f}" for r in local)
    return (f"  dask LocalCluster ({args.workers} worker processes, 1 thread each), "
            f"{len(dask_runs)} runs alternated with {len(local)} local: median {dask_s:.1f} s "
            f"({runs}) vs local {local_s:.1f} s ({locals_}): {slower:+.0%}; target within "
            f"{TARGET_DASK_SLOWER:.0%}: {'MET' if slower <= TARGET_DASK_SLOWER else 'NOT MET'}; "
            f"results identical: {'yes' if same else 'NO'}; largest Dask worker "
            f"{max(r['worker_mb'] for r in dask_runs):,.0f} MB; /proc/loadavg now {loadavg()}")


STAGES = {  # (module file, function) -> label
    ("portfolio.py", "_keyed_rows"): "bess_duos.core.portfolio._keyed_rows (Parquet read)",
    ("profiles.py", "load_sliced_profiles"):
        "bess_duos.core.profiles.load_sliced_profiles (the sites' profiles checked at once)",
    ("profiles.py", "load_profile"): "bess_duos.core.profiles.load_profile (sites read alone)",
    ("duos.py", "charge_many"): "bess_duos.core.duos.charge_many",
    ("flexibility.py", "plan_flexibility_many"):
        "bess_duos.core.flexibility.plan_flexibility_many",
    ("flexibility.py", "value"): "FlexibilityPlans.value",
    ("features.py", "feature_rows"): "bess_duos.core.features.feature_rows",
    ("features.py", "create_features_dataframe"):
        "bess_duos.core.features.create_features_dataframe (sites computed alone)",
}


def stage_breakdown(sites_csv: Path, batch_size: int) -> str:
    """ms per site spent in each core function, from cProfile of one batch (after a warm-up)."""
    import cProfile
    import pstats

    batch = next(iter_site_batches(sites_csv, batch_size))
    run_batch(batch)  # warm the tariff and time-band caches
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    run_batch(batch)
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    parts = []
    for (module, name), label in STAGES.items():
        seconds = sum(v[3] for k, v in stats.items()
                      if k[2] == name and k[0].endswith(f"core/{module}"))
        parts.append(f"{label} {seconds / len(batch) * 1000:.2f}")
    return (f"one batch of {len(batch)} sites in one process, ms per site (under cProfile, "
            f"{total / len(batch) * 1000:.2f} in all): " + "; ".join(parts))


def _naive_band_rate(periods, tariffs):
    def cost(row: pd.Series) -> float:
        local = row["timestamp"].tz_convert(UK)
        day = "weekend" if local.weekday() >= 5 else "weekday"
        hhmm = local.strftime("%H:%M")
        tariff = tariffs(charging_year(local.date()))
        for period in periods[tariff.year]:
            if (period.days == day and (not period.months or local.month in period.months)
                    and period.start <= hhmm < period.end):
                band = BANDS.index(BAND_ALIASES.get(period.band, period.band))
                return row["kwh"] * tariff.unit_rates_p_per_kwh[band] / 100.0
        raise ValueError(f"no band for {local}")

    return cost


def baseline(n_sites: int) -> dict[str, float]:
    """Naive per-row DUoS unit £ vs the vectorised engine on the same full-year profiles."""
    naive_s = fast_s = 0.0
    worst = 0.0
    for i in range(n_sites):
        area = 10 + i % 14
        profile = generate_profile("office", 3e5, "2025-04-01", seed=i)
        tariffs = tariffs_for_site(TariffQuery(area, voltage="LV", kva=200.0))
        periods = {2025: tariffs(2025).time_bands.periods}
        frame = pd.DataFrame({"timestamp": profile.index, "kwh": profile.to_numpy()})
        started = time.perf_counter()
        naive = frame.apply(_naive_band_rate(periods, tariffs), axis=1).to_numpy()
        naive_s += time.perf_counter() - started
        started = time.perf_counter()
        columns, _ = charge_arrays(profile.index, profile.to_numpy(), tariffs, agreed_kva=200.0)
        fast_s += time.perf_counter() - started
        worst = max(worst, float(np.max(np.abs(naive - columns["unit_gbp"]))))
    return {"naive_s": naive_s, "vector_s": fast_s, "sites": n_sites, "max_diff_gbp": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", default="1000,10000",
                        help="comma-separated portfolio sizes (full-year sites each)")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--baseline-sites", type=int, default=2)
    parser.add_argument("--data-dir", help="where to write the portfolios (default: a temp dir)")
    parser.add_argument("--dask", action="store_true",
                        help="also run the first size on a distributed.LocalCluster")
    parser.add_argument("--dask-rounds", type=int, default=5,
                        help="Dask runs, alternated with local ones (medians compared)")
    parser.add_argument("--floor-rounds", type=int, default=3,
                        help="local runs, alternated with floor runs (medians compared)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for flag, rounds in (("--dask-rounds", args.dask_rounds),
                         ("--floor-rounds", args.floor_rounds)):
        if rounds < 1:
            parser.error(f"{flag} must be at least 1, got {rounds}")
    if args.child:
        child(args.child, args.workers, args.batch_size, args.engine)
        return
    print(f"/proc/loadavg at the start: {loadavg()}")

    base = baseline(args.baseline_sites)
    naive_rate = base["sites"] / base["naive_s"]
    vector_rate = base["sites"] / base["vector_s"]
    print(f"naive per-row DUoS (DataFrame.apply), {base['sites']} site-years: "
          f"{naive_rate:.3f} site-years/s; vectorised charge_arrays on the same sites: "
          f"{vector_rate:,.1f} site-years/s ({vector_rate / naive_rate:,.0f}x); "
          f"largest difference £{base['max_diff_gbp']:.2e} per half hour")

    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
        sizes = [int(s) for s in args.sites.split(",")]
        for size in sizes:
            out = Path(tmp) / f"p{size}"
            started = time.perf_counter()
            demo = make_demo_portfolio(out, size, seed=size, days=365,
                                       sites_per_file=args.batch_size, workers=args.workers)
            made = time.perf_counter() - started
            os.sync()  # not while the runs are timed
            parts = sorted(str(p) for p in (out / "profiles").glob("*.parquet"))
            runs, floors = [], []
            for _ in range(args.floor_rounds):
                runs.append(_run_child(demo.sites_csv, args.workers, args.batch_size, "local"))
                floors.append(floor(parts, args.workers))
            if size == sizes[0]:
                print(stage_breakdown(demo.sites_csv, args.batch_size))
            print(_local_against_floor(size, made, runs, floors, naive_rate, args))
            if args.dask and size == sizes[0]:
                print(_dask_against_local(demo.sites_csv, args, runs))


def _local_against_floor(size: int, made: float, runs: list[dict[str, Any]],
                         floors: list[dict[str, float]], naive_rate: float,
                         args: argparse.Namespace) -> str:
    """The local engine's lines: the median run's rate and memory, and its share of the
    median read-and-sum floor, each beside its target."""
    site_years = runs[0]["site_years"]
    seconds = statistics.median(r["seconds"] for r in runs)
    rate = site_years / seconds
    floor_s = statistics.median(f["seconds"] for f in floors)
    floor_rate = floors[0]["site_years"] / floor_s
    main_mb = max(r["main_mb"] for r in runs)
    worker_mb = max(r["worker_mb"] for r in runs)
    share = rate / floor_rate
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    each_floor = ", ".join(f"{f['seconds']:.2f}" for f in floors)
    return (
        f"{size:>6,} sites ({site_years:,.0f} site-years, generated in {made:.0f} s): median "
        f"{seconds:.2f} s ({each}) on {args.workers} worker(s), batch {args.batch_size} -> "
        f"{rate:,.1f} site-years/s; peak RSS main {main_mb:,.0f} MB, largest worker "
        f"{worker_mb:,.0f} MB (sum bound {main_mb + args.workers * worker_mb:,.0f} MB); "
        f"{max(r['errors'] for r in runs)} errors; ratio vs naive per-row DUoS: "
        f"{rate / naive_rate:,.0f}x\n"
        f"  floor: pyarrow read-and-sum of the same parts on {args.workers} process(es), "
        f"alternated with the runs: median {floor_s:.2f} s ({each_floor}), {floor_rate:,.0f} "
        f"site-years/s; portfolio / floor = {share:.3f} (target >= {TARGET_FLOOR_SHARE:.3f}: "
        f"{'MET' if share >= TARGET_FLOOR_SHARE else 'NOT MET'}); largest worker "
        f"{worker_mb:,.0f} MB (target <= {TARGET_WORKER_MB:,.0f} MB: "
        f"{'MET' if worker_mb <= TARGET_WORKER_MB else 'NOT MET'}); /proc/loadavg now "
        f"{loadavg()}")


if __name__ == "__main__":
    main()
