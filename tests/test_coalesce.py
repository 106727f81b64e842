"""Fetches of one link joined while one runs (`webhook.coalesce.Coalescer`): one next call for
all who came meanwhile, and never an answer from a call begun before its caller asked; on real
loopback HTTP through `ProfileFetcher`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from bess_duos.webhook.coalesce import Coalescer
from bess_duos.webhook.profile_links import (
    RULE_BUSY,
    RULE_STATUS,
    FetchPolicy,
    ProfileFetcher,
    ProfileLinkError,
)

from tests.test_profile_links import Server


class Gated:
    """A call that blocks until released; records when each call started."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail_call: int | None = None

    def __call__(self) -> tuple[int, float]:
        started = time.monotonic()
        self.starts.append(started)
        number = len(self.starts)
        self.entered.release()
        assert self.release.acquire(timeout=10)
        if number == self.fail_call:
            raise ValueError(f"call {number} failed")
        return number, started


def _ask(joined: Coalescer, call: Gated, key: str = "k", wait: float = 10.0
         ) -> tuple[float, tuple[int, float] | BaseException]:
    arrived = time.monotonic()
    try:
        return arrived, joined.call(key, call, wait)
    except Exception as exc:
        return arrived, exc


def _until(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_callers_during_a_call_share_one_next_call_begun_after_they_asked() -> None:
    joined: Coalescer = Coalescer()
    call = Gated()
    with ThreadPoolExecutor(12) as pool:
        first = pool.submit(_ask, joined, call)
        assert call.entered.acquire(timeout=5)  # call 1 runs
        later = [pool.submit(_ask, joined, call) for _ in range(10)]
        _until(lambda: joined._keys.get("k") is not None)
        time.sleep(0.05)  # the ten are all waiting
        call.release.release()  # call 1 ends: the next one starts for the ten
        assert call.entered.acquire(timeout=5)
        call.release.release()
        answers = [first.result(), *(f.result() for f in later)]
    assert len(call.starts) == 2  # eleven callers, two calls
    assert answers[0][1][0] == 1 and {a[1][0] for a in answers[1:]} == {2}
    for arrived, (_number, started) in answers:
        assert started >= arrived  # no answer from a call begun before its caller asked
    assert joined._keys == {}


def test_an_error_is_every_joined_callers_and_the_next_call_runs_afresh() -> None:
    joined: Coalescer = Coalescer()
    call = Gated()
    call.fail_call = 2
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(_ask, joined, call)
        assert call.entered.acquire(timeout=5)
        later = [pool.submit(_ask, joined, call) for _ in range(4)]
        _until(lambda: joined._keys.get("k") is not None)
        time.sleep(0.05)
        call.release.release()
        assert call.entered.acquire(timeout=5)
        call.release.release()
        failed = [f.result()[1] for f in later]
        assert first.result()[1][0] == 1
    assert all(isinstance(e, ValueError) and str(e) == "call 2 failed" for e in failed)
    call.release.release()
    assert joined.call("k", call, 1.0)[0] == 3 and joined._keys == {}


def test_other_keys_run_side_by_side_and_a_joined_caller_waits_no_longer_than_told() -> None:
    joined: Coalescer = Coalescer()
    call = Gated()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(_ask, joined, call, "a")
        assert call.entered.acquire(timeout=5)
        other = pool.submit(_ask, joined, call, "b")
        assert call.entered.acquire(timeout=5)  # "b" did not wait for "a"
        leader = pool.submit(_ask, joined, call, "a")  # leads a's next call
        _until(lambda: joined._keys.get("a") is not None)
        impatient = _ask(joined, call, "a", wait=0.05)[1]
        assert isinstance(impatient, TimeoutError)
        for _ in range(3):
            call.release.release()
        assert {first.result()[1][0], other.result()[1][0]} == {1, 2}
        assert leader.result()[1][0] == 3
    assert joined._keys == {}


class Versions:
    """A file whose content is read when a request comes; the first answer is held back."""

    def __init__(self) -> None:
        self.body = b"timestamp,kwh\n2026-01-01T00:00:00Z,1.0\n"
        self.status = 200
        self.seen = 0
        self.hold = 0.5

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        body, status = self.body, self.status
        self.seen += 1
        if self.seen == 1:
            time.sleep(self.hold)
        handler.send_response(status)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server({})
    yield srv
    srv.close()


def _served(server: Server, hold: float = 0.5, **policy: Any
            ) -> tuple[Versions, ProfileFetcher, str]:
    """A `Versions` file on the server (its first answer held `hold` s), a fetcher allowed its
    port under `policy`, and the file's link."""
    origin = Versions()
    origin.hold = hold
    server.routes["/p.csv"] = origin
    fetcher = ProfileFetcher(policy=FetchPolicy(allow_loopback_ports=frozenset({server.port}),
                                                **policy))
    return origin, fetcher, server.url("/p.csv")


def test_lookups_of_a_link_changed_during_a_download_get_the_new_file_from_one_download(
        server: Server) -> None:
    origin, fetcher, link = _served(server, max_concurrent=9)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(fetcher.fetch, link)
        _until(lambda: origin.seen == 1)  # the first download is under way
        origin.body = b"timestamp,kwh\n2026-01-01T00:00:00Z,2.0\n"  # the file changes
        later = [pool.submit(fetcher.fetch, link) for _ in range(8)]
        old, new = first.result(), [f.result() for f in later]
    assert old.content.endswith(b",1.0\n")
    assert all(f.content.endswith(b",2.0\n") for f in new)  # asked after the change: seen
    assert origin.seen == 2 and server.requests == ["/p.csv", "/p.csv"]


def test_a_failed_download_is_the_error_of_every_lookup_joined_to_it(server: Server) -> None:
    origin, fetcher, link = _served(server, max_concurrent=5)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(fetcher.fetch, link)
        _until(lambda: origin.seen == 1)
        origin.status = 404
        later = [pool.submit(fetcher.fetch, link) for _ in range(4)]
        assert first.result().content.endswith(b",1.0\n")
        for future in later:
            with pytest.raises(ProfileLinkError) as refused:
                future.result()
            assert refused.value.rule == RULE_STATUS
    assert origin.seen == 2


def test_lookups_waiting_for_a_download_hold_the_fetch_slots(server: Server) -> None:
    """A slow link cannot hold every thread of the server through joined lookups: each holds a
    slot while it waits, and those beyond the slots are refused as busy, as before."""
    origin, fetcher, link = _served(server, hold=1.0, max_concurrent=2, slot_wait_seconds=0.2)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(fetcher.fetch, link)
        _until(lambda: origin.seen == 1)
        joined = pool.submit(fetcher.fetch, link)  # takes the second slot and waits
        time.sleep(0.05)
        refused = [pool.submit(fetcher.fetch, link) for _ in range(3)]
        for future in refused:
            with pytest.raises(ProfileLinkError) as busy:
                future.result()
            assert busy.value.rule == RULE_BUSY
        assert first.result().content == joined.result().content
    assert origin.seen == 2
