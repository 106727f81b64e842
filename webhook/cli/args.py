"""Flags several commands share, checked the same way everywhere: kVA and the site's
distributor (`--dno`, with `--area` for an IDNO), and the profile reading options."""

from __future__ import annotations

import argparse
import math

from bess_duos.core.distributors import get_distributor
from bess_duos.core.profile_loader import RESAMPLE_CHOICES, TZ_CHOICES, ReadOptions
from bess_duos.core.tariffs import DNO_AREAS
from bess_duos.webhook.cli.errors import CliError, about


def positive_kva(text: str) -> float:
    """argparse type for --kva: a number of kVA above 0 (a usage error, exit 2, otherwise)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an agreed capacity: give a number of kVA above 0, e.g. 300")
    return value


def site_distributor(dno: str | int, area: int | None) -> int:
    """The distributor ID of CLI --dno/--area; CliError naming the flag to fix otherwise."""
    with about("--dno", dno):
        found = get_distributor(dno)
    if found.is_idno and area not in DNO_AREAS:
        given = "no --area was given" if area is None else f"--area {area} is not one"
        raise CliError(
            f"--dno {found.distributor_id} ({found.name}) is an IDNO, which has no single area: "
            f"give --area, the DNO area (10-23) the site is in (`bess-duos postcode lookup "
            f"POSTCODE` finds it); {given}")
    if not found.is_idno and area not in (None, found.distributor_id):
        raise CliError(f"--area {area}: --dno {found.distributor_id} is a DNO, so its area is "
                       "its own; leave --area out (it is only for IDNO sites)")
    return found.distributor_id


def add_profile_flags(parser: argparse.ArgumentParser) -> None:
    """--tz and --resample: the overrides of the one reading policy (`core.profile_loader`),
    the same words as the /lookup JSON fields `tz` and `resample`."""
    parser.add_argument("--tz", choices=TZ_CHOICES,
                        help="zone of naive timestamps (default: UK clock time, or UTC with a "
                        "warning when the times do not skip the March clock-change hour)")
    parser.add_argument("--resample", choices=RESAMPLE_CHOICES,
                        help="force hourly data to be split or 15-minute data summed (default: "
                        "either is done, with a warning)")


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The reading options the command's flags ask for (None: the policy decides)."""
    return ReadOptions(tz=args.tz, resample=args.resample,
                       timestamp_convention=getattr(args, "convention", None),
                       timestamp_column=getattr(args, "timestamp_column", None),
                       kwh_column=getattr(args, "kwh_column", None))
