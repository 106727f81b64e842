"""Plain downloads revalidated on real loopback HTTP: the validators go back to the server, a
304 stands for the bytes kept, anything else is taken as it comes."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from bess_duos.webhook.profile_links import (
    RULE_STATUS,
    FetchPolicy,
    ProfileFetcher,
    ProfileLinkError,
)
from bess_duos.webhook.revalidation import KeptAnswer, Revalidation, conditions_of

from tests.test_profile_links import Server

OLD = email.utils.formatdate(time.time() - 3600, usegmt=True)


class Origin:
    """A file whose body and validators can change; records each request's conditions."""

    def __init__(self, body: bytes, etag: str | None = '"v1"',
                 last_modified: str | None = None) -> None:
        self.body, self.etag, self.last_modified = body, etag, last_modified
        self.asked: list[tuple[str | None, str | None]] = []
        self.ignore_conditions = False

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        match = handler.headers.get("If-None-Match")
        since = handler.headers.get("If-Modified-Since")
        self.asked.append((match, since))
        fresh = (match is not None and match == self.etag) or (
            match is None and since is not None and since == self.last_modified)
        if fresh and not self.ignore_conditions:
            handler.send_response(304)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        if self.etag:
            handler.send_header("ETag", self.etag)
        if self.last_modified:
            handler.send_header("Last-Modified", self.last_modified)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server({})
    yield srv
    srv.close()


def fetcher(server: Server, **kwargs: object) -> ProfileFetcher:
    return ProfileFetcher(policy=FetchPolicy(allow_loopback_ports=frozenset({server.port})),
                          **kwargs)


def test_an_unchanged_file_is_revalidated_not_sent_again(server: Server) -> None:
    origin = Origin(b"timestamp,kwh\n2026-01-01T00:00:00Z,1.5\n" * 1000)
    server.routes["/p.csv"] = origin
    fetch = fetcher(server)
    first = fetch.fetch(server.url("/p.csv"))
    second = fetch.fetch(server.url("/p.csv"))
    assert origin.asked == [(None, None), ('"v1"', None)]
    assert second.content is first.content and second.content == origin.body
    assert (second.link, second.final_url, second.content_type) == (
        first.link, first.final_url, "text/csv")


def test_a_changed_file_is_downloaded_and_kept_in_place_of_the_old(server: Server) -> None:
    origin = Origin(b"timestamp,kwh\n2026-01-01T00:00:00Z,1.5\n")
    server.routes["/p.csv"] = origin
    fetch = fetcher(server)
    fetch.fetch(server.url("/p.csv"))
    origin.body, origin.etag = b"timestamp,kwh\n2026-01-01T00:00:00Z,2.5\n", '"v2"'
    assert fetch.fetch(server.url("/p.csv")).content == origin.body
    assert fetch.fetch(server.url("/p.csv")).content == origin.body
    assert origin.asked == [(None, None), ('"v1"', None), ('"v2"', None)]


def test_last_modified_is_used_only_when_a_second_older_than_the_answer(
        server: Server) -> None:
    origin = Origin(b"timestamp,kwh\n", etag=None, last_modified=OLD)
    server.routes["/p.csv"] = origin
    fetch = fetcher(server)
    fetch.fetch(server.url("/p.csv"))
    assert fetch.fetch(server.url("/p.csv")).content == origin.body
    assert origin.asked == [(None, None), (None, OLD)]
    # changed within the second the server answers in: not a validator (RFC 9110 8.8.2.2)
    now = {"Last-Modified": email.utils.formatdate(time.time(), usegmt=True),
           "Date": email.utils.formatdate(time.time(), usegmt=True)}
    assert conditions_of(now.get) == ()


@pytest.mark.parametrize("etag", ['W/"weak"', '"with\x7fcontrol"', "unquoted",
                                  '"' + "x" * 201 + '"'])
def test_weak_or_malformed_etags_are_not_validators(etag: str) -> None:
    assert conditions_of({"ETag": etag}.get) == ()
    assert conditions_of({"ETag": '"clean"'}.get) == (("If-None-Match", '"clean"'),)


@pytest.mark.parametrize("etag", ['W/"weak"', "unquoted"])
def test_an_answer_without_a_strong_validator_is_downloaded_each_time(
        server: Server, etag: str) -> None:
    origin = Origin(b"timestamp,kwh\n", etag=etag)
    server.routes["/p.csv"] = origin
    fetch = fetcher(server)
    fetch.fetch(server.url("/p.csv"))
    fetch.fetch(server.url("/p.csv"))
    assert origin.asked == [(None, None), (None, None)]


def test_a_304_without_conditions_is_an_error(server: Server) -> None:
    def not_modified(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(304)
        handler.end_headers()

    server.routes["/p.csv"] = not_modified
    with pytest.raises(ProfileLinkError) as info:
        fetcher(server).fetch(server.url("/p.csv"))
    assert info.value.rule == RULE_STATUS and "304" in info.value.detail


def test_a_link_that_fails_later_fails_and_is_forgotten(server: Server) -> None:
    origin = Origin(b"timestamp,kwh\n")
    server.routes["/p.csv"] = origin
    fetch = fetcher(server)
    fetch.fetch(server.url("/p.csv"))
    del server.routes["/p.csv"]  # now 404
    with pytest.raises(ProfileLinkError) as info:
        fetch.fetch(server.url("/p.csv"))
    assert info.value.rule == RULE_STATUS and "404" in info.value.detail
    server.routes["/p.csv"] = origin
    fetch.fetch(server.url("/p.csv"))
    assert origin.asked == [(None, None), (None, None)]  # asked afresh, no validator


def test_the_answer_of_the_hop_that_served_it_is_revalidated(server: Server) -> None:
    origin = Origin(b"timestamp,kwh\n")
    server.routes["/file.csv"] = origin

    def moved(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", "/file.csv")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.routes["/link"] = moved
    fetch = fetcher(server)
    first = fetch.fetch(server.url("/link"))
    second = fetch.fetch(server.url("/link"))
    assert second.content is first.content
    assert second.final_url == server.url("/file.csv") and second.link == server.url("/link")
    assert server.requests == ["/link", "/file.csv", "/link", "/file.csv"]
    assert origin.asked == [(None, None), ('"v1"', None)]


def test_kept_answers_are_bounded_by_count_and_bytes() -> None:
    kept = Revalidation(count=2, max_bytes=10)
    answer = KeptAnswer(b"12345", "text/csv", (("If-None-Match", '"a"'),))
    for url in ("a", "b", "c"):
        kept.keep(url, answer)
    assert kept.get("a") is None and kept.get("b") is answer and kept.get("c") is answer
    kept.keep("d", KeptAnswer(b"123456", "text/csv", answer.conditions))  # 5 + 6 > 10
    assert kept.get("c") is None and kept.get("b") is None and kept.get("d") is not None
    kept.keep("e", KeptAnswer(b"x" * 11, "text/csv", answer.conditions))  # over the cap alone
    assert kept.get("e") is None and kept.get("d") is not None
    kept.keep("d", KeptAnswer(b"1", "text/csv", ()))  # no validator: forgotten
    assert kept.get("d") is None
