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

Google links are read with the service account, which can open every file shared with it, so
only two are read: the spreadsheet the lookup writes (`spreadsheet_id`, passed by the caller)
and files listed in `FetchPolicy.google_files`. Cells of any other document than the caller's
own are never quoted in an error. Drive API redirects are followed only to https on the same
host (the bearer token goes with every request of an authorised session).

A plain download kept from an earlier fetch is asked for with its validators (`ETag`,
`Last-Modified`) and re-used only when the server answers `304 Not Modified`
(`webhook.revalidation`).

One deadline covers each whole fetch: every socket a fetch opens is shut down when it passes,
so a server that trickles its TLS handshake, headers or body is cut off on time. Errors name the
link without its query, fragment or user name and password, and the same parts are scrubbed from
any detail text (connection and TLS errors quote the URL).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import heapq
import http.client
import io
import ipaddress
import itertools
import os
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit, urlunsplit

import requests
from bess_duos.core.profile_loader import (
    DEFAULT_OPTIONS,
    PROFILE_CACHE,
    ReadOptions,
    profile_from_bytes,
)
from bess_duos.core.profile_tables import DEFAULT_LIMITS
from bess_duos.core.profiles import Profile
from bess_duos.webhook.coalesce import Coalescer
from bess_duos.webhook.revalidation import KeptAnswer, Revalidation, conditions_of
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

MAX_BYTES = 25 * 1024 * 1024
TOTAL_SECONDS = 20.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
READ_BYTES = 1024 * 1024  # a plain download is read in blocks this large
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
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
RULE_GOOGLE_FILE = "Google files: only the sheet being written, or one allowlisted"
RULE_BUSY = "a few fetches at a time"
MAX_CONCURRENT_FETCHES = 4  # per fetcher (process): the server's other threads stay free
# A burst of quick fetches queues briefly for a slot; slow links cannot hold a waiting thread
# longer than this before it is answered 503 (RULE_BUSY).
SLOT_WAIT_SECONDS = 0.5
_GOOGLE_ID = re.compile(r"[A-Za-z0-9_-]{10,200}")


class ProfileLinkError(Exception):
    """A profile link that could not be fetched: `link` (query hidden), `rule`, `detail`."""

    def __init__(self, link: str, rule: str, detail: str) -> None:
        self.link = display_link(link)
        self.rule = rule
        self.detail = redact(detail, link)
        super().__init__(f"profile link {self.link}: {rule}: {self.detail}")


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for fetching a link; the defaults are the production rules."""

    max_bytes: int = MAX_BYTES
    total_seconds: float = TOTAL_SECONDS
    max_redirects: int = MAX_REDIRECTS
    allow_loopback_ports: frozenset[int] = field(default_factory=frozenset)
    dev_loopback: bool = False  # `serve --dev`: loopback (and http to it) on any port
    ca_bundle: str | None = None  # a CA file to trust instead of the system store (tests)
    google_files: frozenset[str] = field(default_factory=frozenset)  # IDs readable by any caller
    max_concurrent: int = MAX_CONCURRENT_FETCHES  # more at once wait, then RULE_BUSY
    slot_wait_seconds: float = SLOT_WAIT_SECONDS  # how long one more waits for a free slot


@dataclass(frozen=True)
class FetchedProfile:
    """The raw bytes of a profile and where they came from."""

    link: str
    kind: str  # "google_sheet" | "google_drive" | "https"
    content: bytes
    content_type: str
    final_url: str
    quote_cells: bool = True  # False: another document than the caller's; errors keep its cells


@dataclass(frozen=True)
class LinkKind:
    """What a link points at: `kind` and, for Google links, the file ID and tab gid."""

    kind: str
    file_id: str = ""
    gid: int | None = None


def display_link(link: str) -> str:
    """The link as safe to show and log: no user name or password, query and fragment values
    hidden, 200 characters at most."""
    text = link.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return _scrub(text)[:200]
    if not parts.scheme:
        return _scrub(text)[:200]
    host = f"[{host}]" if ":" in host else host
    shown = f"{parts.scheme}://{host}{port}{parts.path}"
    if parts.query:
        shown += "?…"
    return shown[:200]


_QUERY = re.compile(r"\?[^\s'\"<>()\[\]{},]*")
_USERINFO = re.compile(r"(//)[^/\s@'\"]*@")


def _scrub(text: str) -> str:
    """Any `?query` and `//user:password@` in `text` replaced by `?…` and `//…@`."""
    return _USERINFO.sub(r"\1…@", _QUERY.sub("?…", text))


def redact(text: str, *links: str) -> str:
    """`text` safe to show a caller: each link's query, fragment and `user:password` removed
    wherever they appear (also percent-decoded), and any other URL's query and user info."""
    for link in links:
        try:
            parts = urlsplit(link.strip())
            userinfo = parts.netloc.rpartition("@")[0]
            secrets = [parts.query, parts.fragment, userinfo, parts.password or ""]
        except ValueError:
            secrets = [link]
        for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
            for form in {secret, unquote(secret)}:
                text = text.replace(form, "…")
    return _scrub(text)


