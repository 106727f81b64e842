"""Fetch a site's half-hourly profile from a link, guarded against SSRF.

Three kinds of link:

- a Google Sheets tab (`https://docs.google.com/spreadsheets/d/ID/edit#gid=N`), read with
  gspread through the caller's authorised client and turned into CSV text;
- a Google Drive file (`https://drive.google.com/file/d/ID/view`, `...open?id=ID`,
  `...uc?id=ID`), downloaded through the Drive API v3 (`files.get?alt=media`) with the
  service account's authorised session;
- any other link: a plain HTTPS download of a CSV (or Excel) file.

Rules for plain downloads (each refusal raises `ProfileLinkError` naming the link and the
rule): HTTPS only; the host is resolved and every address must be public (no private,
loopback, link-local, reserved, multicast or shared addresses) — checked again on the
socket actually connected, so DNS rebinding cannot slip through; redirects are followed by
hand (at most 5) and each hop is checked the same way; at most 25 MB, counted as it
streams; at most 20 s in total; the content type must be one a profile can have (CSV,
plain text, Excel or octet-stream; an HTML login page is refused).

`FetchPolicy.allow_loopback_ports` is a test-only allowance: loopback addresses (and plain
HTTP to them) are allowed on exactly those ports. It is empty in production.
`FetchPolicy.dev_loopback` (set by `bess-duos serve --dev` only) allows loopback addresses,
and plain HTTP to them, on any port, so a file served on 127.0.0.1 can be tried by hand.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

MAX_BYTES = 25 * 1024 * 1024
TOTAL_SECONDS = 20.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
ALLOWED_CONTENT_TYPES: frozenset[str] = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/comma-separated-values",
        "text/plain",
        "application/octet-stream",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)
DRIVE_API_BASE = "https://www.googleapis.com/drive/v3"

# The rules a link can break (the `rule` of a ProfileLinkError).
RULE_BAD_LINK = "not a usable link"
RULE_HTTPS = "HTTPS only"
RULE_ADDRESS = "public addresses only"
RULE_REDIRECTS = f"at most {MAX_REDIRECTS} redirects"
RULE_SIZE = "at most 25 MB"
RULE_TIME = "at most 20 s"
RULE_CONTENT_TYPE = "CSV or spreadsheet content only"
RULE_UNREACHABLE = "must be reachable"
RULE_STATUS = "must answer 200 OK"


class ProfileLinkError(Exception):
    """A profile link that could not be fetched: `link` (query hidden), `rule`, `detail`."""

    def __init__(self, link: str, rule: str, detail: str) -> None:
        self.link = display_link(link)
        self.rule = rule
        self.detail = detail
        super().__init__(f"profile link {self.link}: {rule}: {detail}")


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for fetching a link; the defaults are the production rules."""

    max_bytes: int = MAX_BYTES
    total_seconds: float = TOTAL_SECONDS
    max_redirects: int = MAX_REDIRECTS
    allow_loopback_ports: frozenset[int] = field(default_factory=frozenset)
    dev_loopback: bool = False  # `serve --dev`: loopback (and http to it) on any port
    ca_bundle: str | None = None  # a CA file to trust instead of the system store (tests)


@dataclass(frozen=True)
class FetchedProfile:
    """The raw bytes of a profile and where they came from."""

    link: str
    kind: str  # "google_sheet" | "google_drive" | "https"
    content: bytes
    content_type: str
    final_url: str


@dataclass(frozen=True)
class LinkKind:
    """What a link points at: `kind` and, for Google links, the file ID and tab gid."""

    kind: str
    file_id: str = ""
    gid: int | None = None


def display_link(link: str) -> str:
    """The link as safe to show and log: query and fragment values hidden, 200 chars at most."""
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return link[:200]
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else link
    if parts.query:
        shown += "?…"
    return shown[:200]


_SHEETS_PATH = re.compile(r"^/spreadsheets/d/([A-Za-z0-9_-]{10,})")
_DRIVE_PATH = re.compile(r"^/file/d/([A-Za-z0-9_-]{10,})")


def classify_link(link: str) -> LinkKind:
    """Tell a Google Sheets tab, a Google Drive file and a plain download apart."""
    parts = urlsplit(link.strip())
    host = (parts.hostname or "").lower()
    if host == "docs.google.com" and (match := _SHEETS_PATH.match(parts.path)):
        gid_text = (parse_qs(parts.fragment).get("gid") or parse_qs(parts.query).get("gid") or [""])
        gid = int(gid_text[0]) if gid_text[0].isdigit() else None
        return LinkKind("google_sheet", match.group(1), gid)
    if host == "drive.google.com":
        if match := _DRIVE_PATH.match(parts.path):
            return LinkKind("google_drive", match.group(1))
        ids = parse_qs(parts.query).get("id")
        if parts.path in ("/open", "/uc") and ids:
            return LinkKind("google_drive", ids[0])
    return LinkKind("https")


