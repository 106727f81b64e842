"""One way in for a profile nobody configures (a sheet's link, the CLI, the webhook): a file path
or a file's bytes -> `core.profiles.Profile`, read under the parse limits of
`core.profile_tables`, with the forgiving policy below, and the same bytes parsed once.

Policy: when the naive times skip no hour at the March clock change (so they are not UK clock
time) they are read as UTC, and hourly data is split into half hours; a warning says so.
Decided from `ProfileError.retry_with`, never from the message's words.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from bess_duos.core.memo import LruMemo
from bess_duos.core.profile_errors import ProfileError, ProfileLimitError
from bess_duos.core.profile_tables import DEFAULT_LIMITS, TableLimits
from bess_duos.core.profiles import Profile, default_timestamp_convention, load_profile

PROFILE_CACHE_SIZE = 8  # parsed profiles kept per process (a one-year profile is ~0.3 MB)
# load_profile options this policy may add, and the warning each one adds (None: the loader's
# own warnings already say it).
_ACCEPTED_RETRIES: dict[tuple[str, str], str | None] = {
    ("tz", "UTC"): "naive timestamps read as UTC (they skip no hour at the March clock change, "
                   "so they are not UK clock time)",
    ("resample", "split"): None,
}


def read_profile(
    source: str | Path | bytes, *, name: str | None = None,
    limits: TableLimits = DEFAULT_LIMITS,
) -> Profile:
    """`core.profiles.load_profile` with the forgiving policy (module doc) for a file path or a
    file's bytes (`name` names them in messages). Raises `ProfileError`."""
    options: dict[str, str] = {}
    said: list[str] = []
    while True:
        try:
            profile = load_profile(source, name=name, limits=limits, max_bytes=limits.max_bytes,
                                   **options)  # type: ignore[arg-type]
            break
        except ProfileError as exc:
            retry = {k: v for k, v in exc.retry_with.items()
                     if (k, v) in _ACCEPTED_RETRIES and k not in options}
            if not retry:
                raise
            options.update(retry)
            said.extend(w for k, v in retry.items() if (w := _ACCEPTED_RETRIES[(k, v)]))
    if not said:
        return profile
    quality = replace(profile.quality, warnings=(*profile.quality.warnings, *said))
    return Profile(profile.data, quality)


def _withheld(exc: ProfileError, name: str) -> ProfileError:
    """The refusal without any of the file's cells or column names (another document's)."""
    if isinstance(exc, ProfileLimitError):
        return exc  # names only the limit and the file's figure
    return ProfileError(
        f"{name} is not a usable profile; its cells are not quoted here because it is another "
        "document: check it has a timestamp and a kWh column (or a date and 48 half hours)"
    )


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

    def get(self, content: bytes, *, name: str = "profile", quote_cells: bool = True,
            limits: TableLimits = DEFAULT_LIMITS) -> Profile:
        """The parsed profile of these bytes: from the cache, else parsed and kept.

        `quote_cells=False` (a document other than the caller's own) keeps the file's cells
        out of any error message.
        """
        # The convention default (config/defaults.yaml) changes how the same bytes read; the
        # name is in the quality report.
        key = (hashlib.sha256(content).hexdigest(), name, default_timestamp_convention(),
               limits)

        def parse() -> Profile:
            try:
                return read_profile(content, name=name, limits=limits)
            except ProfileError as exc:
                if quote_cells:
                    raise
                raise _withheld(exc, name) from None

        return self._memo.get(key, parse)

    def clear(self) -> None:
        """Forget every profile (and the counts)."""
        self._memo.clear()


PROFILE_CACHE = ProfileCache()


def profile_from_bytes(content: bytes, *, name: str = "profile",
                       quote_cells: bool = True) -> Profile:
    """Parse a file's bytes with `read_profile`; the same bytes parse once (`PROFILE_CACHE`)."""
    return PROFILE_CACHE.get(content, name=name, quote_cells=quote_cells)
