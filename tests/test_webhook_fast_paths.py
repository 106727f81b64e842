"""The webhook's faster paths against the computations they replace (issue 18), on seeded random
inputs: the one-pass `json_safe`, the weekday load shape, the answer built where the lookup
runs, and the one watchdog thread that keeps every fetch's deadline."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import math
import socket
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from bess_duos.core.bands import uk_clock
from bess_duos.core.load_shape import SLOTS, average_weekday_kw
from bess_duos.core.lookup import JsonNumber, decide_area, parse_inputs, run_lookup
from bess_duos.core.paths import config_dir
from bess_duos.core.plain import json_safe
from bess_duos.core.synthetic import generate_profile
from bess_duos.webhook.compute import answer_job, answer_of, encoded, lookup_job
from bess_duos.webhook.layout import default_layout, layout_from_dict, result_fields, result_json
from bess_duos.webhook.profile_links import FetchedProfile, _Deadline

DAY = dt.date(2026, 11, 24)


# --- json_safe ----------------------------------------------------------------------------


def reference_json_safe(value: Any) -> Any:
    """The recursive version `json_safe` replaced: one call per value."""
    if isinstance(value, dict):
        return {str(k): reference_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reference_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _random_value(rng: np.random.Generator, depth: int = 0) -> Any:
    leaves = [
        lambda: float(rng.normal()), lambda: float("nan"), lambda: -float("inf"),
        lambda: int(rng.integers(-5, 5)), lambda: bool(rng.integers(2)), lambda: None,
        lambda: "text–é", lambda: np.float64(rng.normal()), lambda: np.float64("nan"),
        lambda: np.int64(rng.integers(100)), lambda: np.bool_(True), lambda: np.float32(0.5),
        lambda: JsonNumber("1.50"), lambda: JsonNumber("1e999"),
    ]
    if depth >= 3 or rng.random() < 0.4:
        return leaves[int(rng.integers(len(leaves)))]()
    kind = int(rng.integers(3))
    items = [_random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 5)))]
    if kind == 0:
        keys = ["a", 1, 2.5, None, True, "b"]
        return {keys[i % len(keys)] if i < len(keys) else f"k{i}": v for i, v in enumerate(items)}
    return items if kind == 1 else tuple(items)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not True, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_json_safe_equals_the_recursive_version_on_random_values() -> None:
    rng = np.random.default_rng(18)
    for _ in range(500):
        value = _random_value(rng)
        assert _same(json_safe(value), reference_json_safe(value)), value


# --- the weekday load shape ---------------------------------------------------------------


def reference_average_weekday_kw(kwh: pd.Series) -> list[float | None]:
    """The version the bincount-with-zeros one replaced: the kept half hours picked out first."""
    clock = uk_clock(pd.DatetimeIndex(kwh.index))
    kw = kwh.to_numpy(dtype=float) * 2.0
    keep = ~clock.weekend & np.isfinite(kw)
    slots = clock.slot[keep]
    sums = np.bincount(slots, weights=kw[keep], minlength=SLOTS)
    counts = np.bincount(slots, minlength=SLOTS)
    means = np.divide(sums, counts, out=np.full(SLOTS, np.nan), where=counts > 0)
    return [None if np.isnan(v) else round(float(v), 3) for v in means]


def test_average_weekday_kw_equals_the_reference_on_random_profiles() -> None:
    rng = np.random.default_rng(5)
    for trial in range(60):
        start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(
            minutes=30 * int(rng.integers(0, 2 * 365 * 48)))
        n = int(rng.integers(1, 3 * 48)) if trial % 3 == 0 else int(rng.integers(48, 400 * 48))
        index = pd.date_range(start, periods=n, freq="30min")
        if trial % 4 == 1:  # gaps: not a regular grid
            index = index[np.sort(rng.choice(n, size=max(1, n // 2), replace=False))]
        values = rng.gamma(2.0, 3.0, size=len(index)) * rng.choice([1.0, 1e-3, 1e3])
        values[rng.random(len(index)) < 0.05] = np.nan
        if trial % 5 == 2:
            values[rng.random(len(index)) < 0.01] = np.inf
        series = pd.Series(values, index=index)
        got, want = average_weekday_kw(series), reference_average_weekday_kw(series)
        assert got == want
        assert [type(v) for v in got] == [type(v) for v in want]


# --- the answer built where the lookup runs -----------------------------------------------


def _timeless(body: dict[str, Any]) -> dict[str, Any]:
    """A body without its time stamps (the body's and its sheet fields')."""
    out = {k: v for k, v in body.items() if k != "time"}
    if isinstance(out.get("fields"), dict):
        out["fields"] = {k: v for k, v in out["fields"].items() if k != "time"}
    return out


def _taller_layout() -> Any:
    raw = yaml.safe_load((config_dir() / "sheet_layout.yaml").read_text())
    taller = copy.deepcopy(raw)
    block = next(b for b in taller["outputs"] if b["range"] == "B10:D13")
    block["range"] = "B10:D14"
    block["fields"] = [[f"{band}_period_{i}" for band in ("red", "amber", "green")]
                       for i in range(1, 6)]
    for col in "BCD":
        taller["labels"].pop(f"{col}14", None)
    return layout_from_dict(taller)


def test_a_lookup_s_answer_is_the_bytes_jsonify_sends() -> None:
    """`responses.lookup_answer` (the encoded body with `written` added) against Flask's
    `jsonify` of the body with `written` in it, byte for byte, for each kind of `written`."""
    from bess_duos.webhook.app import create_app
    from bess_duos.webhook.responses import lookup_answer
    from flask import jsonify

    content = generate_profile("office", 120_000, start="2025-04-01", seed=3).rename_axis(
        "timestamp").rename("kwh").to_frame().to_csv(date_format="%Y-%m-%dT%H:%M:%SZ").encode()
    link = "https://files.example/site.csv"
    inputs = parse_inputs({"mpan": "1405566778898", "profile_url": link})
    result = lookup_job(FetchedProfile(link, "https", content, "text/csv", link), inputs,
                        decide_area(inputs), DAY, "req-1")
    body = json_safe(result_json(result))
    app = create_app({"WEBHOOK_SECRET": "s" * 32, "COMPUTE_PROCESSES": 0})
    with app.app_context():
        for written in (None, {"cells": 57, "range": "'BESS'!B2:H40", "ok": True},
                        {"dropped": "older", "note": "é \u2603 \"quoted\"", "x": [1.5, None]}):
            ours, code = lookup_answer(encoded(body), written)
            assert code == 200 and ours.mimetype == "application/json"
            assert ours.get_data() == jsonify({**body, "written": written}).get_data()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_answer_equals_the_route_s_former_json_and_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    series = generate_profile("office", float(rng.integers(50_000, 400_000)),
                              start="2025-04-01", seed=seed)
    series.iloc[rng.integers(0, len(series), 20)] = np.nan
    content = series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        date_format="%Y-%m-%dT%H:%M:%SZ").encode()
    link = "https://files.example/site.csv"
    fetched = FetchedProfile(link, "https", content, "text/csv", link)
    inputs = parse_inputs({"mpan": "1405566778898", "profile_url": link,
                           "flex_fraction": round(float(rng.uniform(0.05, 0.9)), 3),
                           "kva": int(rng.integers(50, 900))})
    site = decide_area(inputs)
    result = lookup_job(fetched, inputs, site, DAY, "req-1")
    taller = _taller_layout()
    for layout in (None, default_layout(), taller):
        answer = answer_of(result, layout)
        want = json_safe(result_json(result))
        assert answer.body_json == encoded(want)  # the same result: the same time stamp
        assert answer.body == want
        cells = result_fields(result, layout or default_layout())
        assert answer.sheet_fields == cells  # the same result: the same time stamp
        assert answer.status == result.status and answer.warnings == len(result.warnings)
        assert answer.distributor_id == 14 and answer.masked_mpan == inputs.mpan.masked()
    assert "green_period_5" in answer_of(result, taller).sheet_fields
    assert "green_period_5" not in answer_of(result).sheet_fields
    again = answer_job(fetched, inputs, site, DAY, "req-1", taller)
    assert {k: v for k, v in again.sheet_fields.items() if k != "time"} == \
        {k: v for k, v in answer_of(result, taller).sheet_fields.items() if k != "time"}


def test_the_answer_without_a_profile_matches_run_lookup() -> None:
    inputs = parse_inputs({"mpan": "1405566778898", "kva": 300})
    site = decide_area(inputs)
    answer = answer_job(None, inputs, site, DAY, "r")
    result = run_lookup(inputs, on=DAY, site=site, request_id="r")
    assert answer.body["fields"]["annual_duos_gbp"] is None
    assert _timeless(answer.body) == _timeless(json_safe(result_json(result)))


# --- the deadline watchdog ----------------------------------------------------------------


def _shut(sock: socket.socket) -> bool:
    """True when the peer of `sock` was shut down (a read returns end of file at once)."""
    sock.settimeout(0.0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False


def test_deadlines_expire_in_time_order_and_cancelled_ones_never_do() -> None:
    rng = np.random.default_rng(3)
    seconds = [float(s) for s in rng.uniform(0.1, 0.6, 12)]
    seconds.insert(0, 5.0)  # a late deadline first: the earlier ones must not wait for it
    pairs = [socket.socketpair() for _ in seconds]
    deadlines = []
    try:
        for s, (watched, _peer) in zip(seconds, pairs, strict=True):
            deadline = _Deadline(s)
            deadline.watch(watched)
            deadlines.append(deadline)
        cancelled = {1, 4, 7}
        for i in cancelled:
            deadlines[i].cancel()
        time.sleep(max(seconds[1:]) + 0.5)
        for i, deadline in enumerate(deadlines):
            if i == 0:
                assert not deadline.passed() and not _shut(pairs[i][1])
            elif i in cancelled:
                assert not deadline.expired and not _shut(pairs[i][1])
            else:
                assert deadline.expired and _shut(pairs[i][1])
        deadlines[0].cancel()
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_socket_watched_after_expiry_is_shut_at_once() -> None:
    deadline = _Deadline(0.05)
    time.sleep(0.4)
    a, b = socket.socketpair()
    try:
        assert deadline.expired
        deadline.watch(a)
        assert _shut(b)
    finally:
        a.close()
        b.close()


# --- a worker is sent a profile's digest first --------------------------------------------


def _fetched(seed: int) -> FetchedProfile:
    series = generate_profile("office", 120_000, start="2025-04-01", seed=seed)
    content = series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        date_format="%Y-%m-%dT%H:%M:%SZ").encode()
    link = f"https://files.example/site-{seed}.csv"
    return FetchedProfile(link, "https", content, "text/csv", link)


def test_the_profile_cache_answers_by_digest_only_what_it_has_parsed() -> None:
    from bess_duos.core.profile_loader import ProfileCache

    cache = ProfileCache(size=2)
    content = _fetched(7).content
    digest = ProfileCache.digest(content)
    assert digest == hashlib.sha256(content).hexdigest()
    assert cache.cached(digest, name="a.csv") is None
    assert (cache.hits, cache.misses) == (0, 0)  # a look without parsing is no miss
    parsed = cache.get(content, name="a.csv", digest=digest)
    assert cache.cached(digest, name="a.csv") is parsed
    assert cache.cached(digest, name="b.csv") is None  # the name is in the quality report
    assert cache.get(content, name="a.csv") is parsed  # the same key, hashed here
    assert (cache.hits, cache.misses) == (2, 1)


def test_a_worker_answers_from_the_digest_or_asks_for_the_bytes() -> None:
    from bess_duos.core.profile_loader import PROFILE_CACHE, ProfileCache

    fetched = _fetched(11)
    digest = ProfileCache.digest(fetched.content)
    inputs = parse_inputs({"mpan": "1405566778898", "profile_url": fetched.link,
                           "flex_fraction": 0.4})
    site = decide_area(inputs)
    bare = dataclasses.replace(fetched, content=b"")
    PROFILE_CACHE.clear()
    assert answer_job(bare, inputs, site, DAY, "r", None, digest) is None
    full = answer_job(fetched, inputs, site, DAY, "r", None, digest)
    again = answer_job(bare, inputs, site, DAY, "r", None, digest)
    alone = answer_job(fetched, inputs, site, DAY, "r")
    assert full is not None and again is not None and alone is not None
    for answer in (again, alone):
        assert _timeless(answer.body) == _timeless(full.body)
    assert PROFILE_CACHE.misses == 1  # parsed once: the digest was not worked out again


def test_a_pool_gives_the_same_answer_as_the_request_thread(monkeypatch: Any) -> None:
    """Bit for bit, both running one BLAS thread as `serve` sets up (its variables reach the
    spawned process): a dot product's rounding depends on how many threads share it, and an
    earlier test may have left this process at one."""
    from bess_duos.webhook.cli.site import BLAS_THREAD_VARIABLES
    from bess_duos.webhook.compute import DIGEST_FIRST_BYTES, ComputePool
    from threadpoolctl import threadpool_limits

    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.setenv(name, "1")
    fetched = _fetched(13)
    assert len(fetched.content) > DIGEST_FIRST_BYTES
    inputs = parse_inputs({"mpan": "1405566778898", "profile_url": fetched.link, "kva": 400})
    site = decide_area(inputs)
    with threadpool_limits(1):
        here = ComputePool(0).answer(fetched, inputs, site, DAY, "r")
    pool = ComputePool(1)
    try:
        first = pool.answer(fetched, inputs, site, DAY, "r")  # the worker has not parsed it
        second = pool.answer(fetched, inputs, site, DAY, "r")  # now it has: the digest only
    finally:
        pool.shutdown()
    for there in (first, second):
        assert _timeless(there.body) == _timeless(here.body)
        assert there.sheet_fields.keys() == here.sheet_fields.keys()
