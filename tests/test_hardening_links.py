"""Issue 13 items 3, 5, 7, 8 and 11: profile links, through the real app served on loopback.

Google links read only the spreadsheet being written or an allowlisted file, and never echo
another document's cells; Drive redirects never carry the token elsewhere, and Drive IDs are
strict; one deadline covers a whole fetch (a trickled header is cut); queries and user info
never reach an error; tunnel, site-local, NAT64 and IPv4-mapped addresses are refused."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import gspread
import pytest
import requests
from bess_duos.core.profiles import ProfileError
from bess_duos.webhook.auth import signed_headers
from bess_duos.webhook.google_sheet import GoogleSheet
from bess_duos.webhook.profile_links import (
    RULE_ADDRESS,
    RULE_BAD_LINK,
    RULE_BUSY,
    RULE_GOOGLE_FILE,
    RULE_REDIRECTS,
    RULE_TIME,
    FetchPolicy,
    ProfileFetcher,
    ProfileLinkError,
    check_address,
    display_link,
    fetch_url,
    profile_of,
    redact,
)
from bess_duos.webhook.sheets import reset_ordering_state
from bess_duos.webhook.workbook_sheet import WorkbookSheet

from tests.loopback import FileServer, Webhook, file_server, gspread_client
from tests.sheets_server import SheetsServer

SECRET = "hardening-links-secret-0123456789abcdef"
MPAN = "1405566778898"
SID = "1Own-bess_sheet_being_written"
OTHER = "1Other-confidential_sheet"
TAB = "BESS"
CONFIDENTIAL = {"A1": "name", "B1": "salary", "A2": "Alice Example", "B2": "98000"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BESS_DUOS_SPREADSHEET_ALLOWLIST", raising=False)
    reset_ordering_state()


@pytest.fixture
def files() -> Iterator[FileServer]:
    with file_server() as server:
        yield server


@pytest.fixture
def sheets() -> Iterator[SheetsServer]:
    with SheetsServer() as server:
        server.add_spreadsheet(SID, tabs={TAB: {"B6": MPAN}, "Profile": {}})
        server.add_spreadsheet(OTHER, tabs={"Staff": CONFIDENTIAL})
        yield server


@pytest.fixture
def gclient(sheets: SheetsServer, tmp_path: Path) -> gspread.Client:
    return gspread_client(sheets, tmp_path, (2.0, 5.0))


@pytest.fixture
def start(files: FileServer, tmp_path: Path) -> Iterator[Callable[..., Webhook]]:
    """Start the app with a fetcher and sheet back end; the workbook when no gspread client."""
    started: list[Webhook] = []

    def run(policy: FetchPolicy | None = None, *, client: gspread.Client | None = None,
            fetcher: ProfileFetcher | None = None) -> Webhook:
        policy = policy or FetchPolicy(allow_loopback_ports=frozenset({files.port}))

        def sheet(sid: str | None, tab: str | None) -> Any:
            if sid is None or client is None:
                return WorkbookSheet(tmp_path / "bess.xlsx", tab)
            return GoogleSheet(sid, tab, client=client, retry_initial=0.01, retry_max=0.05)

        hook = Webhook({
            "WEBHOOK_SECRET": SECRET, "SHEET_FACTORY": sheet, "FETCH_POLICY": policy,
            "PROFILE_FETCHER": fetcher or ProfileFetcher(
                policy=policy, sheets_client=(lambda: client) if client else None),
        })
        started.append(hook)
        return hook

    yield run
    for hook in started:
        hook.close()


def post(hook: Webhook, payload: dict[str, Any]) -> requests.Response:
    raw = json.dumps(payload).encode()
    # as the sheet's script signs: with the key of the spreadsheet it writes
    key = signed_headers(SECRET, raw, spreadsheet_id=payload.get("spreadsheet_id"))
    return requests.post(hook.url + "/lookup", data=raw, timeout=60,
                         headers={**key,
                                  "Content-Type": "application/json"})


def workbook_status(tmp_path: Path) -> str:
    return " ".join(str(v) for v in WorkbookSheet(tmp_path / "bess.xlsx").read_range("A4:H4")[0])


# --- item 3: Google Sheets links -----------------------------------------------------------


def test_a_link_to_another_spreadsheet_is_refused_and_its_cells_never_shown(
        start: Callable[..., Webhook], gclient: gspread.Client, sheets: SheetsServer) -> None:
    """Today the service account reads the other sheet and the 422 quotes its header row."""
    hook = start(client=gclient)
    link = f"https://docs.google.com/spreadsheets/d/{OTHER}/edit#gid=0"
    response = post(hook, {"mpan": MPAN, "profile_url": link, "spreadsheet_id": SID,
                           "worksheet": TAB})
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == RULE_GOOGLE_FILE
    status = " ".join(gclient.open_by_key(SID).worksheet(TAB).get("A4:H4")[0])
    for shown in (response.text, status):
        assert "salary" not in shown and "Alice" not in shown
    assert "only the sheet being written" in status


def test_a_tab_of_the_spreadsheet_being_written_is_read(
        start: Callable[..., Webhook], gclient: gspread.Client, sheets: SheetsServer) -> None:
    rows = {"A1": "timestamp", "B1": "kwh"}
    for i in range(96):
        rows[f"A{i + 2}"] = f"2026-06-{8 + i // 48:02d}T{i % 48 // 2:02d}:{i % 2 * 30:02d}:00Z"
        rows[f"B{i + 2}"] = "1.5"
    sheets.add_spreadsheet(SID, tabs={"Profile": rows, TAB: {"B6": MPAN}})
    hook = start(client=gclient)
    link = f"https://docs.google.com/spreadsheets/d/{SID}/edit"  # the first tab: Profile
    response = post(hook, {"mpan": MPAN, "profile_url": link, "spreadsheet_id": SID,
                           "worksheet": TAB})
    assert response.status_code == 200, response.text
    assert response.json()["profile_quality"]["half_hours"] == 96


def test_an_allowlisted_document_is_read_but_its_cells_are_not_quoted(
        gclient: gspread.Client, sheets: SheetsServer) -> None:
    fetcher = ProfileFetcher(policy=FetchPolicy(google_files=frozenset({OTHER})),
                             sheets_client=lambda: gclient)
    fetched = fetcher.fetch(f"https://docs.google.com/spreadsheets/d/{OTHER}/edit",
                            spreadsheet_id=SID)
    assert fetched.quote_cells is False and b"salary" in fetched.content
    with pytest.raises(ProfileError) as caught:
        profile_of(fetched)
    assert "salary" not in str(caught.value) and "cells are not quoted" in str(caught.value)


# --- item 8: Drive ---------------------------------------------------------------------------


class Recorder(FileServer):
    """A loopback server that also records the Authorization header of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str | None] = []

    def route(self, path: str, then: Callable[[BaseHTTPRequestHandler], None]) -> None:
        def recorded(handler: BaseHTTPRequestHandler) -> None:
            self.tokens.append(handler.headers.get("Authorization"))
            then(handler)

        self.routes[path] = recorded


