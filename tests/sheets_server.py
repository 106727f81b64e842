"""A local Google Sheets API v4 test server, on loopback, for gspread, the webhook and Apps Script.

It speaks the endpoints gspread uses (`spreadsheets.get`, `values.get`, `values.batchGet`,
`values.update`, `values.batchUpdate`, `values.clear`, `values.batchClear`) plus `POST /token`,
which verifies a service-account JWT assertion against the test key, so google-auth's real
token exchange runs against it. API calls need `Authorization: Bearer <issued token>` (401).

Where it matters it behaves like Google: bad A1 ranges and unknown tabs give 400 "Unable to parse
range", ranges outside the grid (default 1000 rows x 26 columns) give 400 "exceeds grid limits",
an unknown spreadsheet gives 404, all in Google's error JSON; in writes `null` leaves a cell
unchanged and `""` clears it; RAW keeps strings as text, USER_ENTERED parses numbers, percents and
booleans (a leading `'` forces text); FORMATTED_VALUE renders numbers as Sheets' automatic format
does (a 13-digit number shows as `1.40557E+12`). Formulas are stored, never evaluated.

It keeps a request log and can inject faults (a status such as 429/500/403, and/or a delay) into
the next API requests. Python:

    with SheetsServer() as server:
        server.add_spreadsheet("sheet-id", tabs={"BESS": {"B6": "1405566778899"}})
        key = server.key_file(tmp_path)          # service-account JSON, token_uri -> /token
        server.inject([429, 200])                # next API call 429, the one after normal
        ... server.cells("sheet-id", "BESS")["B9"], server.requests ...

Command line (for the Apps Script Node tests; prints one JSON line with url, token, key_file):

    python -m tests.sheets_server --port 0 --key-file out.json [--spreadsheet ID --tab BESS]

Its `/_test/...` admin endpoints (no auth) add spreadsheets, read cells and the log, and inject
faults: see `_admin` below and docs/sheets.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions
from google.auth import jwt
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

DEFAULT_ROWS = 1000
DEFAULT_COLS = 26
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_EMAIL = "bess-duos-test@bess-duos-test.iam.gserviceaccount.com"

_STATUS_TEXT = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_FAULT_MESSAGE = {
    429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute "
    "per user' of service 'sheets.googleapis.com'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    403: "The caller does not have permission",
}


class ApiError(Exception):
    """An error response in Google's JSON shape."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> Response:
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": _STATUS_TEXT.get(self.code, "UNKNOWN"),
            }
        }
        return _json(body, self.code)


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


# --- A1 notation -------------------------------------------------------------------------------

_A1_RE = re.compile(r"^(?:([A-Z]{1,3})?([0-9]+)?)$")


def _col_index(letters: str) -> int:
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index


def _col_letters(index: int) -> str:
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1_cell(row: int, col: int) -> str:
    """(6, 2) -> "B6"."""
    return f"{_col_letters(col)}{row}"


def parse_a1_cell(a1: str) -> tuple[int, int]:
    """Parse one cell: "B6" -> (6, 2)."""
    match = re.fullmatch(r"([A-Z]{1,3})([1-9][0-9]*)", a1.strip().upper())
    if not match:
        raise ValueError(f"not a cell: {a1!r}")
    return int(match.group(2)), _col_index(match.group(1))