_SHEETS_PATH = re.compile(r"^/spreadsheets/d/([A-Za-z0-9_-]{10,200})(?:/|$)")
_DRIVE_PATH = re.compile(r"^/file/d/([A-Za-z0-9_-]{10,200})(?:/|$)")


def classify_link(link: str) -> LinkKind:
    """Tell a Google Sheets tab, a Google Drive file and a plain download apart. A Drive
    `open?id=` / `uc?id=` whose ID is not 10-200 of `A-Z a-z 0-9 _ -` is refused."""
    try:
        parts = urlsplit(link.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return LinkKind("https")  # refused as malformed when fetched
    if host == "docs.google.com" and (match := _SHEETS_PATH.match(parts.path)):
        gid_text = (parse_qs(parts.fragment).get("gid") or parse_qs(parts.query).get("gid") or [""])
        gid = int(gid_text[0]) if gid_text[0].isdigit() and len(gid_text[0]) <= 12 else None
        return LinkKind("google_sheet", match.group(1), gid)
    if host == "drive.google.com":
        if match := _DRIVE_PATH.match(parts.path):
            return LinkKind("google_drive", match.group(1))
        ids = parse_qs(parts.query).get("id")
        if parts.path in ("/open", "/uc") and ids:
            if len(ids) != 1 or not _GOOGLE_ID.fullmatch(ids[0]):
                raise ProfileLinkError(link, RULE_BAD_LINK, "the Drive file ID must be 10-200 "
                                       "letters, digits, - or _; copy the link from Share")
            return LinkKind("google_drive", ids[0])
    return LinkKind("https")


_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, still routed inside some sites
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"),)  # 64:ff9b:1::/48 (local use) is refused


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries, and how (mapped, compatible, NAT64)."""
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped address", ip.ipv4_mapped
    if any(ip in net for net in _NAT64):
        return "a NAT64 address", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, IPv4-compatible (deprecated)
        return "an IPv4-compatible address", ipaddress.IPv4Address(int(ip))
    return None


def _not_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_link_local:
        return f"{ip} is a link-local address (e.g. cloud metadata)"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return f"{ip} is not a public address (multicast, reserved or unspecified)"
    if ip.is_private:
        return f"{ip} is a private address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def check_address(address: str, port: int, policy: FetchPolicy) -> str | None:
    """Why connecting to `address`:`port` is refused, or None if it is a public address.

    Refused: loopback (except the test-only ports), every range `ipaddress` does not call
    global, site-local fec0::/10, 6to4 (2002::/16) and Teredo (2001::/32) tunnels (they carry
    an IPv4 address a relay would reach), and IPv4-mapped, IPv4-compatible or NAT64 addresses
    (the IPv4 address inside is checked too, and named).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            how, v4 = embedded
            if v4.is_loopback and how == "an IPv4-mapped address":
                allowed = policy.dev_loopback or port in policy.allow_loopback_ports
                return None if allowed else f"{ip} is a loopback address"
            inner = f"{v4} is a loopback address" if v4.is_loopback else _not_global(v4)
            if how != "a NAT64 address":
                return f"{ip} is {how} ({inner or f'use {v4} itself'})"
            if inner:
                return f"{ip} is {how} whose IPv4 part is not public: {inner}"
            return None
        if ip.sixtofour is not None:
            return f"{ip} is a 6to4 tunnel address (2002::/16, to {ip.sixtofour})"
        if ip.teredo is not None:
            return f"{ip} is a Teredo tunnel address (2001::/32)"
        if ip in _SITE_LOCAL:
            return f"{ip} is a site-local address (fec0::/10)"
    if ip.is_loopback:
        allowed = policy.dev_loopback or port in policy.allow_loopback_ports
        return None if allowed else f"{ip} is a loopback address"
    return _not_global(ip)


def _getaddrinfo(host: str, port: int, timeout: float | None) -> list[Any]:
    """`socket.getaddrinfo`, given up after `timeout` s (the lookup itself cannot be
    interrupted: it finishes in a daemon thread)."""
    if timeout is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    outcome: list[Any] = []

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=resolve, daemon=True, name="resolve")
    worker.start()
    worker.join(max(0.0, timeout))
    if not outcome:
        raise _Refused(RULE_TIME, f"resolving host {host!r} took over the fetch's deadline")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return list(outcome[0])


