"""`bess-duos portfolio SITES.csv --out DIR` (also `portfolio run ...`) and `portfolio demo`.

A run writes to DIR: ``results.csv`` and ``results.parquet`` (one row per site),
``errors.csv`` (site_id, row, stage, reason: every site that failed), ``clusters.csv`` (one
row per cluster), ``cost_by_band.png`` and ``feature_scatter.png``, and prints a summary
(text, ``--json`` or ``--csv``). Exit status: 0 when the run finished (even if some sites are
in errors.csv), 2 when the SITES file or a flag is unusable, 3 when the Dask scheduler cannot
be reached, 4 when --out cannot be written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from bess_duos.core.portfolio import (
    DEFAULT_BATCH_SIZE,
    cluster_input_columns,
    cluster_portfolio,
    count_sites,
    empty_errors,
    empty_results,
)
from bess_duos.core.portfolio_demo import make_demo_portfolio
from bess_duos.core.portfolio_engines import (
    DASK_BATCHES_PER_TASK,
    ENGINES,
    PortfolioOutcome,
    SpoolSink,
    default_workers,
    run_portfolio,
)
from bess_duos.core.timebands import BANDS
from bess_duos.webhook.cli.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_WRITE, CliError
from bess_duos.webhook.cli.output import add_output_flags, emit

BAND_COLOURS = {"red": "#c0392b", "amber": "#e69f00", "green": "#2e8b57"}
SCATTER_AXES = ("load_factor", "weekend_factor")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `portfolio` to the CLI."""
    parser = subparsers.add_parser(
        "portfolio",
        help="value a portfolio of sites (DUoS, features, flexibility, clusters)",
        description="bess-duos portfolio SITES.csv --out DIR   (or: portfolio run SITES.csv ...)\n"
        "bess-duos portfolio demo --sites 1000 --out DIR [--run]\n\n"
        "SITES.csv columns: site_id,mpan,postcode,voltage,kva,profile_path. See "
        "docs/portfolio.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="SITES.csv|run|demo",
                        help="a SITES file to run, 'run SITES.csv', or 'demo'")
    parser.add_argument("sites_file", nargs="?", metavar="SITES.csv", help=argparse.SUPPRESS)
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    add_output_flags(parser)
    run = parser.add_argument_group("run options")
    run.add_argument("--engine", choices=ENGINES, default="local",
                     help="local processes (default) or a Dask cluster")
    run.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    run.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                     help=f"sites per batch (default {DEFAULT_BATCH_SIZE}); memory grows with it")
    run.add_argument("--batches-per-task", type=int, default=DASK_BATCHES_PER_TASK,
                     help="batches a Dask task runs one after another (default "
                     f"{DASK_BATCHES_PER_TASK}; more for clusters of many workers)")
    run.add_argument("--workers", type=int,
                     help="local worker processes (default: one per CPU core)")
    run.add_argument("--clusters", type=int, metavar="K",
                     help="number of clusters (default: chosen by silhouette score)")
    run.add_argument("--flex-fraction", type=float,
                     help="flexible share of each day's kWh (default from config/defaults.yaml)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    demo = parser.add_argument_group("demo options")
    demo.add_argument("--sites", type=int, default=1000, help="sites to generate (default 1000)")
    demo.add_argument("--days", type=int, default=365, help="days per profile (default 365)")
    demo.add_argument("--start", default="2025-04-01", help="first UK clock date (2025-04-01)")
    demo.add_argument("--broken", type=float, default=0.0, metavar="SHARE",
                      help="share of sites broken on purpose, e.g. 0.05 (default 0)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--run", action="store_true",
                      help="run the portfolio after writing it (outputs in OUT/output)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Dispatch `portfolio [run] SITES.csv` and `portfolio demo`; print the summary."""
    if args.target == "demo":
        if args.sites_file:
            raise CliError(f"portfolio demo takes no SITES file (got {args.sites_file!r}): "
                           "leave it out, or run it with `portfolio run SITES.csv`")
        with _writing(args.out):
            record = run_demo(args)
    else:
        sites = args.sites_file if args.target == "run" else args.target
        if args.target != "run" and args.sites_file:
            raise CliError(f"one SITES file expected, got {args.target!r} and "
                           f"{args.sites_file!r}: give one")
        if not sites:
            raise CliError("portfolio run needs a SITES file: `portfolio run SITES.csv --out DIR`")
        with _writing(args.out):
            record = run_sites(args, Path(sites), Path(args.out))
    lines = record.pop("lines")
    emit(args, record, text="\n".join(lines))
    return EXIT_OK


@contextmanager
def _writing(out: str) -> Iterator[None]:
    """A folder under --out that cannot be written is a one-line error (exit 4)."""
    try:
        yield
    except (PermissionError, FileExistsError, NotADirectoryError) as exc:
        raise CliError(f"--out {out}: cannot write there ({exc.strerror}: {exc.filename}); give "
                       "a folder you can write to", EXIT_WRITE) from exc


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Write the synthetic portfolio (and run it with --run); the summary record."""
    out = Path(args.out)
    demo = make_demo_portfolio(out, args.sites, seed=args.seed, start=args.start,
                               days=args.days, broken_share=args.broken,
                               workers=args.workers or default_workers())
    record: dict[str, Any] = {
        "demo": {"sites": demo.sites, "sites_csv": str(demo.sites_csv),
                 "profiles_dir": str(demo.profiles_dir), "broken": len(demo.broken),
                 "broken_csv": str(out / "broken.csv")},
        "lines": [f"wrote {demo.sites} sites to {demo.sites_csv} (profiles in "
                  f"{demo.profiles_dir}, {len(demo.broken)} broken on purpose: "
                  f"{out / 'broken.csv'})"],
    }
    if args.run:
        run = run_sites(args, demo.sites_csv, out / "output")
        record["lines"] += run.pop("lines")
        record["run"] = run
    return record


def run_sites(args: argparse.Namespace, sites: Path, out: Path) -> dict[str, Any]:
    """Run a SITES file and write every output (batches spooled to disk on the way)."""
    if args.engine == "dask" and not args.scheduler:
        raise CliError("--engine dask needs --scheduler: give it as tcp://HOST:PORT")
    if args.batch_size < 1:
        raise CliError(f"--batch-size {args.batch_size}: give a number of sites of 1 or more")
    if args.batches_per_task < 1:
        raise CliError(f"--batches-per-task {args.batches_per_task}: give a number of batches "
                       "of 1 or more")
    if args.flex_fraction is not None and not 0 <= args.flex_fraction <= 1:
        raise CliError(f"--flex-fraction {args.flex_fraction}: give a share between 0 and 1, "
                       "e.g. 0.3")
    if not sites.exists():
        raise CliError(f"SITES {str(sites)!r} not found: give a CSV or Parquet file with columns "
                       "site_id,mpan,postcode,voltage,kva,profile_path (`bess-duos portfolio "
                       "demo --out DIR` writes an example)")
    kwargs = {} if args.flex_fraction is None else {"flex_fraction": args.flex_fraction}
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".batches-") as spool:
        total = count_sites(sites) if sites.is_file() else None
        bar = _progress_bar(total, disabled=args.no_progress)
        try:
            outcome = run_portfolio(
                sites, engine=args.engine, scheduler=args.scheduler,
                batch_size=args.batch_size, workers=args.workers,
                batches_per_task=args.batches_per_task, progress=bar.update,
                sink=SpoolSink(spool), **kwargs,
            )  # SitesFileError / ValueError: exit 2
        except ConnectionError as exc:
            raise CliError(f"--scheduler {args.scheduler}: {exc}; check the address and that "
                           "the Dask scheduler is running", EXIT_NOT_FOUND) from exc
        finally:
            bar.close()
        return write_outputs(outcome, out, clusters=args.clusters)


def _progress_bar(total: int | None, *, disabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="site", file=sys.stderr, disable=disabled,
                desc="portfolio", dynamic_ncols=True)


def write_outputs(outcome: PortfolioOutcome, out: Path, *,
                  clusters: int | None = None) -> dict[str, Any]:
    """Results (CSV, Parquet), errors, cluster summary and charts; returns the run's summary
    (its `lines` are the text form).

    Clustering reads only the feature and cost columns of every site; the full results are
    then streamed batch by batch into results.csv and results.parquet with the cluster added.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    sink = outcome.sink
    clustered = summary = None
    if sink.n_results:
        try:
            clustered, summary = cluster_portfolio(
                sink.read_results_columns(cluster_input_columns()), k=clusters)
        except ValueError as exc:
            print(f"warning: sites not clustered: {exc}", file=sys.stderr)
    parts = sink.iter_results() if sink.n_results else iter([empty_results()])
    writer = None
    done = 0
    site_days = 0.0
    try:
        for part in parts:
            if clustered is not None:
                labels = clustered.iloc[done:done + len(part)]
                part = part.assign(cluster=labels["cluster"].to_numpy(),
                                   cluster_name=labels["cluster_name"].to_numpy())
            part.to_csv(out / "results.csv", mode="a" if done else "w", header=not done,
                        index=False)
            table = pa.Table.from_pandas(part, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(out / "results.parquet", table.schema)
            writer.write_table(table.cast(writer.schema))
            done += len(part)
            site_days += float(part["days_covered"].sum())
    finally:
        if writer is not None:
            writer.close()
    stages: dict[str, int] = {}
    empty_errors().to_csv(out / "errors.csv", index=False)
    for part in sink.iter_errors():
        part.to_csv(out / "errors.csv", mode="a", header=False, index=False)
        for stage, n in part["stage"].value_counts().items():
            stages[stage] = stages.get(stage, 0) + int(n)
    written = ["results.csv", "results.parquet", "errors.csv"]
    if summary is not None and clustered is not None:
        summary.to_csv(out / "clusters.csv", index=False)
        plot_cost_by_band(summary, out / "cost_by_band.png")
        plot_feature_scatter(clustered, out / "feature_scatter.png")
        written += ["clusters.csv", "cost_by_band.png", "feature_scatter.png"]
    years = site_days / 365.0
    rate = years / outcome.seconds if outcome.seconds > 0 else float("nan")
    ranked = dict(sorted(stages.items(), key=lambda item: -item[1]))
    lines = [
        f"{outcome.sites} sites: {sink.n_results} valued, {sink.n_errors} failed "
        f"(see errors.csv); {outcome.engine} engine, {outcome.workers} worker(s), "
        f"{outcome.batches} batches, {outcome.seconds:.1f} s, {rate:,.1f} site-years/s"
    ]
    if ranked:
        lines.append("failed by stage: " + ", ".join(f"{s} {n}" for s, n in ranked.items()))
    lines.append(f"wrote {', '.join(written)} to {out}")
    return {"sites": outcome.sites, "valued": sink.n_results, "failed": sink.n_errors,
            "failed_by_stage": ranked, "engine": outcome.engine, "workers": outcome.workers,
            "batches": outcome.batches, "seconds": round(outcome.seconds, 3),
            "site_years_per_second": rate, "out": str(out), "written": written, "lines": lines}


def plot_cost_by_band(summary: pd.DataFrame, path: Path) -> None:
    """Stacked bars: mean DUoS unit £ per site per 365 days, red/amber/green, per cluster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.6 * len(summary)))
    # numbered as in the scatter's legend: bars are keyed by their label, so equal labels
    # would draw two clusters as one bar
    labels = [f"{row.cluster}: {row.name} ({row.sites})" for row in summary.itertuples()]
    left = pd.Series(0.0, index=summary.index)
    for band in BANDS:
        values = summary[f"mean_unit_gbp_{band}_per_365_days"]
        ax.barh(labels, values, left=left, color=BAND_COLOURS[band], label=band)
        left = left + values
    ax.set_xlabel("mean DUoS unit charges per site, £ per 365 days")
    # over the whole figure: the long cluster names leave the axes too narrow for the title
    fig.suptitle("DUoS unit cost by time band, per cluster (sites in brackets)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_feature_scatter(results: pd.DataFrame, path: Path) -> None:
    """Load factor against weekend factor, one colour per cluster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_name, y_name = SCATTER_AXES
    fig, ax = plt.subplots(figsize=(8, 6))
    for (cluster, name), group in results.groupby(["cluster", "cluster_name"], sort=True):
        ax.scatter(group[x_name], group[y_name], s=12, alpha=0.7,
                   label=f"{cluster}: {name} ({len(group)})")
    ax.set_xlabel("load factor (mean / max half-hourly kWh)")
    ax.set_ylabel("weekend factor (weekend / weekday mean kWh)")
    ax.set_title("Sites by load shape, coloured by cluster")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
