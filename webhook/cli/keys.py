"""`bess-duos sheet-key ID`: the signing key one spreadsheet's script uses (docs/webhook.md)."""

from __future__ import annotations

import argparse
import sys

from bess_duos.webhook.auth import MissingSecretError, secret_from_env, sheet_key


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `sheet-key`."""
    parser = subparsers.add_parser(
        "sheet-key", help="print the signing key of one spreadsheet (give it to its script)",
        description="Derive one spreadsheet's key from BESS_DUOS_WEBHOOK_SECRET. The sheet's "
        "Apps Script signs with it; it can write that spreadsheet only.",
    )
    parser.add_argument("spreadsheet_id", metavar="SPREADSHEET_ID",
                        help="the part of the sheet's URL between /d/ and /edit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the key; exit 2 on a bad ID or a missing/short master secret."""
    try:
        master = secret_from_env()
        key = sheet_key(master or "", args.spreadsheet_id.strip())
    except (MissingSecretError, ValueError) as exc:
        print(f"bess-duos sheet-key: {exc}", file=sys.stderr)
        return 2
    print(key)
    return 0