def authorised_session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer service-account-token"
    return session


def test_drive_redirect_to_another_host_is_not_followed_with_the_token(
        start: Callable[..., Webhook]) -> None:
    api, elsewhere = Recorder(), Recorder()
    try:
        file_id = "1DriveFileAbcdef"
        api.redirect(f"/drive/v3/files/{file_id}?alt=media&supportsAllDrives=true",
                     elsewhere.url("/steal"))
        elsewhere.route("/steal", lambda h: h.send_error(404))
        policy = FetchPolicy(allow_loopback_ports=frozenset({api.port, elsewhere.port}),
                             google_files=frozenset({file_id}))
        hook = start(policy, fetcher=ProfileFetcher(
            policy=policy, drive_session=authorised_session,
            drive_api_base=api.url("/drive/v3")))
        response = post(hook, {"mpan": MPAN, "write": False,
                               "profile_url": f"https://drive.google.com/file/d/{file_id}/view"})
        assert response.status_code == 422, response.text
        assert response.json()["rule"] == RULE_REDIRECTS
        assert elsewhere.hits == [] and elsewhere.tokens == []
    finally:
        api.close()
        elsewhere.close()


def test_drive_open_id_must_be_a_plain_file_id(start: Callable[..., Webhook]) -> None:
    """Today the ID goes into the API path as given: `../../other/path?q=1#`."""
    api = Recorder()
    try:
        bad_id = "../../other/path%3Fq%3D1%23"
        policy = FetchPolicy(allow_loopback_ports=frozenset({api.port}),
                             google_files=frozenset({"../../other/path?q=1#"}))
        hook = start(policy, fetcher=ProfileFetcher(
            policy=policy, drive_session=authorised_session,
            drive_api_base=api.url("/drive/v3")))
        response = post(hook, {"mpan": MPAN, "write": False,
                               "profile_url": f"https://drive.google.com/open?id={bad_id}"})
        assert response.status_code == 422, response.text
        assert response.json()["rule"] == RULE_BAD_LINK
        assert api.hits == []
    finally:
        api.close()


