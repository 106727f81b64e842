"""The Flask webhook: `create_app(config)` builds it; JSON in and out everywhere.

Endpoints: POST /lookup, POST /mpan/validate (both signed, see `webhook.auth`), GET /health,
GET /ready, GET /dnos, GET /openapi.json. Status codes of /lookup: 200 computed and written
(status ok or warning); 400 bad input (`fields` names each bad field); 401 bad signature;
403 spreadsheet not allowed; 422 profile link or content unusable (names the link and rule),
or no tariff; 502 the sheet could not be written; 500 internal fault (request id only).
On 400/422/502 the sheet's status block says what went wrong (when a sheet is targeted and
`write` is true); the output cells are never half written.

Config keys (`create_app(config)`, all optional):

- `WEBHOOK_SECRET`: the HMAC secret (default: env `BESS_DUOS_WEBHOOK_SECRET`).
- `INSECURE_DEV`: True to run without a secret (logged loudly); otherwise no secret = refuse.
- `FETCH_POLICY`: a `profile_links.FetchPolicy` (default production rules; env
  `BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS` (comma-separated ports) is the test-only allowance).
- `PROFILE_FETCHER`: a `profile_links.ProfileFetcher` (default: one with the policy and Google
  credentials when configured).
- `SHEET_FACTORY`: `(spreadsheet_id | None, worksheet | None) -> SheetBackend` (default:
  `webhook.sheets.open_sheet`, the workbook at `WORKBOOK_PATH` when no ID is given).
- `WORKBOOK_PATH`: the local workbook (default env `BESS_DUOS_WORKBOOK`, else bess_sheet.xlsx).
- `AREA_LOOKUP`: postcode -> area function for `core.site_area` (default: online + cache).
- `LOOKUP_DATE`: a `datetime.date` for the tariff year (default: today).
- `CLOCK`: time source for the signature window (default `time.time`).
- `COMPUTE_PROCESSES`: worker processes for the CPU-bound part of each lookup (default env
  `BESS_DUOS_COMPUTE_PROCESSES`, else 0 = in the request thread): lets the one server process
  (which holds the replay cache and the sheet ordering) use several cores. Opt-in: on the
  shared 2-core test machine it halved p95 when a core was free and gained nothing when other
  jobs used both (benchmarks/bench_webhook.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import multiprocessing
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from bess_duos.core.distributors import all_distributors
from bess_duos.core.lookup import (
    INPUT_FIELDS,
    InputErrors,
    LookupFailed,
    LookupInputs,
    LookupResult,
    decide_area,
    parse_inputs,
    read_profile,
    run_lookup,
)
from bess_duos.core.memo import LruMemo
from bess_duos.core.mpan import MpanError
from bess_duos.core.profiles import Profile, ProfileError, default_timestamp_convention
from bess_duos.core.site_area import SiteArea
from bess_duos.webhook.auth import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AuthError,
    MissingSecretError,
    RequestVerifier,
    secret_from_env,
)
from bess_duos.webhook.logging_setup import request_id_var
from bess_duos.webhook.openapi import openapi_spec
from bess_duos.webhook.profile_links import (
    FetchedProfile,
    FetchPolicy,
    ProfileFetcher,
    ProfileLinkError,
    display_link,
)
from bess_duos.webhook.sheet_fields import sheet_fields
from bess_duos.webhook.sheets import (
    DEFAULT_WORKBOOK,
    RequestOrder,
    SheetBackend,
    SheetError,
    SpreadsheetNotAllowed,
    google_credentials_configured,
    open_sheet,
)
from flask import Flask, Response, g, jsonify, request

log = logging.getLogger("bess_duos.webhook")

WORKBOOK_ENV = "BESS_DUOS_WORKBOOK"
LOOPBACK_ENV = "BESS_DUOS_TEST_ALLOW_LOOPBACK_PORTS"
PROCESSES_ENV = "BESS_DUOS_COMPUTE_PROCESSES"
PROFILE_CACHE_SIZE = 8  # parsed profiles kept per process (a one-year profile is ~0.3 MB)
CONTROL_FIELDS = ("spreadsheet_id", "worksheet", "write")
MAX_BODY_BYTES = 64 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_EXCEL_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
}


class _Refusal(Exception):
    """An answer other than 200 from inside the lookup, with the status to write."""

    def __init__(self, code: int, body: dict[str, Any], status_message: str) -> None:
        super().__init__(status_message)
        self.code = code
        self.body = body
        self.status_message = status_message


def policy_from_env() -> FetchPolicy:
    """The production policy, plus the test-only loopback ports from the environment."""
    ports = frozenset(
        int(p) for p in os.environ.get(LOOPBACK_ENV, "").split(",") if p.strip().isdigit()
    )
    if ports:
        log.warning("TEST-ONLY: profile links may use loopback ports %s", sorted(ports))
    return FetchPolicy(allow_loopback_ports=ports)


def default_fetcher(policy: FetchPolicy) -> ProfileFetcher:
    """A fetcher with Google access when credentials are configured."""
    if not google_credentials_configured():
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


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lookup_job(
    fetched: FetchedProfile | None,
    inputs: LookupInputs,
    site: SiteArea,
    on: dt.date,
    request_id: str,
) -> LookupResult:
    """The CPU-bound part of a lookup (parse the profile, compute); runs in a worker process
    when the app has a compute pool, so one server process uses every core."""
    profile = profile_from_bytes(fetched) if fetched is not None else None
    return run_lookup(inputs, profile=profile, on=on, site=site, request_id=request_id)


def _warm() -> int:
    return os.getpid()


class ComputePool:
    """A lazily started process pool (spawn), re-made in a forked child; size 0 = no pool."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> ProcessPoolExecutor:
        """The pool of this process, started (and warmed: every worker imported) on first use."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ProcessPoolExecutor(
                    self.size, mp_context=multiprocessing.get_context("spawn"))
                self._pid = os.getpid()
                warm = [self._pool.submit(_warm) for _ in range(self.size)]
                for future in warm:
                    future.result()
            return self._pool

    def shutdown(self) -> None:
        """Stop the workers (tests; the process's exit does it otherwise)."""
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _refuse_input(exc: InputErrors) -> _Refusal:
    return _Refusal(400, {"error": "bad input", "fields": exc.errors},
                    "bad input: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))


def _error(code: int, message: str, **extra: Any) -> tuple[Response, int]:
    body = {"error": message, "request_id": g.get("request_id", ""), **extra}
    return jsonify(json_safe(body)), code


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app (see the module doc for `config`)."""
    app = Flask("bess_duos_webhook")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        INSECURE_DEV=False,
        WORKBOOK_PATH=os.environ.get(WORKBOOK_ENV, DEFAULT_WORKBOOK),
        AREA_LOOKUP=None,
        LOOKUP_DATE=None,
        CLOCK=time.time,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    app.json.sort_keys = False
    secret = app.config.get("WEBHOOK_SECRET")
    if not secret:
        secret = secret_from_env(insecure_dev=bool(app.config["INSECURE_DEV"]))
    verifier = RequestVerifier(secret, clock=app.config["CLOCK"]) if secret else None
    if verifier is None:
        log.warning("INSECURE DEV MODE: requests are NOT authenticated (no webhook secret set); "
                    "never expose this server")
    policy = app.config.get("FETCH_POLICY") or policy_from_env()
    fetcher: ProfileFetcher = app.config.get("PROFILE_FETCHER") or default_fetcher(policy)
    processes = app.config.get("COMPUTE_PROCESSES")
    if processes is None:
        processes = os.environ.get(PROCESSES_ENV, "") or 0
    pool = ComputePool(int(processes))
    app.extensions["bess_duos_pool"] = pool
    if pool.size:
        pool.get()
    workbook = app.config["WORKBOOK_PATH"]
    sheet_factory: Callable[[str | None, str | None], SheetBackend] = (
        app.config.get("SHEET_FACTORY")
        or (lambda sid, tab: open_sheet(sid, tab, workbook=workbook))
    )

    @app.before_request
    def start() -> tuple[Response, int] | None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        g.token = request_id_var.set(g.request_id)
        g.started = time.perf_counter()
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        g.order = RequestOrder.arrived(float(stamp) if stamp.strip().isdigit() else None)
        if request.method == "POST" and verifier is not None:
            try:
                verifier.verify(stamp, request.headers.get(SIGNATURE_HEADER),
                                request.get_data(cache=True))
            except AuthError as exc:
                log.warning("request refused: %s", exc.reason, extra={"path": request.path})
                return _error(401, f"unauthorised: {exc.reason}")
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 1),
            },
        )
        return response

    @app.teardown_request
    def reset(_exc: BaseException | None) -> None:
        token = g.pop("token", None)
        if token is not None:
            request_id_var.reset(token)

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> tuple[Response, int]:
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return _error(exc.code or 500, exc.description or exc.name)
        log.exception("internal fault")
        return _error(500, "internal error: quote the request id when reporting it")

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/ready")
    def ready() -> tuple[Response, int]:
        from bess_duos.core.tariffs import available_years
        from bess_duos.webhook.layout import default_layout

        checks: dict[str, str] = {}
        try:
            checks["layout"] = f"{len(default_layout().output_fields)} output fields"
            checks["distributors"] = f"{len(all_distributors())} distributors"
            years = available_years()
            if not years:
                raise RuntimeError("no tariffs in config/tariffs")
            checks["tariffs"] = f"{len(years)} DNO areas with tariffs"
        except Exception as exc:
            log.exception("not ready")
            return jsonify({"status": "not ready", "error": str(exc), "checks": checks,
                            "request_id": g.request_id}), 503
        return jsonify({"status": "ready", "checks": checks}), 200

    @app.get("/dnos")
    def dnos() -> Response:
        from bess_duos.core.tariffs import available_years

        years = available_years()
        rows = []
        for d in all_distributors():
            row = d.to_dict()
            row["tariff_years"] = years.get(d.distributor_id, []) if not d.is_idno else None
            rows.append(row)
        return jsonify({"distributors": rows})

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_spec())

    @app.post("/mpan/validate")
    def mpan_validate() -> tuple[Response, int]:
        body = _json_object()
        if isinstance(body, tuple):
            return body
        if set(body) - {"mpan"} or "mpan" not in body:
            return _error(400, "bad input", fields={"mpan": "give {\"mpan\": \"...\"} only"})
        from bess_duos.core.lookup import parse_mpan_input

        try:
            mpan = parse_mpan_input(body["mpan"])
        except MpanError as exc:
            return _error(400, "bad input", fields={"mpan": str(exc)})
        reason = None if mpan.check_digit_valid else (
            f"wrong check digit: the last digit is {mpan.check_digit}, expected "
            f"{mpan.expected_check_digit}; the distributor is still named")
        return jsonify({"valid": mpan.check_digit_valid, "reason": reason,
                        "mpan": mpan.to_dict()}), 200

    @app.post("/lookup")
    def lookup() -> tuple[Response, int]:
        body = _json_object()
        if isinstance(body, tuple):
            return body
        unknown = sorted(set(body) - set(INPUT_FIELDS) - set(CONTROL_FIELDS))
        if unknown:
            return _error(400, "bad input", fields={k: "unknown field" for k in unknown})
        write = body.get("write", True)
        if not isinstance(write, bool):
            return _error(400, "bad input", fields={"write": "must be true or false"})
        sheet = None
        if write:
            try:
                sheet = _target_sheet(body)
            except SpreadsheetNotAllowed as exc:
                return _error(403, str(exc), fields={"spreadsheet_id": str(exc)})
            except ValueError as exc:
                field = "worksheet" if "worksheet" in str(exc) else "spreadsheet_id"
                return _error(400, "bad input", fields={field: str(exc)})
        try:
            result = _compute({k: body[k] for k in INPUT_FIELDS if k in body})
        except _Refusal as refusal:
            if sheet is not None:
                _write_status(sheet, refusal.status_message)
            return jsonify(json_safe({**refusal.body, "request_id": g.request_id})), refusal.code
        except Exception:
            log.exception("internal fault in lookup")
            if sheet is not None:
                _write_status(sheet, "internal error: quote the request id when reporting it")
            return _error(500, "internal error: quote the request id when reporting it")
        response = result.to_dict()
        response["fields"] = sheet_fields(response)  # the cells, for `write: false` callers
        response["written"] = None
        if sheet is not None:
            try:
                report = sheet.write(response["fields"], order=g.order)
            except SheetError as exc:
                log.error("sheet write failed: %s", exc)
                _write_status(sheet, f"results not written: {exc}")
                return _error(502, f"the sheet could not be written: {exc}", result=response)
            response["written"] = report.as_dict()
        log.info("lookup done", extra={
            "status": result.status,
            "mpan": result.inputs.mpan.masked() if result.inputs.mpan else None,
            "distributor_id": result.distributor.distributor_id,
            "warnings": len(result.warnings),
        })
        return jsonify(json_safe(response)), 200

    def _json_object() -> dict[str, Any] | tuple[Response, int]:
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object", fields={"body": "not a JSON "
                          "object: send Content-Type application/json with {...}"})
        return body

    def _target_sheet(body: Mapping[str, Any]) -> SheetBackend:
        sid = body.get("spreadsheet_id")
        tab = body.get("worksheet")
        if sid is not None and (not isinstance(sid, str) or not sid.strip()):
            raise ValueError("spreadsheet_id must be the spreadsheet key (text), or left out")
        if tab is not None and not isinstance(tab, str):
            raise ValueError("worksheet must be a tab name (text), or left out")
        return sheet_factory(sid.strip() if sid else None, tab)

    def _write_status(sheet: SheetBackend, message: str) -> None:
        try:
            sheet.write_status("error", message, g.request_id, order=g.order)
        except Exception as exc:  # the answer still goes back; the log has the cause
            log.error("could not write the status cell either: %s", exc)

    def _compute(raw: dict[str, Any]) -> LookupResult:
        try:
            inputs = parse_inputs(raw)
        except InputErrors as exc:
            raise _refuse_input(exc) from exc
        fetched = None
        if inputs.profile_url:
            try:
                fetched = fetcher.fetch(inputs.profile_url)
            except ProfileLinkError as exc:
                raise _Refusal(422, {"error": str(exc), "link": exc.link, "rule": exc.rule,
                                     "fields": {"profile_url": str(exc)}}, str(exc)) from exc
        try:
            site = decide_area(inputs, app.config["AREA_LOOKUP"])
            on = app.config["LOOKUP_DATE"] or dt.date.today()
            if pool.size:
                return pool.get().submit(lookup_job, fetched, inputs, site, on,
                                         g.request_id).result()
            return lookup_job(fetched, inputs, site, on, g.request_id)
        except InputErrors as exc:
            raise _refuse_input(exc) from exc
        except ProfileError as exc:
            link = display_link(inputs.profile_url or "")
            message = f"profile link {link}: the file is not a usable profile: {exc}"
            raise _Refusal(422, {"error": message, "link": link, "rule": "a half-hourly profile",
                                 "fields": {"profile_url": message}}, message) from exc
        except LookupFailed as exc:
            raise _Refusal(422, {"error": exc.result.error, "result": exc.result.to_dict()},
                           exc.result.error or str(exc)) from exc

    return app


__all__ = [
    "PROFILE_CACHE", "MissingSecretError", "ProfileCache", "create_app", "profile_from_bytes",
]
