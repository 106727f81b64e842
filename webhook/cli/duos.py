"""`bess-duos duos PROFILE --dno 14 --voltage HV --kva 300`: DUoS charges of a profile file."""

from __future__ import annotations

import argparse
import json
import sys

from bess_duos.core.bands import BandAssignmentError
from bess_duos.core.duos import DuosError, duos_for_site
from bess_duos.core.profiles import DEFAULT_MAX_BYTES, ProfileError, load_profile
from bess_duos.core.tariffs import TariffNotFoundError
from bess_duos.core.timebands import TimeBandError
from bess_duos.webhook.cli.tariffs import site_distributor


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
    parser.add_argument("--kva", type=float, help="agreed (import) capacity, kVA")
    parser.add_argument("--llfc", help="line loss factor class: picks the exact tariff row")
    parser.add_argument("--residual-band", help="residual charging band (default: from --kva)")
    parser.add_argument("--tariff", help="published tariff name (`tariffs list`): picks that row")
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
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, charge, print; returns 0, or 2 with a one-line error on bad input."""
    dno_id, problem = site_distributor(args.dno, args.area)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        profile = load_profile(
            args.profile,
            timestamp_convention=args.convention,
            tz=args.tz,
            resample=args.resample,
            timestamp_column=args.timestamp_column,
            kwh_column=args.kwh_column,
            max_bytes=int(args.max_mb * 2**20),
        )
        result = duos_for_site(
            profile.data,
            dno_id,
            voltage=args.voltage,
            llfc=args.llfc,
            kva=args.kva,
            area_distributor_id=args.area,
            residual_band=args.residual_band,
            power_factor=args.power_factor,
            tariff_name=args.tariff,
        )
    except (ProfileError, DuosError, BandAssignmentError, TimeBandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (TariffNotFoundError, ValueError) as exc:
        print(f"error: tariff: {exc}", file=sys.stderr)
        return 2
    if args.out:
        try:
            frame = result.frame.copy()
            frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
            frame.to_csv(args.out, index_label="timestamp_utc", float_format="%.6f")
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
            return 2
    if args.json:
        payload = {"summary": result.summary.to_dict(), "quality": profile.quality.to_dict()}
        print(json.dumps(payload, indent=2))
    else:
        for warning in profile.quality.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(result.summary.format())
        if args.out:
            print(f"Per-half-hour charges written to {args.out}")
    return 0