def _resolve_checked(host: str, port: int, policy: FetchPolicy,
                     timeout: float | None = None) -> str:
    """Resolve `host` (within `timeout` s); every address must pass `check_address`. Returns
    the first address."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]  # an address literal
    except ValueError:
        try:
            infos = _getaddrinfo(host, port, timeout)
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


class _Deadline:
    """One deadline for a whole fetch: at expiry every socket the fetch opened is shut down,
    which ends a blocked connect, TLS handshake, header or body read at once. Expired by the
    process's one `_Watchdog` thread (no thread is started per fetch)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.cancelled = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        _WATCHDOG.add(self)

    def remaining(self) -> float:
        """Seconds left (0 when passed)."""
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        """True once the deadline is reached."""
        return self.expired or time.monotonic() >= self.at

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def expire(self) -> None:
        """Mark the deadline passed and shut every socket down (the watchdog calls it)."""
        with self._lock:
            if self.cancelled:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def cancel(self) -> None:
        """The fetch is over: nothing to shut down any more."""
        with self._lock:
            self.cancelled = True
            self._sockets.clear()


class _Watchdog:
    """One daemon thread per process that expires every fetch's `_Deadline` on time, earliest
    first (a heap); cancelled deadlines are dropped when they come up. Started on first use and
    again in a forked child (threads do not survive a fork)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: _Deadline) -> None:
        """Expire `deadline` at its time (unless cancelled first)."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="fetch-deadlines")
                self._thread.start()
            heapq.heappush(self._heap, (deadline.at, next(self._count), deadline))
            if self._heap[0][2] is deadline:
                self._cond.notify()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                due: list[_Deadline] = []
                while not due:
                    now = time.monotonic()
                    while self._heap and (self._heap[0][0] <= now or self._heap[0][2].cancelled):
                        deadline = heapq.heappop(self._heap)[2]
                        if not deadline.cancelled:
                            due.append(deadline)
                    if not due:
                        cond.wait(self._heap[0][0] - now if self._heap else None)
            for deadline in due:
                deadline.expire()


_WATCHDOG = _Watchdog()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _connect_checked(host: str, port: int, policy: FetchPolicy, deadline: _Deadline,
                     timeout: float | None, *, check: bool = True,
                     source_address: tuple[str, int] | None = None,
                     socket_options: Any = None) -> socket.socket:
    """A socket connected to `host`:`port` whose address passed the policy (resolved again
    here, so DNS rebinding cannot slip through; unless `check` is False: a fixed, trusted API
    host), shut down at the deadline. TimeoutError when the deadline passed or the connect
    timed out; `_Refused` for a refused address; OSError when the connect failed."""
    if deadline.passed():
        raise TimeoutError("the fetch's deadline has passed")
    address = _resolve_checked(host, port, policy, deadline.remaining()) if check else host
    limit = deadline.remaining() if timeout is None else min(timeout, deadline.remaining())
    sock = urllib3_connection.create_connection(
        (address, port), limit, source_address=source_address, socket_options=socket_options)
    deadline.watch(sock)
    return sock


