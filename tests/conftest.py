"""Shared fixtures: where the reference data is; the network guard; the hypothesis CI profile."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from bess_duos.core.paths import reference_data_dir
from hypothesis import settings

# CI (which sets CI=true) draws the same examples every run and has no per-example deadline on
# its shared runners; local runs keep hypothesis's default profile (random, 200 ms deadline).
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    """Without the reference data the run stops at once with one line saying where to put it
    (instead of dozens of failures with long tracebacks)."""
    path = reference_data_dir()
    if not (path / "dno-charging-statements").is_dir():
        pytest.exit(f"reference data not found at {path}: lay ../shared beside the clone "
                    "(or set BESS_DUOS_REFERENCE_DATA)", returncode=4)


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """`../shared/reference-data`; the tests need it (CI lays it beside the clone)."""
    path = reference_data_dir()
    if not path.is_dir():
        pytest.fail(f"reference data not found at {path}: clone beside ../shared")
    return path


class NetworkGuardError(AssertionError):
    """A test tried to reach (or look up) an address other than loopback.

    An AssertionError, not an OSError, so that code under test that catches network errors
    (retries, offline fallbacks) cannot swallow it: the test fails.
    """


def _is_loopback(host: object) -> bool:
    """`localhost` or a loopback IP address (an IPv6 zone suffix allowed)."""
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def network_guard() -> Iterator[list[object]]:
    """Every test: refuse (and record) connections and name lookups other than loopback.

    Connections (`connect`, `connect_ex`) on IPv4/IPv6 sockets must go to a loopback address;
    name lookups (`getaddrinfo`, `gethostbyname[_ex]`, `gethostbyaddr`) may only ask about
    `localhost` or loopback (an IP literal in `getaddrinfo` needs no DNS and is let through; its
    connection is checked). Proxy variables are cleared so clients talk to loopback directly.
    Yields the list of refused connection addresses. Uses its own MonkeyPatch, so a test's
    `monkeypatch.undo()` leaves the guard in place.
    """
    refused: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname
    real_gethostbyname_ex = socket.gethostbyname_ex
    real_gethostbyaddr = socket.gethostbyaddr

    def check_connect(sock: socket.socket, address: object) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return  # a Unix domain socket path, a socketpair
        host = address[0] if isinstance(address, tuple) and address else address
        if not _is_loopback(host):
            refused.append(address)
            raise NetworkGuardError(
                f"test network guard: test tried to reach the internet: {address}"
            )

    def check_name(host: object) -> None:
        if not _is_loopback(host):
            raise NetworkGuardError(f"test network guard: test tried to resolve {host!r}")

    def connect(sock: socket.socket, address: object) -> None:
        check_connect(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        check_connect(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_ip_literal(str(name)):
            check_name(name)
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        check_name(host)
        return real_gethostbyname(host)

    def gethostbyname_ex(host: str) -> object:
        check_name(host)
        return real_gethostbyname_ex(host)

    def gethostbyaddr(host: str) -> object:
        check_name(host)
        return real_gethostbyaddr(host)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket, "gethostbyname", gethostbyname)
        patch.setattr(socket, "gethostbyname_ex", gethostbyname_ex)
        patch.setattr(socket, "gethostbyaddr", gethostbyaddr)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):  # talk to loopback directly
            patch.delenv(name, raising=False)
            patch.delenv(name.lower(), raising=False)
        yield refused
