"""One way in for a profile nobody configures (a sheet's link, the CLI, the webhook, the
portfolio): a file path, a file's bytes or a frame -> `core.profiles.Profile`, read under the
parse limits of `core.profile_tables`, with the one policy below, and the same bytes parsed once.

The policy (docs/duos.md "One reading policy"), the same for `duos`, `lookup`, the webhook, the
sheet and the portfolio; a caller overrides it with the same words everywhere (`tz`,
`resample`: CLI `--tz`, `--resample`; /lookup JSON fields `tz`, `resample`):

- resolution: hourly data is split into half hours and 15-minute data summed into half hours,
  each with a warning, unless `resample` is given;
- naive times are UK clock time. A naive file whose times do not skip the hour the clock skips
  at the March change (it has 48 half hours that day, so it is not UK clock time) is read as
  UTC with a warning, unless `tz` is given;
- too little data (`annual_span`): below `MIN_DAYS_RELIABLE` days of data the annual figures
  are extrapolated with a warning; below `MIN_DAYS_ANNUAL` they are left blank with the reason.

Retries are decided from `ProfileError.retry_with`, never from the message's words.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from bess_duos.core.memo import LruMemo
from bess_duos.core.profile_errors import ProfileError, ProfileLimitError
from bess_duos.core.profile_tables import DEFAULT_LIMITS, TableLimits
from bess_duos.core.profiles import (
    Profile,
    Resample,
    default_timestamp_convention,
    load_profile,
    load_sliced_profiles,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

HALF_HOURS_PER_DAY = 48
PROFILE_CACHE_SIZE = 8  # parsed profiles kept per process (a one-year profile is ~0.3 MB)
MIN_DAYS_ANNUAL = 7  # days of data below which no annual figure is given
MIN_DAYS_RELIABLE = 28  # days of data below which an annual figure carries a warning
TZ_CHOICES = ("Europe/London", "UTC")
RESAMPLE_CHOICES = ("split", "aggregate")
# load_profile options this policy may add, and the warning each one adds (None: the loader's
# own warnings already say it).
_ACCEPTED_RETRIES: dict[tuple[str, str], str | None] = {
    ("tz", "UTC"): "naive timestamps read as UTC (they skip no hour at the March clock change, "
                   "so they are not UK clock time; give tz Europe/London to refuse them instead)",
    ("resample", "split"): None,
    ("resample", "aggregate"): None,
}


@dataclass(frozen=True)
class ReadOptions:
    """What a caller asks of the policy: `tz` of naive times and `resample` (None: the policy
    decides), the timestamp convention and the columns to use (None: found by name)."""

    tz: str | None = None
    resample: Resample | None = None
    timestamp_convention: str | None = None
    timestamp_column: str | None = None
    kwh_column: str | None = None


DEFAULT_OPTIONS = ReadOptions()


def read_profile(
    source: str | Path | bytes | pd.DataFrame, *, name: str | None = None,
    limits: TableLimits = DEFAULT_LIMITS, options: ReadOptions = DEFAULT_OPTIONS,
) -> Profile:
    """`core.profiles.load_profile` with the policy (module doc) for a file path, a file's bytes
    (`name` names them in messages) or a frame. Raises `ProfileError`."""
    given = {k: v for k, v in vars(options).items() if v is not None}
    added: dict[str, str] = {}
    said: list[str] = []
    while True:
        try:
            profile = load_profile(source, name=name, limits=limits, max_bytes=limits.max_bytes,
                                   **given, **added)  # type: ignore[arg-type]
            break
        except ProfileError as exc:
            retry = {k: v for k, v in exc.retry_with.items()
                     if (k, v) in _ACCEPTED_RETRIES and k not in given and k not in added}
            if not retry:
                raise
            added.update(retry)
            said.extend(w for k, v in retry.items() if (w := _ACCEPTED_RETRIES[(k, v)]))
    if not said:
        return profile
    quality = replace(profile.quality, warnings=(*profile.quality.warnings, *said))
    return Profile(profile.data, quality)


def read_sliced_profiles(table: pa.Table, bounds: np.ndarray, *, kwh_only: bool = False
                         ) -> list[Profile | None]:
    """`read_profile` of each slice `table[bounds[i]:bounds[i + 1]]` as a frame, for the slices
    `core.profiles.load_sliced_profiles` reads all at once (they read without error, so the
    policy adds nothing); None for the others, to be read one by one with `read_profile`.
    `kwh_only`: as `load_sliced_profiles` takes it."""
    return load_sliced_profiles(table, bounds, kwh_only=kwh_only)


@dataclass(frozen=True)
class AnnualSpan:
    """The too-little-data verdict on a profile's days of data: `blank` (no annual figure) and
    the `warning` for the status row (None: enough data)."""

    days: float
    blank: bool
    warning: str | None


def annual_span(half_hours: int) -> AnnualSpan:
    """The policy's verdict for annual figures from `half_hours` half hours of data."""
    days = half_hours / HALF_HOURS_PER_DAY
    shown = f"{days:.3g}"
    if days < MIN_DAYS_ANNUAL:
        return AnnualSpan(days, True, (
            f"only {shown} day(s) of data: annual DUoS £ and flexibility £/yr and saving % left "
            f"blank (at least {MIN_DAYS_ANNUAL} days are needed to estimate a year; give a "
            "longer profile)"))
    if days < MIN_DAYS_RELIABLE:
        return AnnualSpan(days, False, (
            f"only {shown} day(s) of data: annual figures extrapolated from under "
            f"{MIN_DAYS_RELIABLE} days, treat them as rough (give a longer profile)"))
    return AnnualSpan(days, False, None)


