"""Profile links: SSRF guards, redirects, size/time/content-type limits, HTTPS, Google links."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from bess_duos.webhook import profile_links
from bess_duos.webhook.profile_links import (
    RULE_ADDRESS,
    RULE_CONTENT_TYPE,
    RULE_HTTPS,
    RULE_REDIRECTS,
    RULE_SIZE,
    RULE_STATUS,
    RULE_TIME,
    RULE_UNREACHABLE,
    FetchPolicy,
    ProfileFetcher,
    ProfileLinkError,
    check_address,
    classify_link,
    display_link,
    fetch_url,
)

CSV = b"timestamp,kwh\n2026-01-01T00:00:00Z,1.5\n2026-01-01T00:30:00Z,2.0\n"

Route = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """A loopback HTTP(S) server whose paths are functions; it counts requests."""

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                route = outer.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(body: bytes, content_type: str = "text/csv", length: bool = True,
         headers: dict[str, str] | None = None, chunk: int = 4096) -> Route:
    """A route answering 200 with `body`: with a Content-Length, or chunked in `chunk`-byte
    parts; `headers` added."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if length:
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        else:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for start in range(0, len(body), chunk):
                part = body[start:start + chunk]
                handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")

    return route


def redirect(location: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server({"/profile.csv": send(CSV)})
    yield srv
    srv.close()


@pytest.fixture
def other() -> Iterator[Server]:
    srv = Server({"/": send(b"secret", "text/plain")})
    yield srv
    srv.close()


def allow(*servers: Server, **kwargs: object) -> FetchPolicy:
    return FetchPolicy(allow_loopback_ports=frozenset(s.port for s in servers), **kwargs)


# --- classification and address rules -------------------------------------------------


def test_classify_links() -> None:
    sheet = classify_link("https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=42")
    assert (sheet.kind, sheet.file_id, sheet.gid) == ("google_sheet", "1AbCdEfGhIjKlMnOp", 42)
    first_tab = classify_link("https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit")
    assert (first_tab.kind, first_tab.gid) == ("google_sheet", None)
    drive = classify_link("https://drive.google.com/file/d/1ZyXwVuTsRqPo/view?usp=sharing")
    assert (drive.kind, drive.file_id) == ("google_drive", "1ZyXwVuTsRqPo")
    assert classify_link("https://drive.google.com/open?id=1ZyXwVuTsRqPo").file_id == (
        "1ZyXwVuTsRqPo"
    )
    assert classify_link("https://drive.google.com/uc?id=1ZyXwVuTsRqPo").kind == "google_drive"
    assert classify_link("https://example.com/p.csv").kind == "https"
    assert classify_link("https://docs.google.com.evil.test/spreadsheets/d/1AbCdEfGhIjKlMnOp")\
        .kind == "https"


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("192.168.1.20", "private"),
        ("172.16.5.4", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "not a public"),
        ("240.0.0.1", "not a public"),
        ("224.0.0.1", "not a public"),
    ],
)
def test_non_public_addresses_are_refused(address: str, words: str) -> None:
    reason = check_address(address, 443, FetchPolicy())
    assert reason is not None and words in reason


def test_public_address_passes_and_loopback_only_on_allowed_port() -> None:
    assert check_address("93.184.216.34", 443, FetchPolicy()) is None
    assert check_address("2606:4700::1111", 443, FetchPolicy()) is None
    policy = FetchPolicy(allow_loopback_ports=frozenset({8443}))
    assert check_address("127.0.0.1", 8443, policy) is None
    assert check_address("127.0.0.1", 8444, policy) is not None
    assert check_address("10.0.0.1", 8443, policy) is not None


def test_display_link_hides_query() -> None:
    assert display_link("https://h.test/a.csv?token=abc") == "https://h.test/a.csv?…"


# --- plain downloads ------------------------------------------------------------------


def test_fetch_from_allowed_loopback(server: Server) -> None:
    fetched = fetch_url(server.url("/profile.csv"), allow(server))
    assert fetched.content == CSV
    assert fetched.content_type == "text/csv"
    assert server.requests == ["/profile.csv"]


