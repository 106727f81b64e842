"""The webhook's routes (one Blueprint) and the per-request steps they share.

Status codes of /lookup: 200 computed and written (status ok or warning); 400 bad input
(`fields` names each bad field); 401 bad signature; 403 spreadsheet not allowed for the key;
422 profile link or content unusable (names the link and rule), or no tariff; 502 the sheet
could not be written (or the outcome is unknown); 500 internal fault (request id only). On
400/422/502 the sheet's status block says what went wrong (when a sheet is targeted and
`write` is true); the output cells are never half written.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from bess_duos.core.distributors import all_distributors
from bess_duos.core.lookup import (
    INPUT_FIELDS,
    InputErrors,
    JsonNumber,
    LookupFailed,
    decide_area,
    parse_inputs,
    parse_mpan_input,
)
from bess_duos.core.mpan import MpanError
from bess_duos.core.plain import json_safe
from bess_duos.core.profiles import ProfileError
from bess_duos.core.settings import Settings
from bess_duos.webhook.auth import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    SPREADSHEET_ID,
    TIMESTAMP_HEADER,
    AuthError,
    parse_timestamp,
)
from bess_duos.webhook.compute import LookupAnswer
from bess_duos.webhook.context import context
from bess_duos.webhook.layout import SheetLayout, default_layout, result_json
from bess_duos.webhook.logging_setup import request_id_var
from bess_duos.webhook.openapi import openapi_spec
from bess_duos.webhook.profile_links import RULE_BUSY, ProfileLinkError, display_link
from bess_duos.webhook.responses import answer, bad_input, error, lookup_answer
from bess_duos.webhook.sheet_access import SpreadsheetNotAllowed, spreadsheet_to_write
from bess_duos.webhook.sheets import RequestOrder, SheetBackend, SheetError
from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("bess_duos.webhook")

bp = Blueprint("bess_duos", __name__)

CONTROL_FIELDS = ("spreadsheet_id", "worksheet", "write")
MAX_BODY_BYTES = 64 * 1024
MAX_CONTROL_CHARS = 200
INTERNAL = "internal error: quote the request id when reporting it"
BUSY_RETRY_SECONDS = 5  # Retry-After when every profile-fetch slot is taken
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Refusal(Exception):
    """An answer other than 200 from inside the lookup, with the status to write."""

    def __init__(self, code: int, body: dict[str, Any], status_message: str, *,
                 retry_after: float | None = None) -> None:
        super().__init__(status_message)
        self.code = code
        self.body = body
        self.status_message = status_message
        self.retry_after = retry_after

    def response(self) -> tuple[Response, int]:
        """The JSON answer."""
        return answer(self.code, self.body, retry_after=self.retry_after)


# --- every request ---------------------------------------------------------------------------


@bp.before_app_request
def start() -> tuple[Response, int] | None:
    """Request id, the request's order, and the signature of a POST."""
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex[:16]
    g.token = request_id_var.set(g.request_id)
    g.started = time.perf_counter()
    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    g.order = RequestOrder.arrived(parse_timestamp(stamp))
    g.signer = None
    verifier = context().verifier
    if request.method == "POST" and verifier is not None:
        try:
            g.signer = verifier.verify(
                stamp, request.headers.get(SIGNATURE_HEADER), request.get_data(cache=True),
                method=request.method, path=request.path,
                key_id=request.headers.get(KEY_HEADER, ""))
        except AuthError as exc:
            log.warning("request refused: %s", exc.reason, extra={"path": request.path})
            return error(401, f"unauthorised: {exc.reason}")
    return None


@bp.after_app_request
def finish(response: Response) -> Response:
    """Echo the request id and log one line per request."""
    response.headers["X-Request-Id"] = g.get("request_id", "")
    log.info("request", extra={
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - g.get("started", 0)) * 1000, 1),
    })
    return response


@bp.teardown_app_request
def reset(_exc: BaseException | None) -> None:
    """Forget the request id of the log context."""
    token = g.pop("token", None)
    if token is not None:
        request_id_var.reset(token)


@bp.app_errorhandler(Exception)
def internal(exc: Exception) -> tuple[Response, int]:
    """HTTP errors keep their code; anything else is a 500 with the request id only."""
    if isinstance(exc, HTTPException):
        return error(exc.code or 500, exc.description or exc.name)
    log.exception("internal fault")
    return error(500, INTERNAL)


# --- read-only endpoints ---------------------------------------------------------------------


