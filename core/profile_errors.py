"""The errors a profile can raise (kept apart so the table reader and the pipeline share them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_MESSAGE_CHARS = 1_000  # a message quotes cells and column names: never the whole file


def _short(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 20] + f"… ({len(text):,} characters)"


class ProfileError(ValueError):
    """A profile that cannot be used: says what was wrong, where, and what to do.

    `retry_with` names the load options that would read it (e.g. {"tz": "UTC"} when naive
    times skip the March clock change, {"resample": "split"} for hourly data), so a caller with
    a policy for such files decides by a typed attribute, not by the message's words.
    """

    def __init__(self, message: str, *, retry_with: Mapping[str, str] | None = None) -> None:
        super().__init__(_short(str(message)))
        self.retry_with = dict(retry_with or {})

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with its attribute (process pools)
        return (_rebuild, (type(self), str(self), self.retry_with))


def _rebuild(cls: type[ProfileError], message: str, retry_with: dict[str, str]) -> ProfileError:
    error = cls.__new__(cls)
    ProfileError.__init__(error, message, retry_with=retry_with)
    return error


class ProfileLimitError(ProfileError):
    """A file over one of the parse limits: `limit` names it, `figure` is the file's value."""

    def __init__(self, what: str, figure: int, limit: int, advice: str = "",
                 at_least: bool = False, source: str = "") -> None:
        self.limit_name = what
        self.figure = figure
        self.limit = limit
        self.advice = advice
        self.at_least = at_least  # counting stopped at the limit: the file has at least this
        self.source = source  # the file's name, when known
        has = f"at least {figure:,}" if at_least else f"{figure:,}"
        super().__init__(
            (f"profile file {source!r}: " if source else "")
            + f"too many {what}: the file has {has}, the limit is {limit:,}"
            + (f"; {advice}" if advice else "")
        )

    def named(self, source: str) -> ProfileLimitError:
        """The same refusal naming the file."""
        return ProfileLimitError(self.limit_name, self.figure, self.limit, self.advice,
                                 self.at_least, source)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ProfileLimitError, (self.limit_name, self.figure, self.limit, self.advice,
                                    self.at_least, self.source))