def test_loopback_refused_without_allowance_and_no_request_made(server: Server) -> None:
    for url in (server.url("/profile.csv"), server.url("/profile.csv").replace("http:", "https:")):
        with pytest.raises(ProfileLinkError) as info:
            fetch_url(url, FetchPolicy())
        assert info.value.rule in (RULE_ADDRESS, RULE_HTTPS)
        assert "127.0.0.1" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/profile.csv",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/profile.csv",
        "https://[::1]/profile.csv",
    ],
)
def test_ssrf_targets_refused_before_any_connection(url: str, network_guard: list[object]) -> None:
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(url, FetchPolicy())
    assert info.value.rule == RULE_ADDRESS
    assert url.split("/")[2].strip("[]") in str(info.value)
    assert network_guard == []


def test_plain_http_refused_even_to_public_host(network_guard: list[object]) -> None:
    with pytest.raises(ProfileLinkError) as info:
        fetch_url("http://93.184.216.34/profile.csv", FetchPolicy())
    assert info.value.rule == RULE_HTTPS
    assert network_guard == []
    with pytest.raises(ProfileLinkError, match="HTTPS only"):
        fetch_url("ftp://example.com/p.csv")
    with pytest.raises(ProfileLinkError, match="user name"):
        fetch_url("https://user:pw@example.com/p.csv")


@pytest.mark.parametrize(
    "target",
    [
        "https://169.254.169.254/latest/meta-data/iam",
        "https://10.0.0.1/internal.csv",
        "http://10.0.0.1/internal.csv",
    ],
)
def test_redirect_to_forbidden_address_is_refused(
    server: Server, target: str, network_guard: list[object]
) -> None:
    server.routes["/jump"] = redirect(target)
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/jump"), allow(server))
    assert info.value.rule in (RULE_ADDRESS, RULE_HTTPS)
    assert "/jump" in str(info.value)
    assert network_guard == []


def test_redirect_to_loopback_port_without_allowance_is_refused(
    server: Server, other: Server
) -> None:
    server.routes["/jump"] = redirect(other.url("/"))
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/jump"), allow(server))
    assert info.value.rule in (RULE_ADDRESS, RULE_HTTPS)
    assert other.requests == []
    server.routes["/jump"] = redirect(other.url("/").replace("http:", "https:"))
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/jump"), allow(server))
    assert info.value.rule == RULE_ADDRESS and "loopback" in info.value.detail
    assert other.requests == []


def test_allowed_redirect_is_followed_and_chain_is_capped(server: Server) -> None:
    server.routes["/a"] = redirect("/profile.csv")
    assert fetch_url(server.url("/a"), allow(server)).content == CSV
    server.routes["/loop"] = redirect("/loop")
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/loop"), allow(server))
    assert info.value.rule == RULE_REDIRECTS
    assert server.requests.count("/loop") == 6


