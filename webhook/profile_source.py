"""A profile from a link: the fetch policy and fetcher the webhook and the CLI share; the
bytes are parsed by the one core loader (`core.profile_loader`, which keeps the parsed-profile
cache). No Flask here: `bess-duos lookup` uses it.
"""

from __future__ import annotations

import logging

from bess_duos.core.profile_loader import DEFAULT_OPTIONS, ReadOptions
from bess_duos.core.profiles import Profile
from bess_duos.core.settings import Settings, current
from bess_duos.webhook.profile_links import FetchPolicy, ProfileFetcher, profile_of

log = logging.getLogger("bess_duos.webhook")


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


def fetch_profile(link: str, policy: FetchPolicy | None = None, *,
                  spreadsheet_id: str | None = None,
                  options: ReadOptions = DEFAULT_OPTIONS) -> Profile:
    """The parsed profile behind a link (`fetch_policy()` rules by default; a Google link only
    when it is `spreadsheet_id` or allowlisted in the policy); raises `ProfileLinkError` or
    `core.profiles.ProfileError`."""
    fetcher = default_fetcher(policy or fetch_policy())
    return profile_of(fetcher.fetch(link, spreadsheet_id=spreadsheet_id), options)
