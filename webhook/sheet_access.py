"""Which spreadsheet a signed request may write: the rule, in one place.

- A request signed with a sheet's own key (`X-Key-Id: sheet:<id>`) writes that spreadsheet
  and no other; with no `spreadsheet_id` in the body it means that one.
- A request signed with the master key (ops) writes the local workbook, or a spreadsheet on
  `BESS_DUOS_SPREADSHEET_ALLOWLIST`; with no allowlist, no Google spreadsheet at all.
- Development without a secret (`--insecure-dev`): the allowlist when set, else any.
"""

from __future__ import annotations

from bess_duos.webhook.auth import Signer


class SpreadsheetNotAllowed(PermissionError):
    """The signer may not write this spreadsheet; the message says what would allow it."""


def spreadsheet_to_write(
    requested: str | None, signer: Signer | None, allowlist: frozenset[str] | None
) -> str | None:
    """The spreadsheet this request writes (None: the local workbook), or `SpreadsheetNotAllowed`.

    `signer` is None only when the server runs without a secret (development).
    """
    if signer is not None and not signer.is_master:
        if requested is not None and requested != signer.spreadsheet_id:
            raise SpreadsheetNotAllowed(
                "this request is signed with another spreadsheet's key: a sheet's key writes "
                "only its own spreadsheet"
            )
        return signer.spreadsheet_id
    if requested is None:
        return None
    if allowlist is not None and requested in allowlist:
        return requested
    if signer is None and allowlist is None:
        return requested  # development without a secret: nothing to check against
    raise SpreadsheetNotAllowed(
        f"spreadsheet {requested} is not on BESS_DUOS_SPREADSHEET_ALLOWLIST: sign with that "
        "sheet's own key (`bess-duos sheet-key ID`), or add it to the allowlist"
    )