@bp.get("/health")
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Readiness: the shipped data loads; says in words what is missing."""
    from bess_duos.core.tariffs import available_years
    from bess_duos.webhook.layout import default_layout

    checks: dict[str, str] = {}
    steps = (
        ("layout", "the sheet layout (config/sheet_layout.yaml) could not be read",
         lambda: f"{len(default_layout().output_fields)} output fields"),
        ("distributors", "the distributor table (config/distributors.csv) could not be read",
         lambda: f"{len(all_distributors())} distributors"),
        ("tariffs", "no tariffs could be read from the shipped config/tariffs",
         lambda: f"{_tariff_areas(available_years())} DNO areas with tariffs"),
    )
    for name, problem, check in steps:
        try:
            checks[name] = check()
        except Exception:
            log.exception("not ready: %s", name)
            return jsonify({"status": "not ready", "error": problem, "checks": checks,
                            "request_id": g.request_id}), 503
    return jsonify({"status": "ready", "checks": checks,
                    "service_account": _service_account(context().settings)}), 200


def _tariff_areas(years: Mapping[int, list[int]]) -> int:
    """How many DNO areas have tariffs; LookupError when none has."""
    if not years:
        raise LookupError("no DNO area has tariffs")
    return len(years)


def _service_account(settings: Settings) -> str | None:
    """The e-mail the webhook uses with Google (sheets are shared with it): the key file's
    `client_email`, or on Cloud Run the default credentials' `service_account_email`; None
    without Google credentials or when it cannot be read. Never the key or its path."""
    try:
        if settings.google_credentials_file:
            with open(settings.google_credentials_file, encoding="utf-8") as key:
                email = json.loads(key.read(64 * 1024)).get("client_email")
        elif settings.on_cloud_run:
            email = _default_account()
        else:
            return None
    except Exception:  # readiness does not depend on it: the e-mail is only shown
        log.warning("the service account's e-mail could not be read", exc_info=True)
        return None
    return email if isinstance(email, str) and "@" in email else None


@functools.lru_cache(maxsize=1)
def _default_account() -> str:
    """google.auth's default credentials' e-mail (Cloud Run's metadata server tells it on the
    first refresh); cached once known."""
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _project = google.auth.default()
    email = getattr(credentials, "service_account_email", None)
    if email in (None, "default"):
        credentials.refresh(Request())
        email = getattr(credentials, "service_account_email", None)
    if not isinstance(email, str) or "@" not in email:
        raise ValueError(f"the default credentials name no service account ({email!r})")
    return email


@bp.get("/dnos")
def dnos() -> Response:
    """Every distributor, with the charging years shipped for each DNO area."""
    from bess_duos.core.tariffs import available_years

    years = available_years()
    rows = []
    for d in all_distributors():
        row = d.to_dict()
        row["tariff_years"] = years.get(d.distributor_id, []) if not d.is_idno else None
        rows.append(row)
    return jsonify({"distributors": rows})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI description of these endpoints."""
    return jsonify(openapi_spec())


# --- signed endpoints ------------------------------------------------------------------------


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or `Refusal` (400) saying what to send."""
    message = "not a JSON object: send Content-Type application/json with {...}"
    try:
        # numbers keep their written form: an MPAN of 1.40557E+12 is refused as rounded
        body = json.loads(request.get_data(cache=True) or b"null", parse_float=JsonNumber)
    except RecursionError:
        body, message = None, "nested too deeply"
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refusal(400, {"error": "the body must be a JSON object", "fields": {"body": message}},
                      f"bad input: body: {message}")
    return body


@bp.post("/mpan/validate")
def mpan_validate() -> tuple[Response, int]:
    """Is this MPAN's check digit right, and whose is it."""
    try:
        body = json_object()
    except Refusal as refusal:
        return refusal.response()
    if set(body) - {"mpan"} or "mpan" not in body:
        return bad_input({"mpan": "give {\"mpan\": \"...\"} only"})
    try:
        mpan = parse_mpan_input(body["mpan"])
    except MpanError as exc:
        return bad_input({"mpan": str(exc)})
    reason = None if mpan.check_digit_valid else (
        f"wrong check digit: the last digit is {mpan.check_digit}, expected "
        f"{mpan.expected_check_digit}; the distributor is still named")
    return jsonify({"valid": mpan.check_digit_valid, "reason": reason,
                    "mpan": mpan.to_dict()}), 200


@bp.post("/lookup")
def lookup() -> tuple[Response, int]:
    """Compute a site's results and write them to its sheet (unless `write` is false)."""
    sheet = None
    try:
        body = json_object()
        sheet = target_sheet(body)
        done = compute_answer({k: body[k] for k in INPUT_FIELDS if k in body},
                              None if sheet is None else sheet.layout)
    except Refusal as refusal:
        if sheet is not None:
            write_status(sheet, refusal.status_message)
        return refusal.response()
    except Exception:
        log.exception("internal fault in lookup")
        if sheet is not None:
            write_status(sheet, INTERNAL)
        return error(500, INTERNAL)
    written = None
    if sheet is not None:
        try:
            report = sheet.write(done.sheet_fields, order=g.order)
        except SheetError as exc:
            return sheet_failed(sheet, exc, {**done.body, "written": None})
        written = json_safe(report.as_dict())
    log.info("lookup done", extra={
        "status": done.status,
        "mpan": done.masked_mpan,
        "distributor_id": done.distributor_id,
        "warnings": done.warnings,
    })
    return lookup_answer(done.body_json, written)


