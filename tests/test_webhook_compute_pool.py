"""The compute processes' hand-off (`webhook.compute.ComputePool`: one pipe per process) and
the digests of recently seen profiles (`RecentDigests`)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from bess_duos.webhook.compute import ComputePool, ComputeProcessDied, RecentDigests


def _pid() -> int:
    return os.getpid()


def _square(x: int) -> int:
    return x * x


def _fail(message: str) -> None:
    raise ValueError(message)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_recent_digests_are_the_sha256_of_the_bytes_on_random_inputs() -> None:
    rng = random.Random(18)
    digests = RecentDigests(count=3, max_bytes=40_000)
    pool = [rng.randbytes(rng.choice([0, 1, 100, 9_000, 20_000])) for _ in range(6)]
    pool += [bytearray(p) for p in pool[:2]]  # equal bytes, another object
    pool += [p[:-1] + bytes([p[-1] ^ 1]) for p in pool[2:4] if p]  # one bit differs at the end
    for _ in range(300):
        content = bytes(rng.choice(pool))
        assert digests.of(content) == hashlib.sha256(content).hexdigest()
        assert len(digests._recent) <= 3
        assert sum(len(seen) for seen, _ in digests._recent) <= 40_000


def test_jobs_run_in_the_processes_and_their_errors_come_back() -> None:
    pool = ComputePool(2)
    try:
        pids = set()
        with ThreadPoolExecutor(8) as threads:  # more threads than processes: they wait
            squares = list(threads.map(lambda x: pool.call(_square, x), range(200)))
            pids = set(threads.map(lambda _: pool.call(_pid), range(40)))
        assert squares == [x * x for x in range(200)]
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        with pytest.raises(ValueError, match=r"^bad input 7$"):
            pool.call(_fail, "bad input 7")
        assert pool.call(_square, 9) == 81  # the process that raised is still in step
    finally:
        pool.shutdown()


def test_a_process_that_dies_is_replaced() -> None:
    pool = ComputePool(1)
    try:
        first = pool.call(_pid)
        with pytest.raises(ComputeProcessDied, match="send the request again"):
            pool.call(_die)
        second = pool.call(_pid)
        assert second != first and pool.call(_square, 12) == 144
    finally:
        pool.shutdown()


def test_no_pool_runs_here() -> None:
    assert ComputePool(0).call(_pid) == os.getpid()


def _misses() -> int:
    from bess_duos.core.profile_loader import PROFILE_CACHE

    return PROFILE_CACHE.misses


def test_a_burst_of_a_new_profile_parses_it_once_per_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes follow a digest the process did not have to that same process, so each
    process is sent and parses a new profile once however many lookups of it arrive at once."""
    import datetime as dt

    from bess_duos.core.lookup import decide_area, parse_inputs
    from bess_duos.core.synthetic import generate_profile
    from bess_duos.webhook import compute
    from bess_duos.webhook.profile_links import FetchedProfile

    series = generate_profile("office", 90_000, start="2025-04-01", seed=31)
    content = series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        date_format="%Y-%m-%dT%H:%M:%SZ").encode()
    link = "https://files.example/burst.csv"
    fetched = FetchedProfile(link, "https", content, "text/csv", link)
    site = decide_area(parse_inputs({"mpan": "1405566778898"}))
    sent: list[int] = []
    run = compute._Worker.run

    def counted(worker: compute._Worker, job: object, args: tuple[object, ...]) -> object:
        if args and isinstance(args[0], FetchedProfile) and args[0].content:
            sent.append(1)
        return run(worker, job, args)

    monkeypatch.setattr(compute._Worker, "run", counted)
    pool = ComputePool(2)
    try:
        with pool._worker() as first, pool._worker() as second:  # (the warm-up parsed one)
            before = {first: first.run(_misses, ()), second: second.run(_misses, ())}
        assert list(before.values()) == [1, 1]  # each process ran the warm-up's lookup
        here = ComputePool(0).answer(fetched, parse_inputs(
            {"mpan": "1405566778898", "profile_url": link, "flex_fraction": 0.25}), site,
            dt.date(2026, 11, 24), "r")
        with ThreadPoolExecutor(8) as threads:
            answers = list(threads.map(lambda i: pool.answer(fetched, parse_inputs(
                {"mpan": "1405566778898", "profile_url": link,
                 "flex_fraction": round(0.2 + i / 100, 2)}), site, dt.date(2026, 11, 24), "r"),
                range(24)))
        with pool._worker() as first, pool._worker() as second:
            assert first is not second
            assert first.run(_misses, ()) - before[first] <= 1
            assert second.run(_misses, ()) - before[second] <= 1
        assert 1 <= len(sent) <= 2
        assert answers[5].body["fields"] == here.body["fields"] | {
            k: answers[5].body["fields"][k] for k in ("time", "request_id")
            if k in here.body["fields"]}
    finally:
        pool.shutdown()