# --- item 5: one deadline per fetch -----------------------------------------------------


def trickle_headers(handler: BaseHTTPRequestHandler) -> None:
    """A status line and headers sent a byte at a time, 5 bytes a second, for 30 s."""
    text = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n" + b"X-Slow: " + b"a" * 200
    try:
        for byte in text[:150]:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass


def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline(
        start: Callable[..., Webhook], files: FileServer) -> None:
    """Today the deadline starts after the headers: the request is held for 30 s."""
    files.routes["/slow.csv"] = trickle_headers
    hook = start(FetchPolicy(allow_loopback_ports=frozenset({files.port}), total_seconds=1.0))
    began = time.monotonic()
    response = post(hook, {"mpan": MPAN, "write": False, "profile_url": files.url("/slow.csv")})
    took = time.monotonic() - began
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == RULE_TIME
    assert took < 6.0  # the 1 s deadline, plus a shared machine's slack; not the 30 s trickle


class TrickledTls:
    """A loopback TCP server that answers a TLS ClientHello with a record header announcing
    16 kB, then sends its bytes one every 0.2 s: a handshake that never times out per read."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    @staticmethod
    def _trickle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(4096)  # the ClientHello
                conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16,384 bytes
                for _ in range(150):  # 30 s
                    conn.sendall(b"\x02")
                    time.sleep(0.2)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def test_a_tls_handshake_trickled_a_byte_at_a_time_is_cut_at_the_deadline(
        start: Callable[..., Webhook]) -> None:
    """Python's ssl already bounds a handshake by the socket's timeout; this keeps it within
    the one deadline of the fetch (a guard, not a finding that failed before)."""
    server = TrickledTls()
    try:
        hook = start(FetchPolicy(allow_loopback_ports=frozenset({server.port}),
                                 total_seconds=1.0))
        began = time.monotonic()
        response = post(hook, {"mpan": MPAN, "write": False,
                               "profile_url": f"https://127.0.0.1:{server.port}/p.csv"})
        assert response.status_code == 422, response.text
        assert response.json()["rule"] == RULE_TIME
        assert time.monotonic() - began < 6.0 and server.connections == 1
    finally:
        server.close()


def test_a_slow_name_lookup_is_within_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def slow(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "slow-dns.example":
            time.sleep(5)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    began = time.monotonic()
    with pytest.raises(ProfileLinkError) as caught:
        fetch_url("https://slow-dns.example/p.csv", FetchPolicy(total_seconds=1.0))
    assert caught.value.rule == RULE_TIME and time.monotonic() - began < 3.0


def test_slow_links_cannot_hold_every_thread(start: Callable[..., Webhook],
                                            files: FileServer) -> None:
    """Eight slow links held all eight threads (and /health) for as long as they trickled."""
    hook = start(FetchPolicy(allow_loopback_ports=frozenset({files.port}), total_seconds=3.0,
                             max_concurrent=2))

    def timed(n: int) -> tuple[float, requests.Response]:
        files.routes[f"/slow{n}.csv"] = trickle_headers  # a link each: no replayed signature
        began = time.monotonic()
        response = post(hook, {"mpan": MPAN, "write": False,
                               "profile_url": files.url(f"/slow{n}.csv")})
        return time.monotonic() - began, response

    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(timed, n) for n in range(2)]
        time.sleep(0.5)  # both fetches under way
        took, busy = timed(2)
        health = requests.get(hook.url + "/health", timeout=2)
        answers = [future.result() for future in slow]
    assert busy.status_code == 503 and busy.json()["rule"] == RULE_BUSY
    assert busy.headers["Retry-After"] == "5"
    assert took < 2.0 and health.status_code == 200  # not held until the 3 s deadline
    assert [r.json()["rule"] for _, r in answers] == [RULE_TIME, RULE_TIME]


# --- item 7: no query or user info in any error ------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_token_in_the_query_is_not_shown_when_the_connection_fails(
        start: Callable[..., Webhook], tmp_path: Path) -> None:
    port = closed_port()
    hook = start(FetchPolicy(allow_loopback_ports=frozenset({port})))
    link = f"http://127.0.0.1:{port}/p.csv?token=SeCrEtToKeN123&sig=AbC%2Fxyz99"
    response = post(hook, {"mpan": MPAN, "profile_url": link})
    assert response.status_code == 422, response.text
    status = workbook_status(tmp_path)
    assert "refused" in response.json()["error"].lower() or "connect" in \
        response.json()["error"].lower()
    for shown in (response.text, status):
        assert "SeCrEtToKeN123" not in shown and "AbC" not in shown


def test_a_tls_failure_does_not_show_the_query(start: Callable[..., Webhook],
                                               files: FileServer, tmp_path: Path) -> None:
    """https to a plain-HTTP server: the TLS error quotes the URL today."""
    hook = start()
    link = files.url("/p.csv?key=SeCrEtKeY4567").replace("http:", "https:")
    response = post(hook, {"mpan": MPAN, "profile_url": link})
    assert response.status_code == 422, response.text
    for shown in (response.text, workbook_status(tmp_path)):
        assert "SeCrEtKeY4567" not in shown


def test_user_name_and_password_in_a_link_are_not_shown(start: Callable[..., Webhook],
                                                        files: FileServer,
                                                        tmp_path: Path) -> None:
    hook = start()
    link = f"http://alice:Hunter2Password@127.0.0.1:{files.port}/p.csv"
    response = post(hook, {"mpan": MPAN, "profile_url": link})
    assert response.status_code == 422, response.text
    for shown in (response.text, workbook_status(tmp_path)):
        assert "Hunter2Password" not in shown and "alice" not in shown
    assert response.json()["link"] == f"http://127.0.0.1:{files.port}/p.csv"


def test_redact_scrubs_known_and_unknown_urls() -> None:
    link = "https://u:pw@h.test/a.csv?token=abc123"
    detail = ("HTTPSConnectionPool(host='h.test'): Max retries exceeded with url: "
              "/a.csv?token=abc123 (also https://x.test/b?k=zz9 and https://v:w@y.test/)")
    cleaned = redact(detail, link)
    assert "abc123" not in cleaned and "zz9" not in cleaned and "v:w" not in cleaned
    assert display_link(link) == "https://h.test/a.csv?…"
    assert display_link("https://[::1/x?q=secret") == "https://[::1/x?…"


# --- item 11: address checks -------------------------------------------------------------

REFUSED = [
    ("2002:a00:1::1", "6to4"),
    ("2002:808:808::1", "6to4"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("fec0::1", "site-local"),
    ("64:ff9b::a00:1", "10.0.0.1 is a private address"),
    ("64:ff9b::7f00:1", "127.0.0.1 is a loopback address"),
    ("64:ff9b:1::a00:1", "not a public address"),
    ("::ffff:10.0.0.1", "10.0.0.1 is a private address"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("::a00:1", "IPv4-compatible"),
]


@pytest.mark.parametrize(("address", "words"), REFUSED)
def test_tunnel_and_embedded_ipv4_addresses_are_refused(address: str, words: str) -> None:
    reason = check_address(address, 443, FetchPolicy())
    assert reason is not None and words in reason


def test_nat64_to_a_public_address_and_plain_public_addresses_pass() -> None:
    for address in ("64:ff9b::808:808", "2606:4700::1111", "8.8.8.8"):
        assert check_address(address, 443, FetchPolicy()) is None


@pytest.mark.parametrize("address", ["2002:a00:1::1", "fec0::1",
                                     "2001:0:4136:e378:8000:63bf:3fff:fdd2"])
def test_the_app_refuses_them_before_connecting(start: Callable[..., Webhook], address: str,
                                                network_guard: list[object]) -> None:
    """Today these pass the address check and the app connects to them."""
    hook = start()
    response = post(hook, {"mpan": MPAN, "write": False,
                           "profile_url": f"https://[{address}]/p.csv"})
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == RULE_ADDRESS
    assert network_guard == []


def test_a_burst_of_quick_links_waits_for_a_slot_instead_of_being_refused(
    start: Callable[..., Webhook], files: FileServer
) -> None:
    """Slow links are refused after a short wait (above), but a burst of quick ones, more than
    the slots, all succeed: each waits briefly for a slot."""
    hook = start(FetchPolicy(allow_loopback_ports=frozenset({files.port}), max_concurrent=1))
    content = b"timestamp,kwh\n" + b"".join(
        f"2026-06-08T{h:02d}:{m:02d}:00Z,1.5\n".encode() for h in range(24) for m in (0, 30))

    def one(n: int) -> requests.Response:
        files.serve_bytes(f"/quick{n}.csv", content)
        return post(hook, {"mpan": MPAN, "write": False,
                           "profile_url": files.url(f"/quick{n}.csv")})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(one, range(6)))
    assert [r.status_code for r in answers] == [200] * 6
