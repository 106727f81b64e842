"""The suite-wide network guard (tests/conftest.py) refuses everything but loopback."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests


def test_the_guard_blocks_non_loopback_addresses(network_guard: list[object]) -> None:
    with pytest.raises(AssertionError, match="internet"), socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: must never be dialled
    with pytest.raises(AssertionError, match="resolve"):
        socket.getaddrinfo("api.octopus.energy", 443)
    with pytest.raises(AssertionError, match="test network guard"):
        socket.create_connection(("10.255.255.1", 443), timeout=1)
    with pytest.raises(AssertionError, match="test network guard"):
        socket.getaddrinfo("sheets.googleapis.com", 443)
    with pytest.raises(AssertionError, match="test network guard"):
        socket.gethostbyname("sheets.googleapis.com")
    with pytest.raises(AssertionError, match="test network guard"), socket.socket() as sock:
        sock.connect_ex(("192.0.2.1", 443))
    assert network_guard == [("192.0.2.1", 443), ("10.255.255.1", 443), ("192.0.2.1", 443)]


def test_the_guard_is_not_an_oserror() -> None:
    """Code under test that catches network errors (OSError) cannot swallow the guard."""
    with pytest.raises(AssertionError) as info, socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))
    assert not isinstance(info.value, OSError)


def test_loopback_still_works() -> None:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        for host in ("127.0.0.1", "localhost"):
            assert requests.get(f"http://{host}:{port}/", timeout=5).text == "hi"
    finally:
        server.shutdown()
        server.server_close()
