"""The Flask webhook: `create_app(config)` wires settings and collaborators to the routes.

Endpoints (`webhook.routes`): POST /lookup, POST /mpan/validate (both signed, see
`webhook.auth`), GET /health, GET /ready, GET /dnos, GET /openapi.json. JSON in and out.

Config keys (`create_app(config)`, all optional; the environment is read once, into
`core.settings.Settings`, see docs/settings.md):

- `SETTINGS`: a `Settings` (default: `Settings.from_env()`).
- `WEBHOOK_SECRET`: the master HMAC secret (default: the settings'); at least 32 bytes.
- `INSECURE_DEV`: True to run without a secret (logged loudly); otherwise no secret = refuse.
- `FETCH_POLICY`: a `profile_links.FetchPolicy` (default production rules, plus the settings'
  test-only loopback ports).
- `PROFILE_FETCHER`: a `profile_links.ProfileFetcher` (default: one with the policy and Google
  credentials when configured).
- `SHEET_FACTORY`: `(spreadsheet_id | None, worksheet | None) -> SheetBackend` (default:
  `webhook.sheet_factory.open_sheet`, the workbook at `WORKBOOK_PATH` when no ID is given).
- `WORKBOOK_PATH`: the local workbook (default: the settings', else bess_sheet.xlsx).
- `AREA_LOOKUP`: postcode -> area function for `core.site_area` (default: the offline table,
  then online + cache only where it is uncertain).
- `LOOKUP_DATE`: a `datetime.date` for the tariff year (default: today).
- `CLOCK`: time source for the signature window (default `time.time`).
- `COMPUTE_PROCESSES`: worker processes for the CPU-bound part of each lookup (default: the
  settings', else 0 = in the request thread).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from bess_duos.core.settings import Settings
from bess_duos.webhook.auth import RequestVerifier, check_secret, secret_from_env
from bess_duos.webhook.compute import ComputePool
from bess_duos.webhook.context import EXTENSION, WebhookContext
from bess_duos.webhook.profile_source import default_fetcher, fetch_policy
from bess_duos.webhook.routes import MAX_BODY_BYTES, bp
from bess_duos.webhook.sheet_factory import DEFAULT_WORKBOOK, open_sheet
from flask import Flask

log = logging.getLogger("bess_duos.webhook")


def _verifier(config: Mapping[str, Any], settings: Settings) -> RequestVerifier | None:
    given = config.get("WEBHOOK_SECRET")
    secret = (check_secret(given) if given else
              secret_from_env(insecure_dev=bool(config["INSECURE_DEV"]), settings=settings))
    if secret:
        return RequestVerifier(secret, clock=config["CLOCK"])
    log.warning("INSECURE DEV MODE: requests are NOT authenticated (no webhook secret set); "
                "never expose this server")
    return None


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app (see the module doc for `config`)."""
    app = Flask("bess_duos_webhook")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, INSECURE_DEV=False, AREA_LOOKUP=None,
                      LOOKUP_DATE=None, CLOCK=time.time, JSON_SORT_KEYS=False)
    app.config.update(config or {})
    app.json.sort_keys = False
    settings: Settings = app.config.get("SETTINGS") or Settings.from_env()
    policy = app.config.get("FETCH_POLICY") or fetch_policy(settings)
    processes = app.config.get("COMPUTE_PROCESSES")
    pool = ComputePool(int(settings.compute_processes or 0 if processes is None else processes))
    workbook = app.config.get("WORKBOOK_PATH") or settings.workbook or DEFAULT_WORKBOOK
    app.extensions[EXTENSION] = WebhookContext(
        settings=settings,
        verifier=_verifier(app.config, settings),
        fetcher=app.config.get("PROFILE_FETCHER") or default_fetcher(policy, settings),
        pool=pool,
        sheet_factory=app.config.get("SHEET_FACTORY")
        or (lambda sid, tab: open_sheet(sid, tab, workbook=workbook)),
        area_lookup=app.config["AREA_LOOKUP"],
        lookup_date=app.config["LOOKUP_DATE"],
    )
    app.extensions["bess_duos_pool"] = pool
    if pool.size:
        pool.get()
    app.register_blueprint(bp)
    return app


__all__ = ["create_app"]