def check_address(address: str, port: int, policy: FetchPolicy) -> str | None:
    """Why connecting to `address`:`port` is refused, or None if it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        allowed = policy.dev_loopback or port in policy.allow_loopback_ports
        return None if allowed else f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address (e.g. cloud metadata)"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return f"{ip} is not a public address (multicast, reserved or unspecified)"
    if ip.is_private:
        return f"{ip} is a private address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def _resolve_checked(host: str, port: int, policy: FetchPolicy) -> str:
    """Resolve `host`; every address must pass `check_address`. Returns the first address."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]  # an address literal
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _Refused(RULE_UNREACHABLE, f"cannot resolve host {host!r}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        reason = check_address(address, port, policy)
        if reason:
            raise _Refused(RULE_ADDRESS, f"host {host!r} resolves to {reason}")
    if not addresses:
        raise _Refused(RULE_UNREACHABLE, f"host {host!r} has no address")
    return addresses[0]


class _Refused(Exception):
    """A refusal without the link yet (raised below the request, named by the caller)."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


def _guarded_adapter(policy: FetchPolicy) -> HTTPAdapter:
    """A requests adapter whose sockets connect only to addresses that pass the policy.

    The check runs on the address actually connected (after resolution, per connection),
    and the TLS layer still verifies the certificate against the host name.
    """

    def new_conn(conn: HTTPConnection) -> socket.socket:
        address = _resolve_checked(conn._dns_host, conn.port, policy)
        try:
            return urllib3_connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"failed to connect: {exc}") from exc

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": GuardedHTTPPool,
                "https": GuardedHTTPSPool,
            }

    return GuardedAdapter(max_retries=0)


def _check_url(url: str, policy: FetchPolicy) -> None:
    """Scheme and address rules for one hop, before any request is made."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise _Refused(RULE_BAD_LINK, f"malformed URL: {exc}") from exc
    host = parts.hostname
    if not host:
        raise _Refused(RULE_BAD_LINK, "the link has no host name")
    if parts.username or parts.password:
        raise _Refused(RULE_BAD_LINK, "links with a user name or password are not accepted")
    if parts.scheme == "https":
        pass
    elif parts.scheme == "http" and (policy.dev_loopback or port in policy.allow_loopback_ports):
        pass  # dev/test only: plain HTTP to loopback (the address is checked below)
    else:
        raise _Refused(RULE_HTTPS, f"scheme {parts.scheme or '(none)'!r} is not https")
    address = _resolve_checked(host, port, policy)
    if parts.scheme == "http" and not ipaddress.ip_address(address.split("%")[0]).is_loopback:
        raise _Refused(RULE_HTTPS, "plain http is allowed only to a loopback server in "
                       "development (serve --dev)")


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _abort(response: requests.Response) -> None:
    """Break a read blocked in another thread: shut the socket down, then close."""
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # the connection handed its socket to the response (Connection: close)
        socket_io = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(socket_io, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    response.close()


def _read_capped(
    response: requests.Response, policy: FetchPolicy, deadline: float
) -> bytes:
    """The body, refusing more than `policy.max_bytes`; the deadline closes a slow stream."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise _Refused(RULE_SIZE, f"Content-Length {int(declared):,} bytes is over the limit")
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), _abort, args=(response,))
    timer.daemon = True
    timer.start()
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > policy.max_bytes:
                raise _Refused(RULE_SIZE, f"the body is over {policy.max_bytes:,} bytes")
            if time.monotonic() > deadline:
                raise _Refused(RULE_TIME, f"the download took over {policy.total_seconds:g} s")
            chunks.append(chunk)
    except (requests.RequestException, OSError, AttributeError, ValueError) as exc:
        if time.monotonic() >= deadline:
            raise _Refused(
                RULE_TIME, f"the download took over {policy.total_seconds:g} s"
            ) from exc
        raise _Refused(RULE_UNREACHABLE, f"the download broke off: {exc}") from exc
    finally:
        timer.cancel()
    return b"".join(chunks)


def fetch_url(
    link: str,
    policy: FetchPolicy | None = None,
    *,
    session: requests.Session | None = None,
    kind: str = "https",
    guard: bool = True,
) -> FetchedProfile:
    """Download `link` under the policy, following redirects by hand; see the module doc.

    `session` may be an authorised session (Drive); `guard=False` skips the address rules
    for a fixed, trusted API endpoint (the Drive API base), never for a user's link.
    """
    policy = policy or FetchPolicy()
    deadline = time.monotonic() + policy.total_seconds
    own_session = session is None
    http = session or requests.Session()
    http.trust_env = False  # no proxies or netrc from the environment: they would bypass checks
    if guard:
        adapter = _guarded_adapter(policy)
        http.mount("https://", adapter)
        http.mount("http://", adapter)
    url = link.strip()
    try:
        for _hop in range(policy.max_redirects + 1):
            if guard:
                _check_url(url, policy)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Refused(RULE_TIME, f"no answer within {policy.total_seconds:g} s")
            try:
                response = http.get(
                    url,
                    stream=True,
                    allow_redirects=False,
                    timeout=(min(remaining, 10.0), remaining),
                    verify=policy.ca_bundle or True,
                    headers={"Accept": "text/csv, text/plain;q=0.9, */*;q=0.5"},
                )
            except requests.Timeout as exc:
                raise _Refused(RULE_TIME, f"no answer within {policy.total_seconds:g} s") from exc
            except requests.RequestException as exc:
                raise _Refused(RULE_UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    if not location:
                        raise _Refused(RULE_UNREACHABLE, "a redirect without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise _Refused(
                        RULE_STATUS, f"the server answered {response.status_code} {response.reason}"
                    )
                content_type = _content_type(response)
                if content_type not in ALLOWED_CONTENT_TYPES:
                    raise _Refused(
                        RULE_CONTENT_TYPE,
                        f"content type {content_type or '(none)'!r} is not a CSV or spreadsheet; "
                        "share the file itself (a login or preview page is HTML)",
                    )
                body = _read_capped(response, policy, deadline)
                return FetchedProfile(link, kind, body, content_type, url)
        raise _Refused(RULE_REDIRECTS, f"more than {policy.max_redirects} redirects")
    except _Refused as exc:
        raise ProfileLinkError(link, exc.rule, exc.detail) from None
    finally:
        if own_session:
            http.close()


def fetch_google_sheet(
    link: str, file_id: str, gid: int | None, client: Any, policy: FetchPolicy | None = None
) -> FetchedProfile:
    """Read one tab (by gid; the first tab without one) with a gspread client, as CSV bytes."""
    import gspread  # transport only; imported here so plain downloads do not need it

    policy = policy or FetchPolicy()
    try:
        spreadsheet = client.open_by_key(file_id)
        worksheet = (
            spreadsheet.get_worksheet_by_id(gid) if gid is not None else spreadsheet.sheet1
        )
        rows = worksheet.get_all_values()
    except gspread.exceptions.WorksheetNotFound as exc:
        raise ProfileLinkError(link, RULE_UNREACHABLE, f"no tab with gid {gid}") from exc
    except gspread.exceptions.SpreadsheetNotFound as exc:
        raise ProfileLinkError(
            link, RULE_UNREACHABLE,
            "spreadsheet not found: check the link and share the sheet with the service account",
        ) from exc
    except gspread.exceptions.APIError as exc:
        raise ProfileLinkError(
            link, RULE_UNREACHABLE,
            f"Google Sheets said {exc}; share the sheet with the service account",
        ) from exc
    except (requests.RequestException, OSError) as exc:
        raise ProfileLinkError(link, RULE_UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    content = buffer.getvalue().encode()
    if len(content) > policy.max_bytes:
        raise ProfileLinkError(link, RULE_SIZE, f"the tab is over {policy.max_bytes:,} bytes")
    return FetchedProfile(link, "google_sheet", content, "text/csv", link)


def fetch_google_drive(
    link: str,
    file_id: str,
    session: requests.Session,
    policy: FetchPolicy | None = None,
    *,
    api_base: str = DRIVE_API_BASE,
) -> FetchedProfile:
    """Download a Drive file's bytes via `files.get?alt=media` with an authorised session."""
    url = f"{api_base}/files/{file_id}?alt=media&supportsAllDrives=true"
    try:
        fetched = fetch_url(url, policy, session=session, kind="google_drive", guard=False)
    except ProfileLinkError as exc:
        raise ProfileLinkError(
            link, exc.rule,
            f"{exc.detail} (Drive API; share the file with the service account, and link a "
            "Google Sheet by its Sheets link)",
        ) from None
    return FetchedProfile(link, "google_drive", fetched.content, fetched.content_type, url)


@dataclass
class ProfileFetcher:
    """Fetches any supported link: plain downloads, Sheets tabs and Drive files.

    `sheets_client` and `drive_session` are factories, called only when such a link comes.
    """

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    sheets_client: Callable[[], Any] | None = None
    drive_session: Callable[[], requests.Session] | None = None
    drive_api_base: str = DRIVE_API_BASE

    def fetch(self, link: str) -> FetchedProfile:
        """The profile bytes behind `link`, or `ProfileLinkError` naming the link and rule."""
        if not link or not link.strip():
            raise ProfileLinkError(link or "", RULE_BAD_LINK, "the link is empty")
        kind = classify_link(link)
        if kind.kind == "google_sheet":
            if self.sheets_client is None:
                raise ProfileLinkError(
                    link, RULE_UNREACHABLE, "no Google credentials are configured to read Sheets"
                )
            return fetch_google_sheet(link, kind.file_id, kind.gid, self.sheets_client(),
                                      self.policy)
        if kind.kind == "google_drive":
            if self.drive_session is None:
                raise ProfileLinkError(
                    link, RULE_UNREACHABLE, "no Google credentials are configured to read Drive"
                )
            return fetch_google_drive(link, kind.file_id, self.drive_session(), self.policy,
                                      api_base=self.drive_api_base)
        return fetch_url(link, self.policy)


def default_drive_session() -> requests.Session:
    """An authorised session for the Drive API with the ambient service account."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _project = google.auth.default(
        scopes=["https://www.googleapis.com/auth/drive.readonly"]
    )
    return AuthorizedSession(credentials)
