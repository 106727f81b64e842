"""The plain download path (`http.client` on a guarded socket), on real loopback HTTP: what
`requests` did for it (content codings, chunked bodies, the same bytes) it still does."""

from __future__ import annotations

import gzip
import random
import zlib
from collections.abc import Iterator

import pytest
import requests
from bess_duos.webhook.profile_links import RULE_SIZE, FetchPolicy, ProfileLinkError, fetch_url

from tests.test_profile_links import Route, Server, send


def coded(body: bytes, coding: str, chunked: bool = False) -> Route:
    return send(body, length=not chunked, chunk=7001,
                headers={"Content-Encoding": coding} if coding else None)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server({})
    yield srv
    srv.close()


def allow(server: Server, **kwargs: object) -> FetchPolicy:
    return FetchPolicy(allow_loopback_ports=frozenset({server.port}), **kwargs)


def test_the_same_bytes_as_requests_on_random_bodies(server: Server) -> None:
    rng = random.Random(18)
    for i in range(12):
        size = rng.choice([0, 1, 4095, 65536, 1024 * 1024 + 3, rng.randrange(1, 3_000_000)])
        body = bytes(rng.getrandbits(8) for _ in range(min(size, 256))) * (size // 256 + 1)
        body = body[:size]
        chunked = bool(i % 2)
        server.routes[f"/b{i}"] = coded(body, "", chunked)
        fetched = fetch_url(server.url(f"/b{i}"), allow(server))
        assert fetched.content == body == requests.get(server.url(f"/b{i}"), timeout=10).content


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate"])
def test_gzip_and_deflate_are_decoded(server: Server, coding: str) -> None:
    body = b"timestamp,kwh\n" + b"2026-01-01T00:00:00Z,1.5\n" * 5000
    packed = gzip.compress(body) if "gzip" in coding else zlib.compress(body)
    server.routes["/p.csv"] = coded(packed, coding, chunked=coding == "deflate")
    assert fetch_url(server.url("/p.csv"), allow(server)).content == body


def test_the_size_cap_counts_decoded_bytes(server: Server) -> None:
    bomb = gzip.compress(b"0" * (40 * 1024 * 1024))  # 40 MB of zeros in ~40 kB
    server.routes["/bomb.csv"] = coded(bomb, "gzip")
    with pytest.raises(ProfileLinkError) as info:
        fetch_url(server.url("/bomb.csv"), allow(server, max_bytes=5 * 1024 * 1024))
    assert info.value.rule == RULE_SIZE and "over 5,242,880 bytes" in info.value.detail
