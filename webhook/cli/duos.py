"""`bess-duos duos PROFILE --dno 14 --voltage HV --kva 300`: DUoS charges of a profile file."""

from __future__ import annotations

import argparse
import sys

from bess_duos.core.duos import duos_for_site
from bess_duos.core.profiles import DEFAULT_MAX_BYTES, load_profile
from bess_duos.core.tariffs import TariffQuery
from bess_duos.webhook.cli.args import positive_kva, site_distributor
from bess_duos.webhook.cli.errors import EXIT_OK, writing
from bess_duos.webhook.cli.output import add_output_flags, emit, output_format


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `duos` to the CLI."""
    parser = subparsers.add_parser(
        "duos",
        help="DUoS charges (£) of a half-hourly profile",
        description="Charge a half-hourly profile (CSV, XLSX or Parquet) with the DNO's DUoS "
        "tariff of each charging year it covers, and print the summary. Naive timestamps are "
        "UK clock time unless --tz UTC.",
    )
    parser.add_argument("profile", help="profile file: long (timestamp,kwh) or wide (date + 48)")
    parser.add_argument("--dno", required=True,
                        help="distributor ID (e.g. 14), MPID or short code")
    parser.add_argument("--voltage", help="LV, LV Sub, HV (default: from --llfc, else LV)")
    parser.add_argument("--kva", type=positive_kva, help="agreed (import) capacity, kVA")
    parser.add_argument("--llfc", help="line loss factor class: picks the exact tariff row")
    parser.add_argument("--residual-band", help="residual charging band (default: from --kva)")
    parser.add_argument("--area", type=int, help="host DNO area (needed for an IDNO --dno)")
    parser.add_argument("--power-factor", type=float, help="assumed pf when there is no kVArh")
    parser.add_argument("--tz", help="zone of naive timestamps (default Europe/London; or UTC)")
    parser.add_argument(
        "--convention", choices=("start", "end"), help="timestamps mark period start/end"
    )
    parser.add_argument(
        "--resample",
        choices=("split", "aggregate"),
        help="split hourly data into half hours, or aggregate 15-minute data",
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
    profile = load_profile(
        args.profile,
        timestamp_convention=args.convention,
        tz=args.tz,
        resample=args.resample,
        timestamp_column=args.timestamp_column,
        kwh_column=args.kwh_column,
        max_bytes=int(args.max_mb * 2**20),
    )
    query = TariffQuery(dno_id, area_distributor_id=args.area, voltage=args.voltage,
                        llfc=args.llfc, kva=args.kva, residual_band=args.residual_band)
    result = duos_for_site(profile.data, query, power_factor=args.power_factor)
    if args.out:
        frame = result.frame.copy()
        frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
        with writing("--out", args.out):
            frame.to_csv(args.out, index_label="timestamp_utc", float_format="%.6f")
    if output_format(args) != "json":  # JSON carries them in "quality"
        for warning in profile.quality.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    text = result.summary.format()
    if args.out:
        text += f"\nPer-half-hour charges written to {args.out}"
    emit(args, {"summary": result.summary.to_dict(), "quality": profile.quality.to_dict()},
         text=text)
    return EXIT_OK