def _guarded_adapter(policy: FetchPolicy, deadline: _Deadline, *, check: bool = True
                     ) -> HTTPAdapter:
    """A requests adapter whose sockets connect only to addresses that pass the policy (unless
    `check` is False: a fixed, trusted API host) and are all shut down at the deadline.

    The check runs on the address actually connected (after resolution, per connection),
    and the TLS layer still verifies the certificate against the host name.
    """

    def new_conn(conn: HTTPConnection) -> socket.socket:
        timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
        try:
            return _connect_checked(conn._dns_host, conn.port, policy, deadline, timeout,
                                    check=check, source_address=conn.source_address,
                                    socket_options=conn.socket_options)
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


def _check_url(url: str, policy: FetchPolicy, timeout: float | None = None) -> None:
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
    address = _resolve_checked(host, port, policy, timeout)
    if parts.scheme == "http" and not ipaddress.ip_address(address.split("%")[0]).is_loopback:
        raise _Refused(RULE_HTTPS, "plain http is allowed only to a loopback server in "
                       "development (serve --dev)")


@dataclass
class _Answer:
    """One hop's response, whichever client made it: status, reason, a header by name (any
    case), the body as decoded blocks, and how to close it."""

    status: int
    reason: str
    header: Callable[[str], str | None]
    blocks: Iterator[bytes]
    close: Callable[[], None]

    def is_redirect(self) -> bool:
        return self.status in REDIRECT_CODES and self.header("Location") is not None

    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()


@functools.lru_cache(maxsize=8)
def _tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The certificate checks `requests` makes (its CA bundle, or `ca_bundle`; host names
    checked), built once per bundle: loading the CA file costs milliseconds."""
    return ssl.create_default_context(cafile=ca_bundle or requests.certs.where())


def _decoded(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The body in blocks of at most `READ_BYTES`, gzip or deflate decoded as `requests` does
    (each decoded block at most `READ_BYTES` too, so the size cap bounds a compression bomb)."""
    coding = (response.getheader("Content-Encoding") or "").strip().lower()
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding in ("gzip", "x-gzip") else \
        zlib.decompressobj() if coding == "deflate" else None
    while block := response.read(READ_BYTES):
        if decoder is None:
            yield block
            continue
        while block:
            yield decoder.decompress(block, READ_BYTES)
            block = decoder.unconsumed_tail
    if decoder is not None:
        yield decoder.flush()


