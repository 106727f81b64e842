"""`bess-duos profile generate|features` and `bess-duos battery optimise`.

Profiles and prices are CSV files: a `timestamp` column (ISO 8601 with offset, period start)
and one value column (kWh for profiles, p/kWh for prices).
"""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd
from bess_duos.core.bess import Battery, optimise_battery
from bess_duos.core.features import profile_features
from bess_duos.core.synthetic import ARCHETYPE_ALIASES, ARCHETYPES, generate_profile
from bess_duos.webhook.cli.errors import EXIT_OK, CliError, cannot_read, writing
from bess_duos.webhook.cli.output import add_output_flags, emit, format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `profile generate` to the CLI."""
    profile = subparsers.add_parser("profile", help="synthetic half-hourly profiles")
    actions = profile.add_subparsers(dest="profile_command", metavar="ACTION")
    gen = actions.add_parser(
        "generate",
        help="write a synthetic profile (timestamp,kwh) CSV",
        description="Synthetic kWh per half hour for a site archetype, scaled to kWh/year. "
        "Timestamps are UTC period starts; dates given are UK clock dates.",
    )
    gen.add_argument(
        "--archetype",
        required=True,
        help=f"one of: {', '.join(ARCHETYPES)} (also: {', '.join(ARCHETYPE_ALIASES)})",
    )
    gen.add_argument("--kwh-per-year", type=float, required=True, help="annual energy, kWh")
    gen.add_argument("--start", help="first UK clock date, e.g. 2025-04-01")
    gen.add_argument("--end", help="UK clock date after the last day (default: start + 1 year)")
    gen.add_argument("--year", type=int, help="a calendar year (instead of --start/--end)")
    gen.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    gen.add_argument("--out", required=True, help="CSV path to write ('-' for stdout)")
    gen.set_defaults(func=run_generate)

    feats = actions.add_parser("features", help="load-shape features of a profile CSV")
    feats.add_argument("profile", help="CSV with timestamp,kwh")
    add_output_flags(feats)
    feats.set_defaults(func=run_features)

    battery = subparsers.add_parser("battery", help="battery dispatch optimiser (LP, HiGHS)")
    bactions = battery.add_subparsers(dest="battery_command", metavar="ACTION")
    opt = bactions.add_parser(
        "optimise",
        help="least-cost dispatch for a profile and half-hourly prices",
        description="Least-cost battery dispatch (DUoS + energy prices, p/kWh per half hour).",
    )
    opt.add_argument("--profile", required=True, help="CSV with timestamp,kwh")
    price = opt.add_mutually_exclusive_group(required=True)
    price.add_argument("--prices", help="CSV with timestamp and p/kWh (import price)")
    price.add_argument("--flat-price", type=float, help="one import price, p/kWh")
    opt.add_argument("--power-kw", type=float, required=True)
    opt.add_argument("--energy-kwh", type=float, required=True)
    opt.add_argument("--efficiency", type=float, default=0.9, help="round trip (default 0.9)")
    opt.add_argument("--soc-min", type=float, default=0.0)
    opt.add_argument("--soc-max", type=float, default=1.0)
    opt.add_argument("--initial-soc", type=float, default=0.5)
    opt.add_argument("--cycles-per-day", type=float)
    opt.add_argument("--import-limit-kw", type=float)
    opt.add_argument("--export-price", type=float, help="p/kWh earned for export (enables it)")
    opt.add_argument("--export-limit-kw", type=float)
    opt.add_argument("--block", default="week", choices=["day", "week", "month", "year"])
    opt.add_argument("--out", help="write the half-hourly dispatch CSV here")
    add_output_flags(opt)
    opt.set_defaults(func=run_battery)


def read_series_csv(path: str, what: str) -> pd.Series:
    """A `timestamp,value` CSV as a Series on a UTC index (CliError or ValueError naming the
    file)."""
    try:
        frame = pd.read_csv(path)
    except OSError as exc:
        raise cannot_read(what, path, exc, "the path of a CSV with a 'timestamp' column and a "
                          "value column") from exc
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{what} {path}: the file is empty; it needs a header row "
                         "'timestamp,<value>' and one row per half hour") from exc
    if "timestamp" not in frame.columns or frame.shape[1] < 2:
        raise ValueError(f"{what} {path}: needs a 'timestamp' column and a value column")
    value = next(c for c in frame.columns if c != "timestamp")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} {path}: timestamps are not ISO 8601 ({exc})") from exc
    numbers = pd.to_numeric(frame[value], errors="coerce")
    bad = numbers.isna() & frame[value].notna()
    if bad.any():
        first = int(bad.to_numpy().argmax())
        raise ValueError(f"{what} {path}: column {value!r} row {first + 1} (line {first + 2}): "
                         f"{frame[value].iloc[first]!r} is not a number; fix or remove it")
    return pd.Series(numbers.to_numpy(dtype=float), index=index, name=value)


def run_features(args: argparse.Namespace) -> int:
    """Print the features of a profile CSV (refused features with their reason)."""
    result = profile_features(read_series_csv(args.profile, "profile"))
    values = {k: (None if math.isnan(v) else round(v, 6)) for k, v in result.values.items()}
    record = {"features": values, "peak_time": result.peak_time, "pattern": result.pattern,
              "refused": result.reasons}

    def text() -> str:
        rows = [{"feature": k, "value": v, "refused": result.reasons.get(k, "")}
                for k, v in values.items()]
        return (format_table(rows, ("feature", "value", "refused"))
                + f"\npeak time  {result.peak_time}\npattern    {result.pattern}")

    emit(args, record, text=text)
    return EXIT_OK


def run_battery(args: argparse.Namespace) -> int:
    """Optimise a battery for a profile CSV and print the result."""
    load = read_series_csv(args.profile, "--profile")
    prices = read_series_csv(args.prices, "--prices") if args.prices else args.flat_price
    battery = Battery(args.power_kw, args.energy_kwh, args.efficiency, args.soc_min,
                      args.soc_max, args.initial_soc, args.cycles_per_day)
    result = optimise_battery(
        load, battery, prices, export_prices=args.export_price,
        import_limit_kw=args.import_limit_kw, export_limit_kw=args.export_limit_kw,
        block=args.block,
    )
    if args.out:
        out = result.dispatch.copy()
        out.index = out.index.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        with writing("--out", args.out):
            out.to_csv(args.out, index_label="timestamp", float_format="%.6g")
    emit(args, {
        "base_cost_gbp": round(result.base_cost_gbp, 2),
        "cost_gbp": round(result.cost_gbp, 2),
        "saving_gbp": round(result.saving_gbp, 2),
        "annual_saving_gbp": round(result.annual_saving_gbp, 2),
        "equivalent_full_cycles": round(result.equivalent_full_cycles, 2),
        "solve_seconds": round(result.solve_seconds, 2),
        "blocks": result.blocks,
    })
    return EXIT_OK


def run_generate(args: argparse.Namespace) -> int:
    """Generate and write the profile; returns the exit status."""
    if args.year is not None and (args.start or args.end):
        raise CliError("--year and --start/--end both given: give --year or --start/--end")
    if args.year is not None:
        start, end = f"{args.year}-01-01", f"{args.year + 1}-01-01"
    else:
        start, end = args.start or "2025-01-01", args.end
        for flag, text in (("--start", args.start), ("--end", args.end)):
            try:
                if text is not None:
                    pd.Timestamp(text)
            except ValueError:
                raise CliError(f"{flag} {text!r} is not a date: give it as YYYY-MM-DD, e.g. "
                               "2025-04-01") from None
    series = generate_profile(args.archetype, args.kwh_per_year, start, end, args.seed)
    frame = pd.DataFrame(
        {
            "timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "kwh": series.to_numpy().round(4),
        }
    )
    with writing("--out", args.out):
        frame.to_csv(sys.stdout if args.out == "-" else args.out, index=False)
    if args.out != "-":
        print(
            f"wrote {len(frame)} half hours, {series.sum():,.0f} kWh ({args.archetype}) "
            f"to {args.out}",
            file=sys.stderr,
        )
    return EXIT_OK
