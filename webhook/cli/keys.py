"""`bess-duos sheet-key ID`: the signing key one spreadsheet's script uses (docs/webhook.md)."""

from __future__ import annotations

import argparse

from bess_duos.webhook.auth import MissingSecretError, secret_from_env, sheet_key
from bess_duos.webhook.cli.errors import EXIT_OK, CliError, about


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
    """Print the key; a bad ID or a missing/short master secret is a CliError (exit 2)."""
    try:
        master = secret_from_env()
    except MissingSecretError as exc:
        raise CliError(str(exc), kind="secret") from exc
    with about("SPREADSHEET_ID", args.spreadsheet_id):
        key = sheet_key(master or "", args.spreadsheet_id.strip())
    print(key)
    return EXIT_OK
