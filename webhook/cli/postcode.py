"""`bess-duos postcode lookup "B1 1AA"`: a postcode's DNO area, and where the answer came from."""

from __future__ import annotations

import argparse
import json
import sys

from bess_duos.core.area_resolver import (
    AreaCache,
    AreaLookup,
    AreaLookupError,
    CarbonIntensityResolver,
    NoOfflineDataError,
    OctopusResolver,
    OfflineTableResolver,
    ServiceUnavailableError,
    UnknownDistrictError,
)
from bess_duos.core.postcodes import PostcodeError, parse_postcode

EXIT_OK = 0
EXIT_BAD_POSTCODE = 2
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4


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
    look.add_argument("--json", action="store_true", help="print the result as JSON")
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


def _error(args: argparse.Namespace, kind: str, message: str, status: int) -> int:
    if args.json:
        print(json.dumps({"ok": False, "error": kind, "message": message}, indent=2))
    else:
        print(f"error: {message}", file=sys.stderr)
    return status


def run_lookup(args: argparse.Namespace) -> int:
    """Run `postcode lookup`; returns 0, 2 bad postcode, 3 no area found, 4 service down."""
    try:
        postcode = parse_postcode(args.postcode)
    except PostcodeError as exc:
        return _error(args, "bad_postcode", str(exc), EXIT_BAD_POSTCODE)
    try:
        cache = None if args.no_cache else AreaCache(args.cache_dir)
        lookup = AreaLookup(
            resolvers=[
                OctopusResolver(timeout=args.timeout, attempts=args.attempts),
                CarbonIntensityResolver(timeout=args.timeout, attempts=args.attempts),
            ],
            cache=cache,
            offline=OfflineTableResolver(),
        )
        result = lookup.lookup(postcode, online=not args.offline)
    except ServiceUnavailableError as exc:
        return _error(args, "service_unavailable", str(exc), EXIT_UNAVAILABLE)
    except AreaLookupError as exc:
        kind = {UnknownDistrictError: "unknown_district", NoOfflineDataError: "no_offline_data"}
        return _error(args, kind.get(type(exc), "not_found"), str(exc), EXIT_NOT_FOUND)
    except (OSError, ValueError) as exc:  # cache folder not writable, bad cache-age setting
        return _error(args, "setup", str(exc), EXIT_UNAVAILABLE)
    if args.json:
        print(json.dumps({"ok": True, **result.to_dict()}, indent=2))
        return EXIT_OK
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
    print("\n".join(lines))
    return EXIT_OK
