"""Flags several commands share, checked the same way everywhere: kVA and the site's
distributor (`--dno`, with `--area` for an IDNO)."""

from __future__ import annotations

import argparse
import math

from bess_duos.core.distributors import get_distributor
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