def quote_tab(title: str) -> str:
    """A tab name as Sheets writes it in a range: quoted unless plain letters/digits/_."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def _split_tab(text: str) -> tuple[str | None, str | None]:
    """Split off the tab: "'T'!A1:B2" -> ("T", "A1:B2"); "A1" -> (None, "A1")."""
    if text.startswith("'"):
        i, title = 1, ""
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    title += "'"
                    i += 2
                    continue
                rest = text[i + 1 :]
                if rest == "":
                    return title, None
                if rest.startswith("!"):
                    return title, rest[1:]
                raise ValueError(text)
            title += text[i]
            i += 1
        raise ValueError(text)
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


@dataclass
class Cell:
    """One stored cell: a string, float or bool, a display format, and a formula if any."""

    value: str | float | bool
    percent: bool = False
    formula: str | None = None


@dataclass
class Tab:
    title: str
    sheet_id: int
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)


@dataclass
class Spreadsheet:
    id: str
    title: str
    tabs: list[Tab]

    def tab(self, title: str) -> Tab | None:
        return next((t for t in self.tabs if t.title == title), None)


@dataclass(frozen=True)
class GridRange:
    tab: Tab
    r0: int
    c0: int
    r1: int
    c1: int
    single_cell: bool = False

    def a1(self) -> str:
        corners = f"{a1_cell(self.r0, self.c0)}:{a1_cell(self.r1, self.c1)}"
        return f"{quote_tab(self.tab.title)}!{corners}"


def resolve_range(sheet: Spreadsheet, text: str) -> GridRange:
    """Parse a range as Google does, within the tab's grid; ApiError(400) like Google's."""
    bad = ApiError(400, f"Unable to parse range: {text}")
    try:
        title, cells = _split_tab(text.strip())
    except ValueError:
        raise bad from None
    if title is not None:
        tab = sheet.tab(title)
        if tab is None:
            raise bad
    elif cells is not None and sheet.tab(cells) is not None:
        tab, cells = sheet.tab(cells), None
    else:
        tab = sheet.tabs[0]
    assert tab is not None
    if not cells:
        return GridRange(tab, 1, 1, tab.rows, tab.cols)
    first, sep, last = cells.upper().partition(":")
    m0, m1 = _A1_RE.match(first), _A1_RE.match(last if sep else first)
    if not m0 or not m1 or not first or (sep and not last):
        raise bad
    col0, row0 = m0.groups()
    col1, row1 = m1.groups()
    if (row0 and int(row0) == 0) or (row1 and int(row1) == 0):
        raise bad
    if not sep and not (col0 and row0):
        raise bad
    c0 = _col_index(col0) if col0 else 1
    c1 = _col_index(col1) if col1 else tab.cols
    r0 = int(row0) if row0 else 1
    r1 = int(row1) if row1 else tab.rows
    if not col0 and not row0:
        raise bad
    if c1 < c0:
        c0, c1 = c1, c0
    if r1 < r0:
        r0, r1 = r1, r0
    if r1 > tab.rows or c1 > tab.cols:
        raise ApiError(
            400,
            f"Range ({quote_tab(tab.title)}!{cells}) exceeds grid limits. "
            f"Max rows: {tab.rows}, max columns: {tab.cols}",
        )
    return GridRange(tab, r0, c0, r1, c1, single_cell=not sep)


# --- values --------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?(?:[eE][+-]?\d+)?$")


def parse_user_entered(value: object) -> Cell | None:
    """What Sheets stores when a person types `value` (USER_ENTERED); None clears the cell."""
    text = str(value)
    if isinstance(value, bool | int | float) or text == "":
        return parse_raw(value)  # booleans, numbers and "" are stored as for RAW
    if text.startswith("'"):
        return Cell(text[1:])
    if text.startswith("="):
        return Cell(text, formula=text)
    if text.upper() in ("TRUE", "FALSE"):
        return Cell(text.upper() == "TRUE")
    stripped = text.strip()
    percent = stripped.endswith("%")
    number = stripped[:-1].strip() if percent else stripped
    if number and any(ch.isdigit() for ch in number) and _NUMBER_RE.match(number):
        parsed = float(number.replace(",", ""))
        return Cell(parsed / 100 if percent else parsed, percent=percent)
    return Cell(text)


def parse_raw(value: object) -> Cell | None:
    """What Sheets stores for a RAW value: strings stay text (even digits); "" clears the cell."""
    if isinstance(value, bool):
        return Cell(value)
    if isinstance(value, int | float):
        return Cell(float(value))
    text = str(value)
    return None if text == "" else Cell(text)


def format_automatic(number: float) -> str:
    """A number as Sheets' automatic format shows it (General-like: 11 characters, else 1.2E+12)."""
    if not math.isfinite(number):
        return "#NUM!"
    if number == int(number) and abs(number) < 1e11:
        return str(int(number))
    if number != 0 and 1e-9 <= abs(number) < 1e11:
        text = f"{number:.10g}"
        if "e" not in text and len(text.lstrip("-")) <= 11:
            return text
        text = f"{number:.{max(0, 10 - len(str(int(abs(number)))))}f}".rstrip("0").rstrip(".")
        if len(text.lstrip("-")) <= 11:
            return text
    mantissa, exponent = f"{number:.5E}".split("E")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"