def test_dns_rebinding_caught_at_connect(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves public when checked, loopback when connected: the socket check refuses."""
    calls = {"n": 0}
    real = socket.getaddrinfo

    def fake(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        calls["n"] += 1
        ip = "93.184.216.34" if calls["n"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(profile_links.socket, "getaddrinfo", fake)
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(f"https://rebind.test:{server.port}/profile.csv", FetchPolicy())
    assert info.value.rule == RULE_ADDRESS
    assert calls["n"] == 2
    assert server.requests == []


def test_hostname_resolving_to_private_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(host: str, port: int, *args: object, **kwargs: object) -> list:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(profile_links.socket, "getaddrinfo", fake)
    with pytest.raises(ProfileLinkError, match=r"10\.1\.2\.3 is a private address"):
        fetch_url("https://intranet.test/profile.csv")


def test_size_cap_by_header_and_by_stream(server: Server) -> None:
    big = b"0123456789" * 500
    server.routes["/big"] = send(big)
    server.routes["/chunked"] = send(big, length=False)
    for path in ("/big", "/chunked"):
        with pytest.raises(ProfileLinkError) as info:
            fetch_url(server.url(path), allow(server, max_bytes=1000))
        assert info.value.rule == RULE_SIZE
    assert fetch_url(server.url("/chunked"), allow(server, max_bytes=5000)).content == big


def test_total_time_cap(server: Server) -> None:
    server.routes["/slow"] = trickle
    started = time.monotonic()
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/slow"), allow(server, total_seconds=0.5))
    assert info.value.rule == RULE_TIME
    assert time.monotonic() - started < 2.5


def test_content_type_and_status_checked(server: Server) -> None:
    server.routes["/login"] = send(b"<html>sign in</html>", "text/html; charset=utf-8")
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/login"), allow(server))
    assert info.value.rule == RULE_CONTENT_TYPE and "text/html" in info.value.detail
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/missing"), allow(server))
    assert info.value.rule == RULE_STATUS and "404" in info.value.detail


def test_unreachable_port_names_the_link() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(f"http://127.0.0.1:{port}/profile.csv", FetchPolicy(
            allow_loopback_ports=frozenset({port})))
    assert info.value.rule == RULE_UNREACHABLE
    assert f"127.0.0.1:{port}/profile.csv" in str(info.value)


# --- HTTPS with a self-signed certificate --------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_path, key_path


def test_https_with_trusted_self_signed_cert(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    srv = Server({"/profile.csv": send(CSV)}, tls=tls)
    try:
        fetched = fetch_url(srv.url("/profile.csv"), allow(srv, ca_bundle=str(cert)))
        assert fetched.content == CSV
        with pytest.raises(ProfileLinkError) as info:  # not trusted: certificate check fails
            fetch_url(srv.url("/profile.csv"), allow(srv))
        assert info.value.rule == RULE_UNREACHABLE and "SSL" in info.value.detail
    finally:
        srv.close()


# --- Google links ----------------------------------------------------------------------


def test_drive_link_uses_files_get_alt_media(server: Server) -> None:
    server.routes["/drive/v3/files/1ZyXwVuTsRqPo"] = send(CSV, "text/csv")
    fetcher = ProfileFetcher(
        policy=allow(server, google_files=frozenset({"1ZyXwVuTsRqPo", "1NotThereAtAll"})),
        drive_session=requests.Session,
        drive_api_base=f"http://127.0.0.1:{server.port}/drive/v3",
    )
    fetched = fetcher.fetch("https://drive.google.com/file/d/1ZyXwVuTsRqPo/view")
    assert fetched.kind == "google_drive" and fetched.content == CSV
    assert server.requests == ["/drive/v3/files/1ZyXwVuTsRqPo?alt=media&supportsAllDrives=true"]
    with pytest.raises(ProfileLinkError, match="share the file with the service account"):
        fetcher.fetch("https://drive.google.com/file/d/1NotThereAtAll/view")


def test_google_links_without_credentials_say_so() -> None:
    fetcher = ProfileFetcher(policy=FetchPolicy(google_files=frozenset({"1ZyXwVuTsRqPo"})))
    with pytest.raises(ProfileLinkError, match="no Google credentials"):
        fetcher.fetch("https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=0",
                      spreadsheet_id="1AbCdEfGhIjKlMnOp")
    with pytest.raises(ProfileLinkError, match="no Google credentials"):
        fetcher.fetch("https://drive.google.com/file/d/1ZyXwVuTsRqPo/view")
    with pytest.raises(ProfileLinkError, match="empty"):
        fetcher.fetch("  ")


def test_google_sheets_tab_read_with_gspread(tmp_path: Path) -> None:
    """A Sheets link read through gspread's real HTTP path against the local test server."""
    from tests.loopback import gspread_client
    from tests.sheets_server import SheetsServer

    rows = {"A1": "timestamp", "B1": "kwh", "A2": "2026-01-01T00:00:00Z", "B2": "1.5",
            "A3": "2026-01-01T00:30:00Z", "B3": "2"}
    with SheetsServer() as sheets:
        sheets.add_spreadsheet("1ProfileSheetAbc", tabs={"Notes": {"A1": "x"}, "Data": rows})
        client = gspread_client(sheets, tmp_path, (2.0, 2.0))
        fetcher = ProfileFetcher(sheets_client=lambda: client)
        gid = client.open_by_key("1ProfileSheetAbc").worksheet("Data").id
        fetched = fetcher.fetch(
            f"https://docs.google.com/spreadsheets/d/1ProfileSheetAbc/edit#gid={gid}",
            spreadsheet_id="1ProfileSheetAbc")
        assert fetched.kind == "google_sheet" and fetched.quote_cells
        assert fetched.content.decode().splitlines() == [
            "timestamp,kwh", "2026-01-01T00:00:00Z,1.5", "2026-01-01T00:30:00Z,2"]
        with pytest.raises(ProfileLinkError, match="no tab with gid 999"):
            fetcher.fetch("https://docs.google.com/spreadsheets/d/1ProfileSheetAbc/edit#gid=999",
                          spreadsheet_id="1ProfileSheetAbc")
        with pytest.raises(ProfileLinkError, match="share the sheet"):
            fetcher.fetch("https://docs.google.com/spreadsheets/d/1MissingSheetXyz/edit",
                          spreadsheet_id="1MissingSheetXyz")
