"""`GoogleSheet`: the BESS sheet in Google Sheets, through gspread with a service account.

Hot path: reading the inputs is one `values.batchGet` (FORMATTED_VALUE: displayed strings); writing
the outputs is one `values.batchUpdate` (RAW: numbers as JSON numbers, strings such as MPANs stay
text, cleared cells as ""). No metadata reads: the spreadsheet is addressed by key through
gspread's `HTTPClient` without `open_by_key` (which fetches metadata). Every call has a timeout,
and 429/5xx/connection errors are retried a bounded number of times with exponential backoff and
jitter (tenacity), rebuilding the request body on each try.

Pointing at another server (the local test server): `api_base_url` (or env
`BESS_DUOS_SHEETS_API_URL`) mounts a requests transport adapter on gspread's `AuthorizedSession`
that rewrites `https://sheets.googleapis.com` to that base URL, so requests take gspread's real
HTTP path. (Patching `gspread.urls` would do nothing: `gspread.http_client` copies the URLs at
import.) The token exchange goes wherever the key file's `token_uri` says.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import google.auth
import gspread
import requests
from bess_duos.core.settings import current
from bess_duos.webhook.auth import SPREADSHEET_ID
from bess_duos.webhook.layout import SheetLayout, parse_cell, parse_range
from bess_duos.webhook.sheets import GuardedSheet, RequestOrder, SheetError, mark_unsettled
from google.auth.credentials import Credentials
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
GOOGLE_SHEETS_BASE = "https://sheets.googleapis.com"
DEFAULT_TIMEOUT = (5.0, 20.0)  # (connect, read) seconds, for every call, token exchange included
DEFAULT_ATTEMPTS = 4
RETRY_DEADLINE = 25.0  # no new try starts later than this (s): a request ends within ~45 s
CONFIRM_WAIT = 8.0  # how long a write whose answer was lost is looked for in the sheet (s)
UNSETTLED_SECONDS = 60.0  # after an unknown outcome, newer writes wait this long (s)

T = TypeVar("T")
log = logging.getLogger(__name__)


class ApiBaseAdapter(HTTPAdapter):
    """A transport adapter that sends `https://sheets.googleapis.com/...` to another base URL."""

    def __init__(self, target_base: str, source_base: str = GOOGLE_SHEETS_BASE) -> None:
        super().__init__()
        self.source_base = source_base.rstrip("/")
        self.target_base = target_base.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if url.startswith(self.source_base):
            request.url = self.target_base + url[len(self.source_base) :]
        return super().send(request, **kwargs)


def check_spreadsheet_id(spreadsheet_id: str) -> None:
    """Raise ValueError unless the ID looks like a spreadsheet key (who may write it is the
    webhook's rule: `webhook.sheet_access`)."""
    if not SPREADSHEET_ID.fullmatch(spreadsheet_id or ""):
        raise ValueError(
            "spreadsheet_id is not a spreadsheet key: give the part of the sheet's URL between "
            "/d/ and /edit (letters, digits, - and _)"
        )


def load_credentials() -> Credentials:
    """Service-account credentials from `GOOGLE_APPLICATION_CREDENTIALS`, else
    `google.auth.default()` (Cloud Run's attached service account)."""
    key_file = current().google_credentials_file
    try:
        if key_file:
            return service_account.Credentials.from_service_account_file(key_file, scopes=SCOPES)
        credentials, _ = google.auth.default(scopes=SCOPES)
        return credentials
    except (OSError, ValueError, GoogleAuthError) as exc:
        source = f"key file {key_file}" if key_file else "google.auth.default()"
        raise SheetError(
            f"no usable Google credentials ({source}): {exc}. Set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service-account key file, or run where a service account is attached",
            public="the server has no usable Google credentials: its operator must configure "
            "the service account (see docs/deploy.md)",
        ) from exc


def make_client(
    credentials: Credentials | None = None,
    api_base_url: str | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> gspread.Client:
    """A gspread client with a timeout on every call, optionally pointed at another API base."""
    client = gspread.Client(auth=credentials or load_credentials())
    client.set_timeout(timeout)
    base = api_base_url or current().sheets_api_url
    if base:
        client.http_client.session.mount(GOOGLE_SHEETS_BASE + "/", ApiBaseAdapter(base))
    return client


_default_client: gspread.Client | None = None
_default_client_lock = threading.Lock()


def default_client() -> gspread.Client:
    """One shared client per process (its access token is reused until it expires)."""
    global _default_client
    with _default_client_lock:
        if _default_client is None:
            _default_client = make_client()
        return _default_client


class OutcomeUnknown(Exception):
    """A write whose answer was lost and whose request id cell did not show it in time: it
    may still land, so it is never sent again (a resend could land after a newer write)."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: HTTP 429 or 5xx, a timeout, or a dropped connection."""
    if isinstance(exc, gspread.exceptions.APIError):
        status = exc.response.status_code
        return status == 429 or status >= 500
    return isinstance(exc, requests.Timeout | requests.ConnectionError)


def quote_tab(title: str) -> str:
    """A tab name quoted for an A1 range: `'My tab'`, with `'` doubled."""
    return "'" + title.replace("'", "''") + "'"


class GoogleSheet(GuardedSheet):
    """One tab of a Google spreadsheet (the first tab when `worksheet` is None)."""

    def __init__(
        self,
        spreadsheet_id: str,
        worksheet: str | None = None,
        *,
        layout: SheetLayout | None = None,
        client: gspread.Client | None = None,
        max_attempts: int = DEFAULT_ATTEMPTS,
        retry_initial: float = 0.5,
        retry_max: float = 8.0,
        retry_deadline: float = RETRY_DEADLINE,
        confirm_wait: float = CONFIRM_WAIT,
    ) -> None:
        check_spreadsheet_id(spreadsheet_id)  # before any other work
        if worksheet is not None and not worksheet.strip():
            raise ValueError("worksheet: give a tab name, or leave it out for the first tab")
        super().__init__(layout)
        self.spreadsheet_id = spreadsheet_id
        self.worksheet = worksheet
        self._client = client
        self.max_attempts = max_attempts
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.retry_deadline = retry_deadline
        self.confirm_wait = confirm_wait

    @property
    def sheet_key(self) -> str:
        return f"google:{self.spreadsheet_id}/{self.worksheet or ''}"

    @property
    def client(self) -> gspread.Client:
        if self._client is None:
            self._client = default_client()
        return self._client

    def a1(self, cells: str) -> str:
        """`"A4:H4"` -> `"'BESS'!A4:H4"` (or unchanged for the first tab)."""
        return f"{quote_tab(self.worksheet)}!{cells}" if self.worksheet else cells

    def read_inputs(self) -> dict[str, str]:
        """One `values.batchGet` of the input cells, as displayed strings."""
        ranges = [self.a1(r) for r in self.layout.input_ranges()]
        http = self.client.http_client
        response, _ = self._call(
            "read the inputs",
            lambda: http.values_batch_get(
                self.spreadsheet_id, list(ranges), params={"valueRenderOption": "FORMATTED_VALUE"}
            ),
        )
        value_ranges = response.get("valueRanges", [])
        values = [_first_value(vr) for vr in value_ranges]
        return self.layout.inputs_from_values(values)

    def _put_blocks(self, blocks: list[dict[str, Any]], order: RequestOrder | None) -> int:
        """One `values.batchUpdate`. A try that may have landed (the answer timed out or the
        connection dropped after sending) is checked before any retry: when the request id
        cell already shows this write's id it landed, and is not sent again."""
        http = self.client.http_client
        request_id = _request_id_in(blocks, self._request_id_cell())

        def body() -> dict[str, Any]:  # a fresh body per try: nothing may mutate a retried one
            return {
                "valueInputOption": "RAW",
                "data": [
                    {
                        "range": self.a1(b["range"]),
                        "majorDimension": "ROWS",
                        "values": copy.deepcopy(b["values"]),
                    }
                    for b in blocks
                ],
            }

        def write_once() -> None:
            try:
                http.values_batch_update(self.spreadsheet_id, body())
            except (requests.ReadTimeout, requests.ConnectionError) as exc:
                if isinstance(exc, requests.ConnectTimeout):
                    raise  # never sent: safe to retry
                if request_id and self._await_request_id(request_id):
                    return  # it landed
                raise OutcomeUnknown(type(exc).__name__) from exc

        _, attempts = self._call("write " + ", ".join(b["range"] for b in blocks), write_once)
        return attempts

    def _request_id_cell(self) -> str | None:
        try:
            return self.layout.cell_of("request_id")
        except StopIteration:
            return None

    def _await_request_id(self, request_id: str) -> bool:
        """Whether the request id cell comes to show `request_id` within `confirm_wait` s."""
        deadline = time.monotonic() + self.confirm_wait
        pause = 0.25
        while True:
            if self._shows_request_id(request_id):
                return True
            if time.monotonic() + pause > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _shows_request_id(self, request_id: str) -> bool:
        """Whether the request id cell shows `request_id` now (False if it cannot be read)."""
        cell = self._request_id_cell()
        try:
            response = self.client.http_client.values_batch_get(
                self.spreadsheet_id, [self.a1(cell)],
                params={"valueRenderOption": "UNFORMATTED_VALUE"})
        except (gspread.exceptions.APIError, requests.RequestException):
            return False
        ranges = response.get("valueRanges", [])
        return bool(ranges) and _first_value(ranges[0]) == request_id

    def _call(self, what: str, call: Callable[[], T]) -> tuple[T, int]:
        """Run `call` with bounded retries on transient errors; SheetError on failure."""
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return call()

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.retry_deadline),
            wait=wait_exponential(multiplier=self.retry_initial, max=self.retry_max)
            + wait_random(0, self.retry_initial),  # exponential backoff plus jitter
            retry=retry_if_exception(is_transient),
            reraise=True,
            before_sleep=self._log_retry,
        )
        try:
            return retrying(attempt), attempts
        except gspread.exceptions.APIError as exc:
            message = self._explain(what, exc, attempts)
            field = "worksheet" if exc.response.status_code == 400 and self.worksheet else None
            raise SheetError(message, field=field) from exc
        except OutcomeUnknown as exc:
            mark_unsettled(self.sheet_key, UNSETTLED_SECONDS)
            raise SheetError(
                f"outcome unknown: the answer to '{what}' on spreadsheet {self.spreadsheet_id} "
                f"was lost ({exc}) and the request id did not appear within "
                f"{self.confirm_wait:g} s; the results may still appear",
                public="outcome unknown: Google Sheets did not answer in time; the results may "
                "still appear (the request id cell shows which request wrote last)",
                outcome_unknown=True,
            ) from exc
        except (requests.RequestException, GoogleAuthError) as exc:
            raise SheetError(
                f"could not {what} on spreadsheet {self.spreadsheet_id} after {attempts} "
                f"attempt(s): {exc}",
                public=f"could not reach Google Sheets ({type(exc).__name__}) after "
                f"{attempts} attempt(s); try again later",
            ) from exc

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "sheets call failed, retrying",
            extra={
                "spreadsheet_id": self.spreadsheet_id,
                "attempt": state.attempt_number,
                "error": str(exc),
                "sleep_s": round(state.next_action.sleep, 3) if state.next_action else None,
            },
        )

    def _explain(self, what: str, exc: gspread.exceptions.APIError, attempts: int) -> str:
        status = exc.response.status_code
        where = f"spreadsheet {self.spreadsheet_id}" + (
            f" tab {self.worksheet!r}" if self.worksheet else ""
        )
        message = str(exc.error.get("message", ""))
        hint = {
            403: _explain_403(message),
            404: "check the spreadsheet ID",
            400: "check the tab name and the layout's ranges",
            429: "the Sheets quota is exhausted; try again in a minute",
        }.get(status, "Google Sheets failed; try again later" if status >= 500 else "")
        return (
            f"could not {what} on {where}: HTTP {status} {message} "
            f"(after {attempts} attempt(s)); {hint}"
        ).rstrip("; ")