def _withheld(exc: ProfileError, name: str) -> ProfileError:
    """The refusal without any of the file's cells or column names (another document's)."""
    if isinstance(exc, ProfileLimitError):
        return exc  # names only the limit and the file's figure
    return ProfileError(
        f"{name} is not a usable profile; its cells are not quoted here because it is another "
        "document: check it has a timestamp and a kWh column (or a date and 48 half hours)"
    )


class _NotCached(Exception):
    """`ProfileCache.cached` found nothing (never leaves this module)."""


class ProfileCache:
    """The last few parsed profiles, keyed by the SHA-256 of the bytes (least recently used
    dropped first). The sheet re-runs a lookup on every input edit with the same profile link:
    the link is still fetched every time, so a changed file has a new hash and is parsed again;
    only identical bytes reuse the parse. Errors are not cached. Cached profiles are shared:
    never modify one.
    """

    def __init__(self, size: int = PROFILE_CACHE_SIZE) -> None:
        self._memo = LruMemo(size)

    @property
    def size(self) -> int:
        """How many parsed profiles are kept (0: none)."""
        return self._memo.size

    @property
    def hits(self) -> int:
        """Answers from the cache since the last `clear()`."""
        return self._memo.hits

    @property
    def misses(self) -> int:
        """Profiles parsed (successfully) since the last `clear()`."""
        return self._memo.misses

    @staticmethod
    def digest(content: bytes) -> str:
        """The SHA-256 (hex) of a file's bytes, as this cache keys them."""
        return hashlib.sha256(content).hexdigest()

    def get(self, content: bytes, *, name: str = "profile", quote_cells: bool = True,
            limits: TableLimits = DEFAULT_LIMITS,
            options: ReadOptions = DEFAULT_OPTIONS, digest: str | None = None) -> Profile:
        """The parsed profile of these bytes: from the cache, else parsed and kept.

        `quote_cells=False` (a document other than the caller's own) keeps the file's cells
        out of any error message. `digest`: `digest(content)` when the caller has it already.
        """
        def parse() -> Profile:
            try:
                return read_profile(content, name=name, limits=limits, options=options)
            except ProfileError as exc:
                if quote_cells:
                    raise
                raise _withheld(exc, name) from None

        return self._memo.get(self._key(digest or self.digest(content), name, limits, options),
                              parse)

    def cached(self, digest: str, *, name: str = "profile", limits: TableLimits = DEFAULT_LIMITS,
               options: ReadOptions = DEFAULT_OPTIONS) -> Profile | None:
        """The profile `get` would answer from the cache for bytes of this digest, else None
        (nothing is parsed; a miss is not counted)."""
        def missing() -> Profile:
            raise _NotCached

        try:
            return self._memo.get(self._key(digest, name, limits, options), missing)
        except _NotCached:
            return None

    @staticmethod
    def _key(digest: str, name: str, limits: TableLimits, options: ReadOptions) -> tuple:
        # The convention default (config/defaults.yaml) changes how the same bytes read; the
        # name is in the quality report.
        return (digest, name, default_timestamp_convention(), limits, options)

    def clear(self) -> None:
        """Forget every profile (and the counts)."""
        self._memo.clear()


PROFILE_CACHE = ProfileCache()


def profile_from_bytes(content: bytes, *, name: str = "profile", quote_cells: bool = True,
                       options: ReadOptions = DEFAULT_OPTIONS,
                       digest: str | None = None) -> Profile:
    """Parse a file's bytes with `read_profile`; the same bytes parse once (`PROFILE_CACHE`;
    `digest`: `ProfileCache.digest(content)` when the caller has it already)."""
    return PROFILE_CACHE.get(content, name=name, quote_cells=quote_cells, options=options,
                             digest=digest)