def _plain_get(url: str, policy: FetchPolicy, deadline: _Deadline, *, check: bool = True,
               conditions: tuple[tuple[str, str], ...] = ()) -> _Answer:
    """GET `url` with `http.client` on a guarded socket (`_connect_checked`), no redirects
    followed, certificates checked as `requests` does; `conditions`: revalidation headers.
    Raises TimeoutError, OSError (TLS included), `http.client.HTTPException` or `_Refused`."""
    parts = urlsplit(url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    connect_timeout = min(deadline.remaining(), 10.0)

    def connect(_address: object, _timeout: object, _source: object = None) -> socket.socket:
        return _connect_checked(host, port, policy, deadline, connect_timeout, check=check)

    conn = http.client.HTTPSConnection(host, port, timeout=connect_timeout,
                                       context=_tls_context(policy.ca_bundle)) if https else \
        http.client.HTTPConnection(host, port, timeout=connect_timeout)
    conn._create_connection = connect  # type: ignore[attr-defined]
    try:
        target = requests.utils.requote_uri(urlunsplit(("", "", parts.path or "/", parts.query,
                                                        "")))
        conn.request("GET", target, headers={"Accept": "text/csv, text/plain;q=0.9, */*;q=0.5",
                                             "User-Agent": "bess-duos", **dict(conditions)})
        if conn.sock is not None:  # the TLS socket took over the watched one's descriptor
            deadline.watch(conn.sock)
            conn.sock.settimeout(max(deadline.remaining(), 0.001))
        response = conn.getresponse()
    except BaseException:
        conn.close()
        raise
    return _Answer(response.status, response.reason, response.getheader, _decoded(response),
                   conn.close)


def _session_get(http: requests.Session, url: str, policy: FetchPolicy,
                 deadline: _Deadline) -> _Answer:
    """GET `url` through an authorised `requests` session (its adapter guarded), no redirects
    followed. Raises `requests.RequestException` or `_Refused`."""
    remaining = deadline.remaining()
    response = http.get(
        url,
        stream=True,
        allow_redirects=False,
        timeout=(min(remaining, 10.0), remaining),
        verify=policy.ca_bundle or True,
        headers={"Accept": "text/csv, text/plain;q=0.9, */*;q=0.5"},
    )
    return _Answer(response.status_code, response.reason, response.headers.get,
                   response.iter_content(CHUNK_BYTES), response.close)


def _read_capped(answer: _Answer, policy: FetchPolicy, deadline: _Deadline) -> bytes:
    """The body, refusing more than `policy.max_bytes`; the deadline shuts a slow stream."""
    declared = answer.header("Content-Length") or ""
    if declared.isdigit() and len(declared) < 20 and int(declared) > policy.max_bytes:
        raise _Refused(RULE_SIZE, f"Content-Length {int(declared):,} bytes is over the limit")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in answer.blocks:
            size += len(chunk)
            if size > policy.max_bytes:
                raise _Refused(RULE_SIZE, f"the body is over {policy.max_bytes:,} bytes")
            if deadline.passed():
                raise _Refused(RULE_TIME, f"the download took over {policy.total_seconds:g} s")
            chunks.append(chunk)
    except (requests.RequestException, http.client.HTTPException, zlib.error, OSError,
            AttributeError, ValueError) as exc:
        if deadline.passed():
            raise _Refused(
                RULE_TIME, f"the download took over {policy.total_seconds:g} s"
            ) from exc
        raise _Refused(RULE_UNREACHABLE, f"the download broke off: {exc}") from exc
    if deadline.passed():  # a stream shut at the deadline can end like a short, clean body
        raise _Refused(RULE_TIME, f"the download took over {policy.total_seconds:g} s")
    return b"".join(chunks)


def _same_origin(first: str, then: str) -> bool:
    """`then` is on the same scheme, host and port as `first`, and not a downgrade to http."""
    a, b = urlsplit(first), urlsplit(then)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def fetch_url(
    link: str,
    policy: FetchPolicy | None = None,
    *,
    session: requests.Session | None = None,
    kind: str = "https",
    guard: bool = True,
    revalidation: Revalidation | None = None,
) -> FetchedProfile:
    """Download `link` under the policy, following redirects by hand; see the module doc.

    `session` may be an authorised session (Drive): its redirects are followed only on the
    same scheme, host and port, as it sends its bearer token with every request. `guard=False`
    skips the address rules for a fixed, trusted API endpoint (the Drive API base), never for a
    user's link. The policy's `total_seconds` bounds the whole fetch. `revalidation` (plain
    downloads only): answers kept from earlier fetches, asked for with their validators and
    re-used on `304 Not Modified` (`webhook.revalidation`).
    """
    if session is not None:
        revalidation = None  # an authorised answer is its caller's: not kept
    policy = policy or FetchPolicy()
    deadline = _Deadline(policy.total_seconds)
    if session is not None:
        session.trust_env = False  # no proxies or netrc from the environment: they bypass checks
        adapter = _guarded_adapter(policy, deadline, check=guard)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    url = link.strip()
    too_slow = f"no answer within {policy.total_seconds:g} s"
    try:
        for _hop in range(policy.max_redirects + 1):
            if guard:
                _check_url(url, policy, deadline.remaining())
            if deadline.passed():
                raise _Refused(RULE_TIME, too_slow)
            kept = revalidation.get(url) if revalidation is not None else None
            try:
                answer = _plain_get(url, policy, deadline, check=guard,
                                    conditions=kept.conditions if kept else ()) \
                    if session is None else _session_get(session, url, policy, deadline)
            except (requests.Timeout, TimeoutError) as exc:
                raise _Refused(RULE_TIME, too_slow) from exc
            except (requests.RequestException, http.client.HTTPException, OSError) as exc:
                if deadline.passed():
                    raise _Refused(RULE_TIME, too_slow) from exc
                raise _Refused(RULE_UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
            try:
                if deadline.passed():  # headers cut short by the deadline can look complete
                    raise _Refused(RULE_TIME, too_slow)
                if kept is not None and answer.status == 304:
                    return FetchedProfile(link, kind, kept.content, kept.content_type, url)
                if revalidation is not None and answer.status != 200:
                    revalidation.keep(url, None)  # it answers otherwise now: forget it
                if answer.is_redirect():
                    location = answer.header("Location") or ""
                    if not location:
                        raise _Refused(RULE_UNREACHABLE, "a redirect without a Location")
                    try:
                        target = urljoin(url, location)
                        same = _same_origin(url, target)
                    except ValueError as exc:
                        raise _Refused(RULE_BAD_LINK, f"a malformed redirect: {exc}") from exc
                    if session is not None and not same:
                        raise _Refused(RULE_REDIRECTS, "an authorised request was redirected to "
                                       f"{display_link(target)}: not followed (another host or "
                                       "plain http would receive the access token)")
                    url = target
                    continue
                if answer.status != 200:
                    raise _Refused(
                        RULE_STATUS, f"the server answered {answer.status} {answer.reason}"
                    )
                content_type = answer.content_type()
                if content_type not in ALLOWED_CONTENT_TYPES:
                    raise _Refused(
                        RULE_CONTENT_TYPE,
                        f"content type {content_type or '(none)'!r} is not a CSV or spreadsheet; "
                        "share the file itself (a login or preview page is HTML)",
                    )
                body = _read_capped(answer, policy, deadline)
                if revalidation is not None:
                    revalidation.keep(url, KeptAnswer(body, content_type,
                                                      conditions_of(answer.header)))
                return FetchedProfile(link, kind, body, content_type, url)
            finally:
                answer.close()
        raise _Refused(RULE_REDIRECTS, f"more than {policy.max_redirects} redirects")
    except _Refused as exc:
        raise ProfileLinkError(link, exc.rule, redact(exc.detail, link, url)) from None
    finally:
        deadline.cancel()


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
        grid = worksheet.row_count * worksheet.col_count
        if worksheet.row_count > DEFAULT_LIMITS.max_rows + 1 or grid > DEFAULT_LIMITS.max_cells:
            raise ProfileLinkError(
                link, RULE_SIZE, f"the tab's grid is {worksheet.row_count:,} rows x "
                f"{worksheet.col_count:,} columns, over the {DEFAULT_LIMITS.max_rows:,} rows or "
                f"{DEFAULT_LIMITS.max_cells:,} cells a profile may have; delete the empty rows "
                "and columns")
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
    except (TypeError, AttributeError) as exc:  # the API answered something else than a sheet
        raise ProfileLinkError(link, RULE_UNREACHABLE, "Google Sheets gave no readable tab"
                               ) from exc
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
    Plain downloads are revalidated: an unchanged file the server answers 304 for is taken
    from `revalidation` (`webhook.revalidation`), not downloaded again.
    A Google link is read only if its file is the spreadsheet the lookup writes
    (`spreadsheet_id` of `fetch`) or is listed in `policy.google_files`.
    """

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    sheets_client: Callable[[], Any] | None = None
    drive_session: Callable[[], requests.Session] | None = None
    drive_api_base: str = DRIVE_API_BASE
    revalidation: Revalidation = field(default_factory=Revalidation, repr=False)
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)
    _joined: Coalescer[FetchedProfile] = field(default_factory=Coalescer, init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(max(1, self.policy.max_concurrent))

    def fetch(self, link: str, *, spreadsheet_id: str | None = None) -> FetchedProfile:
        """The profile bytes behind `link`: a plain download (`fetch_url`, revalidated) or a
        Google file (`_fetch_google`), else `ProfileLinkError`; at most `policy.max_concurrent`
        lookups fetch (or wait for a fetch) at once, so links that answer slowly cannot hold
        every thread of the server: one more waits at most `policy.slot_wait_seconds` for a
        slot, then is refused (`RULE_BUSY`). Fetches of one plain link asked for while one
        runs are joined into one next fetch (`webhook.coalesce`: no answer comes from a fetch
        begun before it was asked for); each joined lookup holds its slot while it waits."""
        if not self._slots.acquire(timeout=self.policy.slot_wait_seconds):
            raise ProfileLinkError(
                link or "", RULE_BUSY, f"{self.policy.max_concurrent} profile links are being "
                "fetched already; try again in a few seconds")
        try:
            if not link or not link.strip():
                raise ProfileLinkError(link or "", RULE_BAD_LINK, "the link is empty")
            kind = classify_link(link)
            if kind.kind == "https":
                return self._joined.call(
                    link, lambda: fetch_url(link, self.policy, revalidation=self.revalidation),
                    2 * self.policy.total_seconds + 1.0)
            return self._fetch_google(link, kind, spreadsheet_id)
        except TimeoutError as exc:  # a joined lookup whose fetch never ended (cannot happen:
            # each fetch ends by its deadline); said as the deadline
            raise ProfileLinkError(link, RULE_TIME, f"no answer within "
                                   f"{self.policy.total_seconds:g} s") from exc
        finally:
            self._slots.release()

    def _fetch_google(self, link: str, kind: LinkKind, spreadsheet_id: str | None
                      ) -> FetchedProfile:
        """The bytes of a Google Sheets tab or Drive file (`kind`), or `ProfileLinkError`
        naming the link and rule.

        `spreadsheet_id`: the spreadsheet the results go to (None: no Google sheet), the one
        Google file besides the allowlisted ones a link may name; its cells may be quoted in
        errors, an allowlisted file's are not."""
        own = spreadsheet_id is not None and kind.file_id == spreadsheet_id
        if not own and kind.file_id not in self.policy.google_files:
            raise ProfileLinkError(
                link, RULE_GOOGLE_FILE,
                "a Google link may name only the spreadsheet the results are written to (put "
                "the profile on a tab of this sheet), or a file the operator has allowlisted; "
                "or share a plain https download link")
        if kind.kind == "google_sheet":
            if self.sheets_client is None:
                raise ProfileLinkError(
                    link, RULE_UNREACHABLE, "no Google credentials are configured to read Sheets"
                )
            fetched = fetch_google_sheet(link, kind.file_id, kind.gid, self.sheets_client(),
                                         self.policy)
        else:
            if self.drive_session is None:
                raise ProfileLinkError(
                    link, RULE_UNREACHABLE, "no Google credentials are configured to read Drive"
                )
            fetched = fetch_google_drive(link, kind.file_id, self.drive_session(), self.policy,
                                         api_base=self.drive_api_base)
        return replace(fetched, quote_cells=own)


def profile_name(fetched: FetchedProfile) -> str:
    """How a fetched profile is named in messages: the link's file name, or the Google file."""
    if fetched.kind == "google_sheet":
        return "the Google Sheets tab"
    if fetched.kind == "google_drive":
        return "the Google Drive file"
    try:
        path = urlsplit(fetched.link.strip()).path
    except ValueError:
        return "profile"
    name = unquote(path.rsplit("/", 1)[-1])[:100]
    return name or "profile"


def profile_of(fetched: FetchedProfile, options: ReadOptions = DEFAULT_OPTIONS, *,
               digest: str | None = None) -> Profile:
    """Parse fetched bytes with the one core loader (`core.profile_loader`: limits, the
    forgiving policy, the same bytes parsed once), named by the link; another document's cells
    are kept out of its errors. `digest`: the bytes' `ProfileCache.digest`, when known."""
    return profile_from_bytes(fetched.content, name=profile_name(fetched),
                              quote_cells=fetched.quote_cells, options=options, digest=digest)


def cached_profile_of(fetched: FetchedProfile, digest: str,
                      options: ReadOptions = DEFAULT_OPTIONS) -> Profile | None:
    """The profile `profile_of` would give for bytes of this digest if this process has it
    parsed already, else None (`fetched.content` is not read)."""
    return PROFILE_CACHE.cached(digest, name=profile_name(fetched), options=options)


def default_drive_session() -> requests.Session:
    """An authorised session for the Drive API with the ambient service account."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _project = google.auth.default(
        scopes=["https://www.googleapis.com/auth/drive.readonly"]
    )
    return AuthorizedSession(credentials)