def sheet_failed(sheet: SheetBackend, exc: SheetError, response: dict[str, Any]
                 ) -> tuple[Response, int]:
    """The answer when the outputs could not be written (or may have been)."""
    log.error("sheet write failed: %s", exc)
    if exc.field:
        write_status(sheet, f"bad input: {exc.field}: {exc.public}")
        return bad_input({exc.field: exc.public})
    if exc.outcome_unknown:  # writing the status now could overwrite outputs that landed
        return error(502, exc.public, outcome="unknown", result=response)
    if exc.retry_after is not None:  # the sheet is unsettled: nothing was sent
        return error(503, exc.public, result=response, retry_after=exc.retry_after)
    write_status(sheet, f"results not written: {exc.public}")
    return error(502, f"the sheet could not be written: {exc.public}", result=response)


def target_sheet(body: Mapping[str, Any]) -> SheetBackend | None:
    """The sheet this request writes (None with `write: false`), or `Refusal`."""
    unknown = sorted(set(body) - set(INPUT_FIELDS) - set(CONTROL_FIELDS))
    if unknown:
        raise _bad({k[:40]: "unknown field" for k in unknown[:10]})
    write = body.get("write", True)
    if not isinstance(write, bool):
        raise _bad({"write": "must be true or false"})
    sid, tab = body.get("spreadsheet_id"), body.get("worksheet")
    for name, value in (("spreadsheet_id", sid), ("worksheet", tab)):
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or len(value) > MAX_CONTROL_CHARS):
            raise _bad({name: f"must be text of 1 to {MAX_CONTROL_CHARS} characters, or left "
                              "out (spreadsheet_id: the key between /d/ and /edit in its URL)"})
    if sid is not None and not SPREADSHEET_ID.fullmatch(sid.strip()):
        raise _bad({"spreadsheet_id": "not a spreadsheet key: give the part of the sheet's URL "
                    "between /d/ and /edit (letters, digits, - and _)"})
    ctx = context()
    try:
        sid = spreadsheet_to_write(sid.strip() if sid else None, g.signer,
                                   ctx.settings.spreadsheet_allowlist)
    except SpreadsheetNotAllowed as exc:
        raise Refusal(403, {"error": str(exc), "fields": {"spreadsheet_id": str(exc)}},
                      str(exc)) from exc
    g.spreadsheet_id = sid
    if not write:
        return None
    try:
        return ctx.sheet_factory(sid, tab)
    except ValueError as exc:  # the spreadsheet id is checked above: this is the tab
        raise _bad({"worksheet": str(exc)}) from exc


def _bad(fields: dict[str, str]) -> Refusal:
    return Refusal(400, {"error": "bad input", "fields": fields},
                   "bad input: " + "; ".join(f"{k}: {v}" for k, v in fields.items()))


def write_status(sheet: SheetBackend, message: str) -> None:
    """Write the status block; a failure here is logged (the answer still goes back)."""
    try:
        sheet.write_status("error", message, g.request_id, order=g.order)
    except Exception as exc:
        log.error("could not write the status cell either: %s", exc)


def compute_answer(raw: dict[str, Any], layout: SheetLayout | None = None) -> LookupAnswer:
    """Parse the inputs, fetch the profile, decide the area and run the lookup; the answer is
    built where the lookup ran (`compute.answer_job`): the JSON body and the cells of the
    sheet's `layout` (None: no sheet, or the default layout)."""
    if layout is not None and layout is default_layout():
        layout = None  # the worker has its own copy of the default
    ctx = context()
    try:
        inputs = parse_inputs(raw)
    except InputErrors as exc:
        raise _bad(exc.errors) from exc
    fetched = None
    if inputs.profile_url:
        try:
            # a Google link is read only when it is the spreadsheet this request writes
            fetched = ctx.fetcher.fetch(inputs.profile_url,
                                        spreadsheet_id=g.get("spreadsheet_id"))
        except ProfileLinkError as exc:
            busy = exc.rule == RULE_BUSY  # the server's limit, not the link's fault: try again
            raise Refusal(503 if busy else 422,
                          {"error": str(exc), "link": exc.link, "rule": exc.rule,
                           "fields": {"profile_url": str(exc)}}, str(exc),
                          retry_after=BUSY_RETRY_SECONDS if busy else None) from exc
    try:
        site = decide_area(inputs, ctx.area_lookup)
        return ctx.pool.answer(fetched, inputs, site, ctx.today(), g.request_id, layout)
    except InputErrors as exc:
        raise _bad(exc.errors) from exc
    except ProfileError as exc:
        link = display_link(inputs.profile_url or "")
        message = f"profile link {link}: the file is not a usable profile: {exc}"
        raise Refusal(422, {"error": message, "link": link, "rule": "a half-hourly profile",
                            "fields": {"profile_url": message}}, message) from exc
    except LookupFailed as exc:
        raise Refusal(422, {"error": exc.result.error, "result": result_json(exc.result)},
                      exc.result.error or str(exc)) from exc
