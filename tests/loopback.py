"""Servers on loopback for the end-to-end tests: a file host for profile links and the
webhook app served for real (werkzeug in a thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gspread
import requests
from bess_duos.webhook.app import create_app
from bess_duos.webhook.auth import signed_headers
from bess_duos.webhook.profile_links import FetchPolicy
from werkzeug.serving import make_server

from tests.sheets_server import SheetsServer


class FileServer:
    """Loopback HTTP server: `routes` path -> handler function; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.hits.append(self.path)
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve_bytes(self, path: str, body: bytes, content_type: str = "text/csv") -> None:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        self.routes[path] = route

    def redirect(self, path: str, location: str) -> None:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.routes[path] = route

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Webhook:
    """The app served by werkzeug on loopback in a thread."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.secret = str(config.get("WEBHOOK_SECRET", ""))
        self.app = create_app(config)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def post(self, payload: dict[str, Any], *, secret: str | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
        body = json.dumps(payload).encode()
        # as the sheet's script does: signed with the key of the spreadsheet it writes
        sent = headers or signed_headers(secret or self.secret, body,
                                         spreadsheet_id=payload.get("spreadsheet_id"))
        return requests.post(self.url + "/lookup", data=body, timeout=30,
                             headers={**sent, "Content-Type": "application/json"})

    def close(self) -> None:
        self.server.shutdown()



@contextmanager
def serving(secret: str, files: FileServer | None = None, **config: Any) -> Iterator[Webhook]:
    """The webhook with `secret`, fetching profile links from `files` (loopback) and writing
    no sheet unless `config` says otherwise; closed on exit."""
    settings: dict[str, Any] = {"WEBHOOK_SECRET": secret,
                                "SHEET_FACTORY": lambda sid, tab: None, **config}
    if files is not None:
        settings.setdefault("FETCH_POLICY",
                            FetchPolicy(allow_loopback_ports=frozenset({files.port})))
    hook = Webhook(settings)
    try:
        yield hook
    finally:
        hook.close()


@contextmanager
def file_server() -> Iterator[FileServer]:
    """An empty loopback file host; closed on exit."""
    server = FileServer()
    try:
        yield server
    finally:
        server.close()


def gspread_client(sheets: SheetsServer, tmp_path: Path,
                   timeout: tuple[float, float] = (2.0, 5.0)) -> gspread.Client:
    """A gspread client with the test server's service-account key (a real JWT exchange),
    pointed at that server."""
    from bess_duos.webhook.google_sheet import SCOPES, make_client
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(
        sheets.key_file(tmp_path), scopes=SCOPES)
    return make_client(credentials, api_base_url=sheets.url, timeout=timeout)
