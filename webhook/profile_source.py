"""A profile from a link: the fetch policy and fetcher the webhook and the CLI share, and the
parsed-profile cache (the same bytes parse once). No Flask here: `bess-duos lookup` uses it.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from bess_duos.core.lookup import read_profile
from bess_duos.core.memo import LruMemo
from bess_duos.core.profiles import Profile, default_timestamp_convention
from bess_duos.core.settings import Settings, current
from bess_duos.webhook.profile_links import FetchedProfile, FetchPolicy, ProfileFetcher

log = logging.getLogger("bess_duos.webhook")

PROFILE_CACHE_SIZE = 8  # parsed profiles kept per process (a one-year profile is ~0.3 MB)
_EXCEL_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
}


def fetch_policy(settings: Settings | None = None, *, dev: bool = False) -> FetchPolicy:
    """The production policy, plus the settings' test-only loopback ports; `dev`
    (`serve --dev` only) also allows links to http://127.0.0.1 on any port."""
    ports = (settings or current()).test_loopback_ports
    if ports:
        log.warning("TEST-ONLY: profile links may use loopback ports %s", sorted(ports))
    return FetchPolicy(allow_loopback_ports=ports, dev_loopback=dev)


def default_fetcher(policy: FetchPolicy, settings: Settings | None = None) -> ProfileFetcher:
    """A fetcher with Google access when credentials are configured."""
    if not (settings or current()).google_configured:
        return ProfileFetcher(policy=policy)
    from bess_duos.webhook.google_sheet import default_client
    from bess_duos.webhook.profile_links import default_drive_session

    return ProfileFetcher(policy=policy, sheets_client=default_client,
                          drive_session=default_drive_session)


class ProfileCache:
    """The last few parsed profiles, keyed by the SHA-256 of the fetched bytes (least recently
    used dropped first). The sheet re-runs a lookup on every input edit with the same profile
    link: the link is still fetched every time, so a changed file has a new hash and is parsed
    again; only identical bytes reuse the parse. Cached profiles are shared: never modify one.
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

    def get(self, fetched: FetchedProfile) -> Profile:
        """The parsed profile of these bytes: from the cache, else parsed and kept."""
        suffix = ".xlsx" if fetched.content_type in _EXCEL_TYPES else ".csv"
        # The convention default (config/defaults.yaml) changes how the same bytes read.
        key = (hashlib.sha256(fetched.content).hexdigest(), suffix,
               default_timestamp_convention())
        # errors are not cached
        return self._memo.get(key, lambda: _parse_profile(fetched.content, suffix))

    def clear(self) -> None:
        """Forget every profile (and the counts)."""
        self._memo.clear()


def _parse_profile(content: bytes, suffix: str) -> Profile:
    with tempfile.TemporaryDirectory(prefix="bess-duos-profile-") as folder:
        path = Path(folder) / f"profile{suffix}"
        path.write_bytes(content)
        return read_profile(path)


PROFILE_CACHE = ProfileCache()


def profile_from_bytes(fetched: FetchedProfile) -> Profile:
    """Parse fetched bytes with `core.lookup.read_profile` (UTC or hourly data noted); the
    same bytes parse once (`PROFILE_CACHE`, keyed by their SHA-256)."""
    return PROFILE_CACHE.get(fetched)


def fetch_profile(link: str, policy: FetchPolicy | None = None) -> Profile:
    """The parsed profile behind a link (`fetch_policy()` rules by default); raises
    `ProfileLinkError` or `core.profiles.ProfileError`."""
    return profile_from_bytes(default_fetcher(policy or fetch_policy()).fetch(link))
