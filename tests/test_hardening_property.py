"""Issue 13 acceptance: random JSON bodies, headers and small profile files posted to every
endpoint of the real app (create_app with a test secret, the werkzeug test client; profile links
fetched for real from a loopback server) never get a 5xx, nor an answer slower than 2 s."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bess_duos.core.area_resolver import AreaLookup
from bess_duos.core.lookup import INPUT_FIELDS
from bess_duos.webhook.app import create_app
from bess_duos.webhook.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from bess_duos.webhook.profile_links import FetchPolicy
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.loopback import FileServer

SECRET = "property-test-secret-0123456789abcdefghij"
SLOWEST_SECONDS = 2.0
CONTROL_FIELDS = ("spreadsheet_id", "worksheet", "write")
GETS = ("/health", "/ready", "/dnos", "/openapi.json")
POSTS = ("/lookup", "/mpan/validate")
MPANS = ["1405566778898", "1405566778899", "00 845 121 1405566778898", "2412345678901",
         "S 00 845 121 14 0556 6778 898", "1.40557E+12", "99 1234 5678 901"]
POSTCODES = ["B1 1AA", "SW1A 1AA", "EH1 1YZ", "ZZ9 9ZZ", "b11aa"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def app(files: FileServer) -> Flask:
    return create_app({
        "WEBHOOK_SECRET": SECRET,
        "FETCH_POLICY": FetchPolicy(allow_loopback_ports=frozenset({files.port}),
                                    total_seconds=1.5),
        "SHEET_FACTORY": lambda sid, tab: None,  # write:true targets no sheet back end here
        "AREA_LOOKUP": functools.partial(AreaLookup().lookup, online=False),
        "LOOKUP_DATE": dt.date(2026, 11, 24),
    })


# --- strategies ---------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
numbers = st.one_of(st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=8)


def field_value(name: str) -> st.SearchStrategy[Any]:
    typical: dict[str, st.SearchStrategy[Any]] = {
        "mpan": st.sampled_from(MPANS),
        "postcode": st.sampled_from(POSTCODES),
        "voltage": st.sampled_from(["LV", "HV", "LV Sub", "EHV", "hv", "11kV"]),
        "kva": st.sampled_from([500, "500 kVA", "1,000", 0, -5, "lots"]),
        "flex_fraction": st.sampled_from(["30%", 0.3, 30, "150%", "x"]),
        "gsp_group": st.sampled_from(["_E", "E", "e", "_Z"]),
        "write": st.sampled_from([False, True, "no"]),
    }
    if name not in typical:
        return json_values
    return st.integers(0, 3).flatmap(lambda n: typical[name] if n else json_values)


timestamps = st.datetimes(min_value=dt.datetime(1899, 12, 25), max_value=dt.datetime(2200, 1, 5))
stamp_formats = st.sampled_from(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M",
                                 "%Y-%m-%dT%H:%M:%S+01:00", "%Y-%m-%d"])
cells = st.one_of(numbers.map(str), text.filter(lambda t: "\n" not in t and "," not in t))


@st.composite
def csv_profiles(draw: st.DrawFn) -> bytes:
    """Small CSVs shaped like profiles (often valid, often not)."""
    usual = draw(st.booleans())  # half the time a plausible long profile
    columns = ["timestamp", "kwh"] if usual else draw(st.lists(st.sampled_from(
        ["timestamp", "kwh", "kw", "kvarh", "date", "time", "HH01", "00:30", "value", "x"]),
        min_size=1, max_size=4, unique=True))
    fmt = "%Y-%m-%dT%H:%M:%SZ" if usual else draw(stamp_formats)
    start = draw(timestamps)
    if usual:  # on the half hour, in the years a profile may have
        start = start.replace(year=min(max(start.year, 1901), 2198), day=min(start.day, 28),
                              minute=start.minute // 30 * 30,
                              second=0, microsecond=0)
    step = draw(st.sampled_from([30, 30, 30, 15, 60, 1440, 7]))
    rows = draw(st.integers(0, 120))
    lines = [",".join(columns)]
    for i in range(rows):
        values = []
        for column in columns:
            if column in ("timestamp", "date", "time"):
                try:
                    values.append((start + dt.timedelta(minutes=step * i)).strftime(fmt))
                except OverflowError:
                    values.append("")
            else:
                values.append(draw(cells) if draw(st.integers(0, 20)) == 10 else f"{i % 7}.5")
        lines.append(",".join(values))
    return "\n".join(lines).encode()


profile_files = st.one_of(
    csv_profiles(),
    st.binary(max_size=3000),
    st.binary(max_size=2000).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=2000).map(lambda b: b"PAR1" + b),
    st.binary(max_size=2000).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),
)


@st.composite
def lookup_bodies(draw: st.DrawFn, link: str) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from([*INPUT_FIELDS, *CONTROL_FIELDS, "extra"]),
                          max_size=6, unique=True))
    body = {name: draw(field_value(name)) for name in names if name != "profile_url"}
    if draw(st.integers(0, 3)):
        body.setdefault("mpan", draw(st.sampled_from(MPANS)))
        body["profile_url"] = link
    return body


header_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                        max_size=30)


# --- the property -------------------------------------------------------------------------

def _stamps() -> Iterator[int]:
    """Hypothesis repeats bodies: each is signed a second before the last, from the first
    request on (within the signature window), so a repeat is seldom refused as a replay."""
    base = int(time.time())
    for i in itertools.count():
        yield base - i % 250


STAMPS = _stamps()
PATHS = itertools.count()  # a fresh link per example: the body differs, no replay


def answer(app: Flask, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Any:
    client = app.test_client()
    began = time.perf_counter()
    response = client.open(path, method=method, data=raw, headers=headers)
    took = time.perf_counter() - began
    assert response.status_code < 500, (path, raw[:300], headers, response.get_data()[:500])
    assert took < SLOWEST_SECONDS, (path, raw[:300], took)
    return response


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_requests_never_get_a_5xx_or_a_slow_answer(app: Flask, files: FileServer,
                                                          data: st.DataObject) -> None:
    method, path = data.draw(st.sampled_from([*(("GET", p) for p in GETS),
                                              *(("POST", p) for p in POSTS),
                                              *[("POST", "/lookup")] * 6]))
    content = data.draw(profile_files)
    name = f"/{next(PATHS)}/" + data.draw(st.sampled_from(["p.csv", "p.xlsx", "p.parquet", "p"]))
    files.serve_bytes(name, content, data.draw(st.sampled_from(["text/csv", XLSX])))
    if path == "/lookup":
        payload: Any = data.draw(lookup_bodies(files.url(name)))
    elif path == "/mpan/validate":
        payload = data.draw(st.one_of(st.fixed_dictionaries({"mpan": field_value("mpan")}),
                                      json_values))
    else:
        payload = None
    raw = b"" if payload is None else json.dumps(payload).encode()
    if data.draw(st.integers(0, 9)) == 5:
        raw = data.draw(st.binary(max_size=200))  # not JSON at all
    # (hypothesis favours the ends of a range: "rarely" is a value in the middle)
    headers = signed_headers(SECRET, raw, timestamp=next(STAMPS), path=path) if data.draw(
        st.integers(0, 9)) != 5 else {}
    for header in (TIMESTAMP_HEADER, SIGNATURE_HEADER, "X-Request-Id", "Content-Type"):
        if data.draw(st.integers(0, 11)) == 6:
            headers[header] = data.draw(header_values)
    headers.setdefault("Content-Type", "application/json")
    response = answer(app, method, path, raw, headers)
    event(f"{path} {response.status_code}")


def test_every_endpoint_answers_an_empty_and_a_huge_body_with_4xx(app: Flask) -> None:
    for path in POSTS:
        assert answer(app, "POST", path, b"", {}).status_code == 401
        big = b"{" + b'"a":1,' * 20_000 + b'"b":2}'
        assert answer(app, "POST", path, big,
                      signed_headers(SECRET, big, path=path)).status_code == 413
    for path in GETS:
        assert answer(app, "GET", path, b"", {}).status_code in (200, 503)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(content=profile_files, name=st.sampled_from(["p.csv", "p.xlsx", "p"]),
       content_type=st.sampled_from(["text/csv", XLSX, "application/octet-stream"]))
def test_random_profile_files_are_200_or_422(app: Flask, files: FileServer, content: bytes,
                                             name: str, content_type: str) -> None:
    path = f"/{next(PATHS)}/{name}"
    files.serve_bytes(path, content, content_type)
    raw = json.dumps({"mpan": MPANS[0], "profile_url": files.url(path), "write": False}).encode()
    response = answer(app, "POST", "/lookup", raw, signed_headers(SECRET, raw))
    assert response.status_code in (200, 422), response.get_data()[:500]
    event(str(response.status_code))
