"""`bess-duos profile generate`: write a synthetic half-hourly profile to CSV."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from core.synthetic import ARCHETYPE_ALIASES, ARCHETYPES, generate_profile


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


def run_generate(args: argparse.Namespace) -> int:
    """Generate and write the profile; returns the exit status."""
    if args.year is not None and (args.start or args.end):
        print("error: give --year or --start/--end, not both", file=sys.stderr)
        return 2
    if args.year is not None:
        start, end = f"{args.year}-01-01", f"{args.year + 1}-01-01"
    else:
        start, end = args.start or "2025-01-01", args.end
    try:
        series = generate_profile(args.archetype, args.kwh_per_year, start, end, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frame = pd.DataFrame(
        {
            "timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "kwh": series.to_numpy().round(4),
        }
    )
    out = sys.stdout if args.out == "-" else args.out
    frame.to_csv(out, index=False)
    if args.out != "-":
        print(
            f"wrote {len(frame)} half hours, {series.sum():,.0f} kWh ({args.archetype}) "
            f"to {args.out}",
            file=sys.stderr,
        )
    return 0
