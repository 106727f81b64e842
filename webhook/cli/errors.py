"""The CLI's one error type and one table of exit codes, used by every command.

A command raises `CliError` (or lets a core error of a known kind through); `bess-duos`'s
`main` turns it into one line on stderr (and a JSON object on stdout with `--json`) and the
exit code below. Messages say what was wrong, which flag or field, and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_WRITE = 4

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_INVALID: "the result is invalid (e.g. an MPAN with a wrong check digit)",
    EXIT_INPUT: "bad input: a flag, value or input file (usage errors too)",
    EXIT_NOT_FOUND: "not found or unavailable: no tariff, no area, a service or link down",
    EXIT_WRITE: "an output (file, folder, cache or sheet) could not be written",
}
_KINDS = {EXIT_INVALID: "invalid", EXIT_INPUT: "bad_input", EXIT_NOT_FOUND: "not_found",
          EXIT_WRITE: "write_failed"}


class CliError(Exception):
    """A command that cannot finish: `message` for the user, `exit_code` from `EXIT_CODES`,
    and `kind`, a short machine name for `--json` (default: from the exit code)."""

    def __init__(self, message: str, exit_code: int = EXIT_INPUT, kind: str = "") -> None:
        if exit_code not in EXIT_CODES or exit_code == EXIT_OK:
            raise ValueError(f"exit code {exit_code} is not an error code of EXIT_CODES")
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.kind = kind or _KINDS[exit_code]


def _kind_of(exc: BaseException) -> str:
    """UnknownDistrictError -> 'unknown_district' (the class name, snake case, no 'Error')."""
    name = re.sub(r"Error$", "", type(exc).__name__) or type(exc).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def caused_by(exc: BaseException, kinds: type | tuple[type, ...]) -> bool:
    """Whether `exc` or an error it was raised from (`__cause__`, down the chain) is one of
    `kinds`: e.g. a bad `postcode` field because the postcode's area could not be found."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


def as_cli_error(exc: BaseException) -> CliError | None:
    """The CliError for an error the core raises on bad input or a missing answer, else None
    (a programming fault, which is left to show its traceback).

    Not found / unavailable (3): no tariff, no area for a postcode (or its service is down),
    a lookup that found no tariff, a profile link that cannot be reached, and any error raised
    from one of those (a lookup's `postcode` field whose area was not found, as `postcode
    lookup` reports it). Bad input (2): any other ValueError from the core (its messages name
    the value and what to give) and a profile link that breaks a rule (e.g. not HTTPS).
    """
    from bess_duos.core.area_resolver import AreaLookupError
    from bess_duos.core.lookup import LookupFailed
    from bess_duos.core.tariffs import TariffNotFoundError
    from bess_duos.webhook.profile_links import (
        RULE_STATUS,
        RULE_TIME,
        RULE_UNREACHABLE,
        ProfileLinkError,
    )

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, LookupFailed):
        return CliError(exc.result.error or str(exc), EXIT_NOT_FOUND, "lookup_failed")
    if isinstance(exc, TariffNotFoundError | AreaLookupError):
        return CliError(str(exc), EXIT_NOT_FOUND, _kind_of(exc))
    if isinstance(exc, ValueError) and caused_by(exc, (TariffNotFoundError, AreaLookupError)):
        return CliError(str(exc), EXIT_NOT_FOUND, _kind_of(exc))
    if isinstance(exc, ProfileLinkError):
        code = EXIT_NOT_FOUND if exc.rule in (RULE_UNREACHABLE, RULE_STATUS, RULE_TIME) \
            else EXIT_INPUT
        return CliError(str(exc), code, "profile_link")
    if isinstance(exc, ValueError):
        return CliError(str(exc), EXIT_INPUT, _kind_of(exc))
    return None


@contextmanager
def about(flag: str, value: object) -> Iterator[None]:
    """Name the flag in a bad-input error raised inside: `--dno 99x: unknown distributor ...`."""
    try:
        yield
    except CliError:
        raise
    except ValueError as exc:
        raise CliError(f"{flag} {value}: {exc}", EXIT_INPUT, _kind_of(exc)) from exc


@contextmanager
def writing(flag: str, path: object) -> Iterator[None]:
    """An output that cannot be written (OSError) is a CliError with exit code 4."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise CliError(f"{flag} {path}: cannot write it ({why}); give a path in an existing "
                       "folder you can write to", EXIT_WRITE) from exc


def cannot_read(flag: str, path: object, exc: OSError, what: str) -> CliError:
    """The error for an input file that cannot be read: names it, the reason and what to give."""
    return CliError(f"{flag} {str(path)!r}: cannot read it ({exc.strerror or exc}); give {what}",
                    EXIT_INPUT)
