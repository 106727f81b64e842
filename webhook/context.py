"""What the routes need, built once by `create_app` and kept on the app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bess_duos.core.settings import Settings
from bess_duos.webhook.auth import RequestVerifier
from bess_duos.webhook.compute import ComputePool
from bess_duos.webhook.profile_links import ProfileFetcher
from bess_duos.webhook.sheets import SheetBackend
from flask import current_app

EXTENSION = "bess_duos"


@dataclass(frozen=True)
class WebhookContext:
    """The app's settings and collaborators (see `webhook.app.create_app`)."""

    settings: Settings
    verifier: RequestVerifier | None  # None: development without a secret
    fetcher: ProfileFetcher
    pool: ComputePool
    sheet_factory: Callable[[str | None, str | None], SheetBackend]
    area_lookup: Callable[[Any], Any] | None
    lookup_date: dt.date | None

    def today(self) -> dt.date:
        """The date that picks the tariff year."""
        return self.lookup_date or dt.date.today()


def context() -> WebhookContext:
    """The context of the app handling the current request."""
    return current_app.extensions[EXTENSION]
