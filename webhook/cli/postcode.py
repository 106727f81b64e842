"""`bess-duos postcode lookup "B1 1AA"`: a postcode's DNO area, and where the answer came from."""

from __future__ import annotations

import argparse

from bess_duos.core.area_resolver import (
    AreaCache,
    AreaLookup,
    CarbonIntensityResolver,
    OctopusResolver,
    OfflineTableResolver,
)
from bess_duos.core.postcodes import PostcodeError, parse_postcode
from bess_duos.webhook.cli.errors import EXIT_OK, EXIT_WRITE, CliError
from bess_duos.webhook.cli.output import add_output_flags, emit


def _positive_seconds(text: str) -> float:
    """argparse type for --timeout: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 (e.g. 5)")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `postcode lookup` to the CLI."""
    parser = subparsers.add_parser("postcode", help="UK postcodes: parse and find the DNO area")
    sub = parser.add_subparsers(dest="postcode_command", metavar="ACTION", required=True)
    look = sub.add_parser(
        "lookup",
        help="normalised postcode, GSP group, DNO and the source of the answer",
        description="Find a GB postcode's DNO area: disk cache, then Octopus's grid-supply-points "
        "service, then the Carbon Intensity API, then a stale cache entry, then the offline "
        "table (none shipped).",
    )
    look.add_argument("postcode", help='the postcode, any case or spacing, e.g. "B1 1AA"')
    add_output_flags(look)
    look.add_argument(
        "--offline", action="store_true", help="do not go online: cache and offline table only"
    )
    look.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    look.add_argument("--cache-dir", help="cache folder (default $BESS_DUOS_CACHE_DIR or "
                      "~/.cache/bess-duos)")
    look.add_argument("--timeout", type=_positive_seconds, default=5.0,
                      help="seconds to wait for each online answer (default 5)")
    look.add_argument("--attempts", type=int, default=3,
                      help="tries per online service before giving up (default 3)")
    look.set_defaults(func=run_lookup)


def run_lookup(args: argparse.Namespace) -> int:
    """Run `postcode lookup`: 0, or the CLI's exit codes (2 bad postcode, 3 no area found or
    the services are down, 4 the cache cannot be written)."""
    try:
        postcode = parse_postcode(args.postcode)
    except PostcodeError as exc:
        raise CliError(f"POSTCODE {args.postcode!r}: {exc}", kind="bad_postcode") from exc
    try:
        cache = None if args.no_cache else AreaCache(args.cache_dir)
    except OSError as exc:  # the cache folder cannot be made or written
        raise CliError(f"{exc}; or give --cache-dir a folder you can write to, or --no-cache",
                       EXIT_WRITE, "cache") from exc
    lookup = AreaLookup(
        resolvers=[
            OctopusResolver(timeout=args.timeout, attempts=args.attempts),
            CarbonIntensityResolver(timeout=args.timeout, attempts=args.attempts),
        ],
        cache=cache,
        offline=OfflineTableResolver(),
    )
    result = lookup.lookup(postcode, online=not args.offline)  # AreaLookupError: exit 3
    d = result.distributor
    when = result.fetched_at.isoformat(timespec="seconds")
    origin = "" if result.origin == result.source else f", first from {result.origin}"
    lines = [
        f"postcode    {result.postcode.unit}  (district {postcode.district}, "
        f"sector {postcode.sector})",
        f"area        {result.gsp_group_id} {d.gsp_group_name}",
        f"DNO         {d.distributor_id} {d.name} ({d.short_code}, {d.mpid})",
        f"source      {result.source}{origin} at {when}{' (stale)' if result.stale else ''}",
        f"confidence  {result.confidence} ({result.level} level"
        f"{', district straddles areas' if result.straddles else ''})",
    ]
    lines += [f"warning     {w}" for w in result.warnings]
    emit(args, {"ok": True, **result.to_dict()}, text="\n".join(lines))
    return EXIT_OK