def _explain_403(message: str) -> str:
    """What to do about a 403: enable the API in the project, or share the spreadsheet."""
    if re.search(r"has not been used in project|it is disabled|SERVICE_DISABLED", message):
        project = re.search(r"project (\d+)", message)
        where = f" in Google Cloud project {project.group(1)}" if project else ""
        return (
            f"the Google Sheets API is not enabled{where}: enable it (APIs & Services > "
            "Library > Google Sheets API > Enable, or `gcloud services enable "
            "sheets.googleapis.com`), wait a few minutes, then try again; sharing the "
            "spreadsheet will not fix this"
        )
    return "share the spreadsheet with the service account as an editor"


def _first_value(value_range: dict[str, Any]) -> str:
    rows = value_range.get("values") or [[]]
    first = rows[0] if rows else []
    return str(first[0]) if first else ""


def _request_id_in(blocks: list[dict[str, Any]], cell: str | None) -> str | None:
    """The value a write puts in the request id cell (None if it writes no such cell)."""
    if cell is None:
        return None
    (row, col) = parse_cell(cell)
    for block in blocks:
        (row0, col0), (row1, col1) = parse_range(block["range"])
        if row0 <= row <= row1 and col0 <= col <= col1:
            value = block["values"][row - row0][col - col0]
            return str(value) if value not in (None, "") else None
    return None
