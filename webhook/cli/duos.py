"""`bess-duos duos PROFILE --dno 14 --voltage HV --kva 300`: DUoS charges of a profile file."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from bess_duos.core.duos import duos_for_site
from bess_duos.core.profile_loader import read_profile
from bess_duos.core.profile_tables import DEFAULT_LIMITS
from bess_duos.core.profiles import DEFAULT_MAX_BYTES
from bess_duos.core.tariffs import TariffQuery
from bess_duos.core.valuation import annual_figures
from bess_duos.webhook.cli.args import (
    add_profile_flags,
    positive_kva,
    read_options,
    site_distributor,
)
from bess_duos.webhook.cli.errors import EXIT_OK, writing
from bess_duos.webhook.cli.output import add_output_flags, emit, output_format


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `duos` to the CLI."""
    parser = subparsers.add_parser(
        "duos",
        help="DUoS charges (£) of a half-hourly profile",
        description="Charge a half-hourly profile (CSV, XLSX or Parquet) with the DNO's DUoS "
        "tariff of each charging year it covers, and print the summary. The profile is read by "
        "the one policy `lookup` and the webhook use (docs/duos.md): naive timestamps are UK "
        "clock time, hourly data is split and 15-minute data summed, with a warning.",
    )
    parser.add_argument("profile", help="profile file: long (timestamp,kwh) or wide (date + 48)")
    parser.add_argument("--dno", required=True,
                        help="distributor ID (e.g. 14), MPID or short code")
    parser.add_argument("--voltage", help="LV, LV Sub, HV (default: from --llfc, else LV)")
    parser.add_argument("--kva", type=positive_kva, help="agreed (import) capacity, kVA")
    parser.add_argument("--llfc", help="line loss factor class: picks the exact tariff row")
    parser.add_argument("--residual-band", help="residual charging band (default: from --kva)")
    parser.add_argument("--tariff", help="published tariff name (`tariffs list`): picks that row")
    parser.add_argument("--area", type=int, help="host DNO area (needed for an IDNO --dno)")
    parser.add_argument("--power-factor", type=float, help="assumed pf when there is no kVArh")
    add_profile_flags(parser)
    parser.add_argument(
        "--convention", choices=("start", "end"), help="timestamps mark period start/end"
    )
    parser.add_argument("--kwh-column", help="name of the kWh column when several match")
    parser.add_argument("--timestamp-column", help="name of the timestamp column")
    parser.add_argument(
        "--max-mb", type=float, default=DEFAULT_MAX_BYTES / 2**20, help="file size limit, MB"
    )
    parser.add_argument("--out", help="write the per-half-hour charges to this CSV")
    add_output_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, charge, print (text, --json or --csv); bad input ends in a CliError (exit 2)."""
    dno_id = site_distributor(args.dno, args.area)
    limits = replace(DEFAULT_LIMITS, max_bytes=int(args.max_mb * 2**20))
    profile = read_profile(args.profile, limits=limits, options=read_options(args))
    query = TariffQuery(dno_id, area_distributor_id=args.area, voltage=args.voltage,
                        llfc=args.llfc, kva=args.kva, residual_band=args.residual_band,
                        tariff_name=args.tariff)
    result = duos_for_site(profile.data, query, power_factor=args.power_factor)
    summary, _, too_little = annual_figures(len(profile.data), result.summary)
    warnings = [*profile.quality.warnings, *filter(None, [too_little])]
    if args.out:
        frame = result.frame.copy()
        frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
        with writing("--out", args.out):
            frame.to_csv(args.out, index_label="timestamp_utc", float_format="%.6f")
    if output_format(args) != "json":  # JSON carries them in "quality"
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    text = summary.format()
    if args.out:
        text += f"\nPer-half-hour charges written to {args.out}"
    emit(args, {"summary": summary.to_dict(), "quality": profile.quality.to_dict(),
                "warnings": warnings}, text=text)
    return EXIT_OK