def render(cell: Cell, option: str) -> str | float | int | bool:
    """A stored cell as the API returns it for a valueRenderOption."""
    if cell.formula is not None:
        return cell.formula
    value = cell.value
    if option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float):
            if cell.percent:
                return format_automatic(round(value * 100, 10)) + "%"
            return format_automatic(value)
        return value
    if isinstance(value, float) and value == int(value) and abs(value) < 2**53:
        return int(value)
    return value


# --- the server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One injected fault: answer with `status` (None = normally) after `delay` seconds."""

    status: int | None = None
    delay: float = 0.0
    message: str | None = None  # Google's error message (default: the usual one for `status`)


@dataclass
class LoggedRequest:
    """One request the server received."""

    method: str
    path: str
    kind: str
    spreadsheet_id: str | None
    params: dict[str, list[str]]
    body: Any
    status: int = 0
    applied: bool = False


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@functools.cache
def _shared_key() -> rsa.RSAPrivateKey:
    """One test RSA key per process (generating one takes a while on a busy machine)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _as_fault(item: object) -> Fault:
    if isinstance(item, Fault):
        return item
    if isinstance(item, bool):
        raise TypeError(f"not a fault: {item!r}")
    if isinstance(item, int):
        return Fault(None if item == 200 else item)
    if isinstance(item, Mapping):
        status = item.get("status")
        return Fault(None if status in (None, 200) else int(status), float(item.get("delay", 0)))
    raise TypeError(f"not a fault: {item!r} (give a status code, a Fault or a dict)")


class SheetsServer:
    """The test server; use as a context manager (starts a thread on 127.0.0.1)."""

    def __init__(self, port: int = 0, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._tokens: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._log: list[LoggedRequest] = []
        self._next_sheet_id = 0
        self._private_key = private_key or _shared_key()
        self._public_pem = (
            self._private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self._http = make_server(
            "127.0.0.1", port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread: threading.Thread | None = None

    # lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:40123 (the API is under /v4, the token at /token)."""
        return f"http://127.0.0.1:{self._http.server_port}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def start(self) -> SheetsServer:
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> SheetsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # credentials
    def key_info(self) -> dict[str, str]:
        """A service-account key (JSON fields) whose token_uri is this server's /token."""
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "bess-duos-test",
            "private_key_id": "test-key-1",
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "auth_uri": self.url + "/auth",
            "token_uri": self.token_uri,
            "universe_domain": "googleapis.com",
        }

    def key_file(self, directory: Path | str) -> Path:
        """Write `key_info()` to `<directory>/service-account.json` and return the path."""
        path = Path(directory)
        path = path if path.suffix == ".json" else path / "service-account.json"
        path.write_text(json.dumps(self.key_info(), indent=2), encoding="utf-8")
        return path

    def issue_token(self) -> str:
        """An access token the API accepts (for callers that do not run the JWT exchange)."""
        token = "test-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        return token

    # spreadsheets
    def add_spreadsheet(
        self,
        spreadsheet_id: str,
        tabs: Mapping[str, Mapping[str, object]] | Iterable[str] = ("Sheet1",),
        *,
        title: str = "BESS test",
        rows: int = DEFAULT_ROWS,
        cols: int = DEFAULT_COLS,
        user_entered: bool = True,
    ) -> None:
        """Create a spreadsheet; `tabs` maps tab title to {A1: value} typed in as a person would
        (USER_ENTERED, so "1405566778899" becomes a number) unless `user_entered=False`."""
        contents = tabs if isinstance(tabs, Mapping) else {t: {} for t in tabs}
        with self._lock:
            sheet = Spreadsheet(spreadsheet_id, title, [])
            for name, cells in contents.items():
                tab = Tab(name, self._next_sheet_id, rows, cols)
                self._next_sheet_id += 1
                parse = parse_user_entered if user_entered else parse_raw
                for a1, value in cells.items():
                    cell = parse(value)
                    if cell is not None:
                        tab.cells[parse_a1_cell(a1)] = cell
                sheet.tabs.append(tab)
            self._spreadsheets[spreadsheet_id] = sheet

    def cells(self, spreadsheet_id: str, tab: str) -> dict[str, str | float | int | bool]:
        """A snapshot {A1: value} of a tab's non-empty cells (numbers as numbers)."""
        with self._lock:
            found = self._spreadsheets[spreadsheet_id].tab(tab)
            if found is None:
                raise KeyError(tab)
            return {
                a1_cell(r, c): render(cell, "UNFORMATTED_VALUE")
                for (r, c), cell in sorted(found.cells.items())
            }

    def formatted(self, spreadsheet_id: str, tab: str) -> dict[str, str]:
        """A snapshot {A1: displayed string} of a tab's non-empty cells."""
        with self._lock:
            found = self._spreadsheets[spreadsheet_id].tab(tab)
            if found is None:
                raise KeyError(tab)
            return {
                a1_cell(r, c): str(render(cell, "FORMATTED_VALUE"))
                for (r, c), cell in sorted(found.cells.items())
            }

    # faults and the log
    def inject(self, faults: Iterable[object]) -> None:
        """Queue faults for the next API requests: 429/500/403... , 200 (normal), Fault(...),
        or {"status": 500, "delay": 0.5}. /token and /_test requests are never faulted."""
        parsed = [_as_fault(f) for f in faults]
        with self._lock:
            self._faults.extend(parsed)

    def clear_faults(self) -> None:
        """Drop the faults still queued (service restored)."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the log of API and token requests, oldest first."""
        with self._lock:
            return list(self._log)

    def writes(self, spreadsheet_id: str | None = None) -> list[LoggedRequest]:
        """The logged write requests (update, batchUpdate, clear, batchClear)."""
        kinds = {"values.update", "values.batchUpdate", "values.clear", "values.batchClear"}
        return [
            r
            for r in self.requests
            if r.kind in kinds and spreadsheet_id in (None, r.spreadsheet_id)
        ]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # WSGI
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        raw_path = raw_path.split("?", 1)[0]
        try:
            if raw_path == "/token":
                response = self._token(request)
            elif raw_path.startswith("/_test/"):
                response = self._admin(request, raw_path)
            elif raw_path.startswith("/v4/spreadsheets/"):
                response = self._api(request, raw_path)
            else:
                response = ApiError(404, f"Not found: {raw_path}").response()
        except ApiError as exc:
            response = exc.response()
        return response(environ, start_response)

    def _token(self, request: Request) -> Response:
        entry = LoggedRequest("POST", "/token", "token", None, {}, None)
        with self._lock:
            self._log.append(entry)
        if request.form.get("grant_type") != JWT_GRANT:
            entry.status = 400
            return _json({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(
                request.form.get("assertion", ""),
                certs=self._public_pem,
                # google-auth always signs for Google's token endpoint, whatever token_uri says
                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri],
            )
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            entry.status = 400
            return _json({"error": "invalid_grant", "error_description": str(exc)}, 400)
        if claims.get("iss") != CLIENT_EMAIL:
            entry.status = 400
            return _json({"error": "invalid_grant", "error_description": "unknown issuer"}, 400)
        entry.status = 200
        entry.body = {"scope": claims.get("scope")}
        token = self.issue_token()
        return _json({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _api(self, request: Request, raw_path: str) -> Response:
        parts = raw_path[len("/v4/spreadsheets/") :].split("/")
        spreadsheet_id = unquote(parts[0].split(":")[0])
        kind, range_text = self._kind(request.method, parts)
        params = parse_qs(request.query_string.decode())
        body = request.get_json(silent=True) if request.data else None
        entry = LoggedRequest(request.method, unquote(raw_path), kind, spreadsheet_id, params, body)
        with self._lock:
            self._log.append(entry)
            fault = self._faults.popleft() if self._faults else None
        try:
            if fault and fault.delay:
                time.sleep(fault.delay)
            auth = request.headers.get("Authorization", "")
            with self._lock:
                authorised = auth.startswith("Bearer ") and auth[7:] in self._tokens
            if not authorised:
                raise ApiError(
                    401,
                    "Request is missing required authentication credential. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.",
                )
            if fault and fault.status:
                raise ApiError(fault.status, fault.message
                               or _FAULT_MESSAGE.get(fault.status, "Injected fault."))
            with self._lock:
                sheet = self._spreadsheets.get(spreadsheet_id)
                if sheet is None:
                    raise ApiError(404, "Requested entity was not found.")
                result = self._handle(kind, sheet, range_text, params, body)
                entry.applied = kind.startswith("values.") and "get" not in kind.lower()
            entry.status = 200
            return _json(result)
        except ApiError as exc:
            entry.status = exc.code
            return exc.response()

    @staticmethod
    def _kind(method: str, parts: list[str]) -> tuple[str, str | None]:
        head = parts[0]
        if len(parts) == 1:
            if ":" in head:
                op = head.split(":", 1)[1]
                if method == "POST" and op == "batchUpdate":
                    raise ApiError(400, "spreadsheets.batchUpdate is not served by the test server")
                raise ApiError(404, f"Unknown method: {op}")
            if method == "GET":
                return "spreadsheets.get", None
        elif len(parts) == 2:
            op = parts[1]
            if method == "GET" and op == "values:batchGet":
                return "values.batchGet", None
            if method == "POST" and op == "values:batchUpdate":
                return "values.batchUpdate", None
            if method == "POST" and op == "values:batchClear":
                return "values.batchClear", None
        elif len(parts) == 3 and parts[1] == "values":
            encoded = parts[2]
            if method == "POST" and encoded.endswith(":clear"):
                return "values.clear", unquote(encoded[: -len(":clear")])
            if method == "GET":
                return "values.get", unquote(encoded)
            if method == "PUT":
                return "values.update", unquote(encoded)
        raise ApiError(404, f"Unknown endpoint: {method} /{'/'.join(parts)}")

    def _handle(
        self,
        kind: str,
        sheet: Spreadsheet,
        range_text: str | None,
        params: dict[str, list[str]],
        body: Any,
    ) -> dict[str, Any]:
        def param(name: str, default: str | None = None) -> str | None:
            return params.get(name, [default])[0]

        if kind == "spreadsheets.get":
            return _metadata(sheet)
        if kind == "values.get":
            assert range_text is not None
            option = _render_option(param("valueRenderOption"))
            return _read(resolve_range(sheet, range_text), option, param("majorDimension"))
        if kind == "values.batchGet":
            option = _render_option(param("valueRenderOption"))
            ranges = params.get("ranges", [])
            grids = [resolve_range(sheet, r) for r in ranges]
            return {
                "spreadsheetId": sheet.id,
                "valueRanges": [_read(g, option, param("majorDimension")) for g in grids],
            }
        if kind == "values.update":
            assert range_text is not None
            parse = _input_parser(param("valueInputOption"))
            data = body or {}
            if "range" in data and data["range"] != range_text:
                raise ApiError(
                    400,
                    f"Requested writing within range [{range_text}], but the request body has "
                    f"a range of [{data['range']}].",
                )
            plan = _plan_write(sheet, range_text, data, parse)
            return {"spreadsheetId": sheet.id, **_apply([plan])[0]}
        if kind == "values.batchUpdate":
            data = body or {}
            parse = _input_parser(data.get("valueInputOption"))
            plans = [_plan_write(sheet, d.get("range", ""), d, parse) for d in data.get("data", [])]
            responses = [{"spreadsheetId": sheet.id, **r} for r in _apply(plans)]
            return {
                "spreadsheetId": sheet.id,
                "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
                "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                "totalUpdatedSheets": len({p[0].tab.sheet_id for p in plans}),
                "responses": responses,
            }
        if kind == "values.clear":
            assert range_text is not None
            grid = resolve_range(sheet, range_text)
            _clear(grid)
            return {"spreadsheetId": sheet.id, "clearedRange": grid.a1()}
        if kind == "values.batchClear":
            grids = [resolve_range(sheet, r) for r in (body or {}).get("ranges", [])]
            for grid in grids:
                _clear(grid)
            return {"spreadsheetId": sheet.id, "clearedRanges": [g.a1() for g in grids]}
        raise ApiError(404, f"Unknown method {kind}")

    def _admin(self, request: Request, raw_path: str) -> Response:
        """/_test/ endpoints for non-Python tests (no auth, never faulted, not logged):

        POST /_test/spreadsheets {"id", "tabs": {"BESS": {"B6": "..."}}}   create
        GET  /_test/spreadsheets/<id>/<tab>/cells[?formatted=1]            {"A1": value}
        GET  /_test/requests   DELETE /_test/requests                     the log
        POST /_test/inject {"faults": [429, 200, {"status": 500, "delay": 0.2}]}
        POST /_test/token                                                 {"access_token"}
        """
        path = [unquote(p) for p in raw_path.split("/")[2:]]
        if request.method == "POST" and path == ["spreadsheets"]:
            data = request.get_json(force=True)
            self.add_spreadsheet(str(data["id"]), data.get("tabs", {"Sheet1": {}}))
            return _json({"id": data["id"]})
        if request.method == "GET" and len(path) == 4 and path[0] == "spreadsheets":
            try:
                if request.args.get("formatted"):
                    return _json(self.formatted(path[1], path[2]))
                return _json(self.cells(path[1], path[2]))
            except KeyError as exc:
                raise ApiError(404, f"No such spreadsheet or tab: {exc}") from None
        if path == ["requests"]:
            if request.method == "DELETE":
                self.clear_log()
                return _json({})
            return _json(
                [
                    {
                        "method": r.method,
                        "path": r.path,
                        "kind": r.kind,
                        "spreadsheetId": r.spreadsheet_id,
                        "params": r.params,
                        "body": r.body,
                        "status": r.status,
                    }
                    for r in self.requests
                ]
            )
        if request.method == "POST" and path == ["inject"]:
            self.inject(request.get_json(force=True).get("faults", []))
            return _json({})
        if request.method == "POST" and path == ["token"]:
            return _json({"access_token": self.issue_token(), "token_type": "Bearer"})
        raise ApiError(404, f"Unknown test endpoint: {request.method} {raw_path}")


def _metadata(sheet: Spreadsheet) -> dict[str, Any]:
    return {
        "spreadsheetId": sheet.id,
        "properties": {"title": sheet.title, "locale": "en_GB", "timeZone": "Europe/London"},
        "sheets": [
            {
                "properties": {
                    "sheetId": tab.sheet_id,
                    "title": tab.title,
                    "index": i,
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": tab.rows, "columnCount": tab.cols},
                }
            }
            for i, tab in enumerate(sheet.tabs)
        ],
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{sheet.id}/edit",
    }


def _render_option(option: str | None) -> str:
    option = option or "FORMATTED_VALUE"
    if option not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
        raise ApiError(
            400, f"Invalid value at 'value_render_option' (type.googleapis.com/...), \"{option}\""
        )
    return option


def _input_parser(option: str | None) -> Any:
    if option is None:
        raise ApiError(400, "'valueInputOption' is required but not specified")
    if option == "RAW":
        return parse_raw
    if option == "USER_ENTERED":
        return parse_user_entered
    raise ApiError(400, f"Invalid value at 'value_input_option', \"{option}\"")


def _read(grid: GridRange, option: str, major: str | None) -> dict[str, Any]:
    tab = grid.tab
    rows: list[list[Any]] = []
    for r in range(grid.r0, grid.r1 + 1):
        row = [tab.cells.get((r, c)) for c in range(grid.c0, grid.c1 + 1)]
        while row and row[-1] is None:
            row.pop()
        rows.append(["" if cell is None else render(cell, option) for cell in row])
    while rows and not rows[-1]:
        rows.pop()
    major = major or "ROWS"
    if major == "COLUMNS" and rows:
        width = max(len(r) for r in rows)
        padded = [r + [""] * (width - len(r)) for r in rows]
        columns = [list(col) for col in zip(*padded, strict=True)]
        rows = []
        for col in columns:
            while col and col[-1] == "":
                col.pop()
            rows.append(col)
    result: dict[str, Any] = {"range": grid.a1(), "majorDimension": major}
    if rows:
        result["values"] = rows
    return result


def _plan_write(
    sheet: Spreadsheet, range_text: str, data: Mapping[str, Any], parse: Any
) -> tuple[GridRange, dict[tuple[int, int], Cell | None]]:
    """Validate one write fully (nothing is applied until every write of a request is valid)."""
    grid = resolve_range(sheet, range_text)
    values = data.get("values") or []
    if not isinstance(values, list) or any(not isinstance(row, list) for row in values):
        raise ApiError(400, "Invalid values: expected a list of lists")
    if data.get("majorDimension", "ROWS") == "COLUMNS":
        width = max((len(col) for col in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
    height = len(values)
    width = max((len(row) for row in values), default=0)
    r_end, c_end = grid.r0 + height - 1, grid.c0 + width - 1
    if grid.single_cell:
        if r_end > grid.tab.rows or c_end > grid.tab.cols:
            raise ApiError(
                400,
                f"Range ({quote_tab(grid.tab.title)}!{a1_cell(r_end, c_end)}) exceeds grid "
                f"limits. Max rows: {grid.tab.rows}, max columns: {grid.tab.cols}",
            )
    elif r_end > grid.r1:
        raise ApiError(
            400,
            f"Requested writing within range [{range_text}], but tried writing to row [{r_end}]",
        )
    elif c_end > grid.c1:
        raise ApiError(
            400,
            f"Requested writing within range [{range_text}], but tried writing to column "
            f"[{_col_letters(c_end)}]",
        )
    changes: dict[tuple[int, int], Cell | None] = {}
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if value is None:  # null: leave the cell unchanged
                continue
            if isinstance(value, dict | list):
                raise ApiError(400, f"Invalid values[{i}][{j}]: {json.dumps(value)}")
            changes[(grid.r0 + i, grid.c0 + j)] = parse(value)
    return grid, changes


def _apply(
    plans: list[tuple[GridRange, dict[tuple[int, int], Cell | None]]],
) -> list[dict[str, Any]]:
    responses = []
    for grid, changes in plans:
        for key, cell in changes.items():
            if cell is None:
                grid.tab.cells.pop(key, None)
            else:
                grid.tab.cells[key] = cell
        rows = {r for r, _ in changes}
        cols = {c for _, c in changes}
        if changes:
            r0, r1, c0, c1 = min(rows), max(rows), min(cols), max(cols)
            updated = f"{quote_tab(grid.tab.title)}!{a1_cell(r0, c0)}:{a1_cell(r1, c1)}"
        else:
            updated = grid.a1()
        responses.append(
            {
                "updatedRange": updated,
                "updatedRows": len(rows),
                "updatedColumns": len(cols),
                "updatedCells": len(changes),
            }
        )
    return responses


def _clear(grid: GridRange) -> None:
    inside = [
        k for k in grid.tab.cells if grid.r0 <= k[0] <= grid.r1 and grid.c0 <= k[1] <= grid.c1
    ]
    for key in inside:
        del grid.tab.cells[key]


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; print one JSON line: url, token_uri, token, key_file."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.sheets_server", description="Local Sheets API v4 test server."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--key-file", type=Path, help="write a service-account key file here")
    parser.add_argument("--spreadsheet", action="append", default=[], help="create this ID")
    parser.add_argument("--tab", default="BESS", help="tab of the created spreadsheets")
    args = parser.parse_args(argv)
    server = SheetsServer(args.port).start()
    for spreadsheet_id in args.spreadsheet:
        server.add_spreadsheet(spreadsheet_id, tabs={args.tab: {}})
    info = {"url": server.url, "token_uri": server.token_uri, "token": server.issue_token()}
    if args.key_file:
        info["key_file"] = str(server.key_file(args.key_file))
    print(json.dumps(info), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
