"""Area resolution against local HTTP servers that answer like the public services.

The fake services run on 127.0.0.1 and answer like Octopus's
`/v1/industry/grid-supply-points/?postcode=` and the Carbon Intensity API's
`/regional/postcode/{district}`: a valid answer, the empty answer for an unknown postcode,
HTTP 500, and a slow answer. No test touches the internet (the `network_guard` in conftest).
"""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from bess_duos.core.area_resolver import (
    AreaCache,
    AreaLookup,
    CarbonIntensityResolver,
    NoOfflineDataError,
    OctopusResolver,
    OfflineTableResolver,
    PostcodeNotFoundError,
    ServiceUnavailableError,
    UnknownDistrictError,
    carbon_intensity_regions,
    default_cache_dir,
)
from bess_duos.core.distributors import all_distributors
from bess_duos.core.paths import config_dir
from bess_duos.core.postcodes import parse_postcode
from bess_duos.webhook import cli

# ----------------------------------------------------------------- the fake public services


@dataclass
class FakeServices:
    """What the fake services know and how they misbehave."""

    octopus: dict[str, list[str]] = field(default_factory=dict)  # compact postcode -> groups
    regions: dict[str, int] = field(default_factory=dict)  # district -> Carbon Intensity id
    mode: str = "ok"  # ok | 500 | slow | html | 400
    fail_first: int = 0  # answer HTTP 500 to this many requests first
    delay: float = 0.6
    hits: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""


def _handler(state: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: object, ctype: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            with state.lock:
                state.hits.append(self.path)
                failing = state.fail_first > 0
                state.fail_first -= 1 if failing else 0
            if failing or state.mode == "500":
                return self._send(500, {"detail": "Internal Server Error"})
            if state.mode == "slow":
                time.sleep(state.delay)
            if state.mode == "html":
                return self._send(200, "<html>maintenance</html>", "text/html")
            if url.path == "/v1/industry/grid-supply-points/":
                postcode = parse_qs(url.query).get("postcode", [""])[0]
                groups = state.octopus.get(postcode, [])
                return self._send(200, {
                    "count": len(groups), "next": None, "previous": None,
                    "results": [{"group_id": g} for g in groups],
                })
            if url.path.startswith("/regional/postcode/"):
                district = url.path.rsplit("/", 1)[1]
                if state.mode == "400":
                    return self._send(400, {"error": {"code": "400 Bad Request",
                                                      "message": "Please enter a valid postcode"}})
                if district not in state.regions:
                    return self._send(200, {"data": []})
                rid = state.regions[district]
                return self._send(200, {"data": [{
                    "regionid": rid, "dnoregion": "WPD West Midlands", "shortname": "West Midlands",
                    "postcode": district,
                    "data": [{"from": "2026-11-25T14:00Z", "to": "2026-11-25T14:30Z",
                              "intensity": {"forecast": 150, "index": "moderate"},
                              "generationmix": []}],
                }]})
            return self._send(404, {"detail": "Not found."})

    return Handler


@pytest.fixture
def services() -> Iterator[FakeServices]:
    state = FakeServices(
        octopus={"B11AA": ["_E"], "M11AE": ["_G"]},
        regions={"B1": 8, "M1": 3, "B33": 8},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _octopus(state: FakeServices, **kw: float) -> OctopusResolver:
    kw = {"timeout": 2.0, "attempts": 3, "backoff": 0.0, **kw}
    return OctopusResolver(state.base_url, **kw)


def _carbon(state: FakeServices, **kw: float) -> CarbonIntensityResolver:
    kw = {"timeout": 2.0, "attempts": 3, "backoff": 0.0, **kw}
    return CarbonIntensityResolver(state.base_url, **kw)


class Clock:
    """A settable clock for cache expiry."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _lookup(state: FakeServices, cache_dir: Path, clock: Clock | None = None, *,
            table: bool = False, **kw: float) -> AreaLookup:
    """The online path alone (the offline table switched off), unless `table`."""
    cache = AreaCache(cache_dir, max_age_days=30, clock=clock or Clock())
    return AreaLookup([_octopus(state, **kw), _carbon(state, **kw)], cache,
                      OfflineTableResolver() if table else None)


# ----------------------------------------------------------------- Octopus resolver


def test_octopus_valid_answer(services: FakeServices) -> None:
    answer = _octopus(services).resolve(parse_postcode("b1 1aa"))
    assert answer.gsp_groups == ("_E",)
    assert answer.level == "postcode"
    assert answer.source == "online:octopus"
    assert services.hits == ["/v1/industry/grid-supply-points/?postcode=B11AA"]


def test_octopus_empty_answer_for_unknown_postcode(services: FakeServices) -> None:
    with pytest.raises(PostcodeNotFoundError, match=r"no GSP group for postcode B2 4QA \(empty"):
        _octopus(services).resolve(parse_postcode("B2 4QA"))
    assert len(services.hits) == 1  # a clean "not found" is not retried


def test_octopus_500_is_retried_then_reported_unavailable(services: FakeServices) -> None:
    services.mode = "500"
    with pytest.raises(ServiceUnavailableError, match=r"unavailable .*3 time\(s\).*HTTP 500"):
        _octopus(services, attempts=3).resolve(parse_postcode("B1 1AA"))
    assert len(services.hits) == 3


def test_retries_back_off_exponentially(services: FakeServices) -> None:
    services.mode = "500"
    resolver = _octopus(services, attempts=4, backoff=0.5)
    waits: list[float] = []
    resolver.sleep = waits.append
    with pytest.raises(ServiceUnavailableError):
        resolver.resolve(parse_postcode("B1 1AA"))
    assert waits == [0.5, 1.0, 2.0]  # 0.5 s x 2^n between the 4 tries
    assert len(services.hits) == 4


def test_octopus_recovers_within_the_retry_bound(services: FakeServices) -> None:
    services.fail_first = 2
    answer = _octopus(services, attempts=3).resolve(parse_postcode("B1 1AA"))
    assert answer.gsp_groups == ("_E",)
    assert len(services.hits) == 3


def test_octopus_timeout_is_reported_unavailable(services: FakeServices) -> None:
    services.mode = "slow"
    services.delay = 0.6
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError, match=r"no answer within 0.15 s"):
        _octopus(services, timeout=0.15, attempts=2).resolve(parse_postcode("B1 1AA"))
    assert time.monotonic() - started < 1.5  # bounded: 2 tries of 0.15 s, not 2 x 0.6 s
    assert len(services.hits) == 2


def test_connection_refused_is_reported_unavailable() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resolver = OctopusResolver(f"http://127.0.0.1:{port}", attempts=2, backoff=0.0, timeout=1.0)
    with pytest.raises(ServiceUnavailableError, match=r"service down.*could not connect"):
        resolver.resolve(parse_postcode("B1 1AA"))


def test_non_json_answer_is_reported_unavailable(services: FakeServices) -> None:
    services.mode = "html"
    with pytest.raises(ServiceUnavailableError, match="not JSON"):
        _octopus(services).resolve(parse_postcode("B1 1AA"))


def test_base_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BESS_DUOS_OCTOPUS_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("BESS_DUOS_CARBONINTENSITY_URL", "http://127.0.0.1:10")
    assert OctopusResolver().base_url == "http://127.0.0.1:9"
    assert CarbonIntensityResolver().base_url == "http://127.0.0.1:10"
    assert OctopusResolver("http://127.0.0.1:11").base_url == "http://127.0.0.1:11"
    monkeypatch.delenv("BESS_DUOS_OCTOPUS_URL")
    assert OctopusResolver().base_url == "https://api.octopus.energy"


# ----------------------------------------------------------------- Carbon Intensity resolver


def test_carbon_intensity_region_maps_to_the_gsp_group(services: FakeServices) -> None:
    answer = _carbon(services).resolve(parse_postcode("B1 1AA"))
    assert answer == answer.__class__(("_E",), "district", "online:carbonintensity")
    assert services.hits == ["/regional/postcode/B1"]  # outward code only
    assert _carbon(services).resolve(parse_postcode("M1 1AE")).gsp_groups == ("_G",)


def test_carbon_intensity_unknown_or_national_region_is_not_an_area(
    services: FakeServices,
) -> None:
    with pytest.raises(PostcodeNotFoundError, match="no region for district B2"):
        _carbon(services).resolve(parse_postcode("B2 4QA"))
    services.regions["B2"] = 15  # "England": a national aggregate, not a DNO region
    with pytest.raises(PostcodeNotFoundError, match="not one of the 14 DNO regions"):
        _carbon(services).resolve(parse_postcode("B2 4QA"))
    services.mode = "400"
    with pytest.raises(PostcodeNotFoundError, match="HTTP 400"):
        _carbon(services).resolve(parse_postcode("B1 1AA"))


def test_carbon_intensity_region_table_covers_each_dno_area_once() -> None:
    regions = carbon_intensity_regions()
    assert sorted(regions) == list(range(1, 15))
    dnos = {d.gsp_group_id: d for d in all_distributors() if not d.is_idno}
    assert sorted(regions.values()) == sorted(dnos)
    path = config_dir() / "carbonintensity_regions.csv"
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    for row in rows:  # names agree with MDD 377 via config/distributors.csv
        assert dnos[row["gsp_group_id"]].gsp_group_name == row["gsp_group_name"]
    assert regions[8] == "_E" and regions[13] == "_C" and regions[1] == "_P"


# ----------------------------------------------------------------- offline table


# Shares and counts below are the committed table's (config/postcode_areas.csv), which the
# build counted from the NESO polygons; test_postcode_table.py checks them against the polygons.


def test_table_answers_first_and_the_network_is_not_asked(
    services: FakeServices, tmp_path: Path
) -> None:
    lookup = _lookup(services, tmp_path, table=True)
    result = lookup.lookup("b11ay")
    assert (result.gsp_group_id, result.source, result.level, result.key) == (
        "_E", "table:district", "district", "B1")
    assert (result.shares, result.postcodes, result.confidence) == ((1.0,), 309, "high")
    assert (result.straddles, result.uncertain) == (False, False)
    assert services.hits == [] and AreaCache(tmp_path).count() == 0


def test_split_district_is_answered_by_sector(services: FakeServices, tmp_path: Path) -> None:
    # NW2 straddles London (_C) and Eastern (_A): 67.2% / 32.8% of 1,319 postcodes, so the
    # district alone is uncertain; its sectors settle it: NW2 1 all Eastern, NW2 5 all London.
    lookup = _lookup(services, tmp_path, table=True)
    cricklewood = lookup.lookup("NW2 1AA")
    willesden = lookup.lookup("NW2 5AA")
    assert (cricklewood.gsp_group_id, cricklewood.source, cricklewood.key) == (
        "_A", "table:sector", "NW2 1")
    assert (willesden.gsp_group_id, willesden.source, willesden.key) == (
        "_C", "table:sector", "NW2 5")
    assert cricklewood.straddles and willesden.confidence == "high"
    near = lookup.lookup("NW2 2AA")  # 94.2% Eastern: answered, with the runner-up named
    assert (near.gsp_group_id, near.confidence, near.candidates, near.shares) == (
        "_A", "medium", ("_A", "_C"), (0.9419, 0.0581))
    assert services.hits == []


def test_uncertain_key_goes_online_when_a_resolver_is_configured(
    services: FakeServices, tmp_path: Path
) -> None:
    services.octopus["NW23AA"] = ["_A"]  # the sector is 89.4% London; this unit is Eastern
    result = _lookup(services, tmp_path, table=True).lookup("NW2 3AA")
    assert (result.gsp_group_id, result.source, result.confidence) == (
        "_A", "online:octopus", "high")
    assert any("offline table is uncertain: _C London 89.4% or _A Eastern 10.6% of 161 "
               "postcodes in sector NW2 3" in w for w in result.warnings)
    assert services.hits == ["/v1/industry/grid-supply-points/?postcode=NW23AA"]


def test_uncertain_key_offline_answers_uncertain_with_both_candidates(
    services: FakeServices, tmp_path: Path
) -> None:
    lookup = _lookup(services, tmp_path, table=True)
    result = lookup.lookup("RM6 5AA", online=False)  # RM6 5: 63.35% London, 36.65% Eastern
    assert (result.confidence, result.uncertain, result.source) == (
        "uncertain", True, "table:sector")
    assert (result.candidates, result.shares, result.postcodes) == (
        ("_C", "_A"), (0.6335, 0.3665), 161)
    assert result.to_dict()["shares"] == {"_C": 0.6335, "_A": 0.3665}
    assert any(w.startswith("uncertain: _C London 63.3% or _A Eastern 36.6%")  # 0.6335 in binary
               for w in result.warnings)
    no_resolver = AreaLookup([], None).lookup("RM6 5AA")  # online allowed, none configured
    assert no_resolver.uncertain and "no online service is configured" in no_resolver.warnings[0]
    assert services.hits == []


def test_uncertain_key_uses_a_cached_online_answer_offline(
    services: FakeServices, tmp_path: Path
) -> None:
    services.octopus["RM65AA"] = ["_A"]
    lookup = _lookup(services, tmp_path, table=True)
    assert lookup.lookup("RM6 5AA").source == "online:octopus"
    cached = lookup.lookup("RM6 5AA", online=False)
    assert (cached.gsp_group_id, cached.source, cached.uncertain) == ("_A", "cache", False)
    assert len(services.hits) == 1


def test_unknown_district_is_said_offline(tmp_path: Path) -> None:
    with pytest.raises(UnknownDistrictError, match="unknown district B22"):
        AreaLookup([], None).lookup("B22 1AA", online=False)
    with pytest.raises(NoOfflineDataError, match="offline table is switched off"):
        AreaLookup([], None, None).lookup("B1 1AA", online=False)


# ----------------------------------------------------------------- the lookup and its cache


def test_lookup_goes_online_then_answers_from_the_cache(
    services: FakeServices, tmp_path: Path
) -> None:
    lookup = _lookup(services, tmp_path)
    first = lookup.lookup("b11aa")
    assert (first.gsp_group_id, first.source, first.confidence) == ("_E", "online:octopus", "high")
    assert (first.distributor_id, first.distributor.short_code) == (14, "NGED-WM")
    second = lookup.lookup("B1 1AA")
    assert (second.gsp_group_id, second.source, second.origin) == ("_E", "cache", "online:octopus")
    assert not second.stale
    assert len(services.hits) == 1


def test_cache_survives_a_restart(services: FakeServices, tmp_path: Path) -> None:
    _lookup(services, tmp_path).lookup("B1 1AA")
    services.mode = "500"  # even with the service down, a new process answers from disk
    again = _lookup(services, tmp_path).lookup("B1 1AA")
    assert (again.gsp_group_id, again.source, again.stale) == ("_E", "cache", False)
    assert len(services.hits) == 1
    assert AreaCache(tmp_path).count() == 1


def test_stale_entry_is_served_with_a_warning_when_the_service_is_down(
    services: FakeServices, tmp_path: Path
) -> None:
    clock = Clock()
    _lookup(services, tmp_path, clock).lookup("B1 1AA")
    clock.now += 31 * 86400  # past the 30-day expiry
    services.mode = "500"
    result = _lookup(services, tmp_path, clock, attempts=2).lookup("B1 1AA")
    assert (result.gsp_group_id, result.source, result.stale) == ("_E", "cache", True)
    assert result.fetched_at.timestamp() == 1_800_000_000.0
    assert any("past the 30-day expiry" in w and "HTTP 500" in w for w in result.warnings)
    assert len(services.hits) == 1 + 2 + 2  # first fetch, then 2 tries at each service


def test_stale_entry_is_refreshed_when_the_service_is_back(
    services: FakeServices, tmp_path: Path
) -> None:
    clock = Clock()
    lookup = _lookup(services, tmp_path, clock)
    lookup.lookup("B1 1AA")
    clock.now += 31 * 86400
    refreshed = lookup.lookup("B1 1AA")
    assert (refreshed.source, refreshed.stale) == ("online:octopus", False)
    assert refreshed.fetched_at.timestamp() == clock.now
    assert len(services.hits) == 2
    cached = lookup.lookup("B1 1AA")  # fresh again: no third request
    assert (cached.source, cached.stale) == ("cache", False)
    assert len(services.hits) == 2


def test_down_with_nothing_cached_says_offline(services: FakeServices, tmp_path: Path) -> None:
    services.mode = "500"
    with pytest.raises(ServiceUnavailableError) as err:
        _lookup(services, tmp_path, attempts=1).lookup("B1 1AA")
    message = str(err.value)
    assert "unavailable" in message and "nothing is cached" in message
    assert "the offline table is switched off" in message


def test_unknown_postcode_everywhere_is_not_found(services: FakeServices, tmp_path: Path) -> None:
    with pytest.raises(PostcodeNotFoundError, match=r"no area for B2 4QA.*empty answer"):
        _lookup(services, tmp_path).lookup("B2 4QA")
    with pytest.raises(UnknownDistrictError, match="unknown district B22"):
        _lookup(services, tmp_path, table=True).lookup("B22 1AA")


def test_district_answer_when_octopus_has_no_postcode(
    services: FakeServices, tmp_path: Path
) -> None:
    result = _lookup(services, tmp_path).lookup("B33 8TH")  # Octopus: empty; CI: region 8
    assert (result.gsp_group_id, result.source, result.level) == (
        "_E", "online:carbonintensity", "district")
    assert result.confidence == "medium"
    assert any("district B33 only" in w for w in result.warnings)


def test_cached_district_answer_stands_in_for_the_district_service(
    services: FakeServices, tmp_path: Path
) -> None:
    lookup = _lookup(services, tmp_path)
    lookup.lookup("B33 8TH")
    again = lookup.lookup("B33 8QX")  # same district; Octopus still asked (it is per postcode)
    assert (again.gsp_group_id, again.source, again.origin, again.level) == (
        "_E", "cache", "online:carbonintensity", "district")
    assert services.hits == [
        "/v1/industry/grid-supply-points/?postcode=B338TH",
        "/regional/postcode/B33",
        "/v1/industry/grid-supply-points/?postcode=B338QX",
    ]


def test_second_source_when_octopus_is_down(services: FakeServices, tmp_path: Path) -> None:
    services.fail_first = 2  # both Octopus tries fail; the Carbon Intensity API answers
    result = _lookup(services, tmp_path, attempts=2).lookup("M1 1AE")
    assert (result.gsp_group_id, result.source) == ("_G", "online:carbonintensity")
    assert any("Octopus" in w and "unavailable" in w for w in result.warnings)


def test_offline_switch_uses_only_cache_and_table(services: FakeServices, tmp_path: Path) -> None:
    lookup = _lookup(services, tmp_path)
    with pytest.raises(NoOfflineDataError, match=r"switched off; the offline table is switched"):
        lookup.lookup("B1 1AA", online=False)
    assert services.hits == []
    lookup.lookup("B1 1AA")
    assert lookup.lookup("B1 1AA", online=False).source == "cache"


def test_straddling_district_lowers_confidence(services: FakeServices, tmp_path: Path) -> None:
    # The fake service splits district SY14 between two areas, as a real boundary district is.
    services.octopus.update({"SY147AA": ["_D"], "SY148AA": ["_G"], "SY149AA": ["_D", "_G"]})
    services.regions["SY14"] = 6
    lookup = _lookup(services, tmp_path)
    first = lookup.lookup("SY14 7AA")
    assert (first.confidence, first.straddles) == ("high", False)
    second = lookup.lookup("SY14 8AA")
    assert (second.gsp_group_id, second.confidence, second.straddles) == ("_G", "high", True)
    assert any("straddles GSP groups _D, _G" in w for w in second.warnings)
    both = lookup.lookup("SY14 9AA")
    assert (both.candidates, both.confidence) == (("_D", "_G"), "low")
    district_only = lookup.lookup("SY14 1AA")  # Octopus: empty; CI: the district's region
    assert (district_only.level, district_only.confidence) == ("district", "low")


def test_cache_dir_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BESS_DUOS_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    cache = AreaCache()
    assert cache.path == tmp_path / "c" / "postcode_areas.sqlite3" and cache.path.is_file()
    monkeypatch.delenv("BESS_DUOS_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "bess-duos"


def test_unusable_cache_folder_disables_the_cache_not_the_lookup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, services: FakeServices
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BESS_DUOS_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(OSError, match="BESS_DUOS_CACHE_DIR"):
        AreaCache()
    lookup = AreaLookup([_octopus(services)], offline=None)
    assert lookup.cache is None
    assert lookup.lookup("B1 1AA").source == "online:octopus"


# ----------------------------------------------------------------- the CLI


def run_cli(*argv: str) -> int:
    """`bess-duos postcode ...` through the real dispatcher (its errors handled by `main`)."""
    return cli.main(["postcode", *argv])


@pytest.fixture
def cli_env(services: FakeServices, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("BESS_DUOS_OCTOPUS_URL", services.base_url)
    monkeypatch.setenv("BESS_DUOS_CARBONINTENSITY_URL", services.base_url)
    monkeypatch.setenv("BESS_DUOS_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_cli_lookup_prints_postcode_area_dno_and_source(
    cli_env: Path, services: FakeServices, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("lookup", "b11aa") == 0
    out = capsys.readouterr().out
    assert "postcode    B1 1AA" in out
    assert "area        _E Midlands" in out and "GSP group   _E\n" in out
    assert "DNO         14 National Grid Electricity Distribution (West Midlands) plc" in out
    assert "NGED-WM" in out
    assert "decided by  table district B1: 100.0% of 309 postcodes" in out
    assert run_cli("lookup", "NW2 2AA", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["postcode"], data["gsp_group_id"], data["distributor_id"], data["source"]) == (
        "NW2 2AA", "_A", 10, "table:sector")
    assert (data["shares"], data["uncertain"], data["table_key"]) == (
        {"_A": 0.9419, "_C": 0.0581}, False, "NW2 2")
    assert run_cli("lookup", "NW2 2AA", "--csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["postcode"], r["gsp_group_id"], r["distributor_id"]) for r in rows] == [
        ("NW2 2AA", "_A", "10")]
    services.octopus["NW23AA"] = ["_A"]
    assert run_cli("lookup", "NW2 3AA") == 0  # uncertain in the table: settled online
    out = capsys.readouterr().out
    assert "area        _A Eastern" in out and "decided by  online:octopus at " in out
    assert services.hits == ["/v1/industry/grid-supply-points/?postcode=NW23AA"]


def test_cli_lookup_uncertain_offline_names_both_areas(
    cli_env: Path, services: FakeServices, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("lookup", "RM6 5AA", "--offline") == 0
    out = capsys.readouterr().out
    assert ("area        uncertain: _C London 63.3% or _A Eastern 36.6% of 161 postcodes in "
            "sector RM6 5") in out
    assert "decided by  table sector RM6 5: 63.3% of 161 postcodes (runner-up _A 36.6%)" in out
    assert services.hits == []


def test_cli_lookup_file_answers_every_row(
    cli_env: Path, services: FakeServices, capsys: pytest.CaptureFixture[str]
) -> None:
    source = cli_env / "sites.csv"
    source.write_text("site,Postcode\n1,b11ay\n2,NW2 1AA\n3,RM6 5AA\n4,BT1 1AA\n5,B22 1AA\n"
                      "6,nw2 5aa\n")
    out = cli_env / "areas.csv"
    assert run_cli("lookup", "--file", str(source), "--offline", "--output", str(out)) == 0
    assert "6 postcodes: 3 ok, 1 uncertain, 1 invalid, 1 unknown_district" in (
        capsys.readouterr().err)
    rows = list(csv.DictReader(out.open()))
    got = [(r["postcode"], r["status"], r["gsp_group_id"], r["distributor_id"], r["decided_by"],
            r["share"]) for r in rows]
    assert got == [
        ("B1 1AY", "ok", "_E", "14", "table:district", "1"),
        ("NW2 1AA", "ok", "_A", "10", "table:sector", "1"),
        ("RM6 5AA", "uncertain", "_C", "12", "table:sector", "0.6335"),
        ("BT1 1AA", "invalid", "", "", "", ""),
        ("B22 1AA", "unknown_district", "", "", "", ""),
        ("NW2 5AA", "ok", "_C", "12", "table:sector", "1"),
    ]
    assert rows[2]["runner_up"] == "_A" and "Northern Ireland" in rows[3]["message"]
    assert services.hits == []
    services.octopus["RM65AA"] = ["_A"]  # online allowed: only the uncertain row is asked
    assert run_cli("lookup", "--file", str(source), "--output", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert (rows[2]["status"], rows[2]["gsp_group_id"], rows[2]["decided_by"]) == (
        "ok", "_A", "online:octopus")
    assert services.hits == ["/v1/industry/grid-supply-points/?postcode=RM65AA",
                             "/v1/industry/grid-supply-points/?postcode=B221AA",
                             "/regional/postcode/B22"]  # an unknown district is asked too


def test_postcode_lookup_is_a_bess_duos_command(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["postcode", "lookup", "M1 1AE", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dno_short_code"] == "ENWL"


def test_cli_lookup_errors(
    cli_env: Path, services: FakeServices, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("lookup", "BT1 1AA") == 2
    assert "Northern Ireland" in capsys.readouterr().err
    services.mode = "500"
    assert run_cli("lookup", "M1 1AE", "--json", "--attempts", "1") == 0  # the table: no network
    assert json.loads(capsys.readouterr().out)["source"] == "table:district"
    assert services.hits == []
    # an uncertain postcode with the services down: the table's uncertain answer, said so
    assert run_cli("lookup", "NW2 3AA", "--json", "--attempts", "1") == 0
    assert json.loads(capsys.readouterr().out)["uncertain"] is True
    assert run_cli("lookup", "B22 1AA", "--offline", "--json") == 3
    assert json.loads(capsys.readouterr().out)["error"] == "unknown_district"
    blocked = cli_env / "a-file"
    blocked.write_text("not a folder")
    assert run_cli("lookup", "B1 1AA", "--cache-dir", str(blocked / "cache")) == 4
    err = capsys.readouterr().err
    assert "cannot create the area cache folder" in err and "--no-cache" in err


def test_cli_timeout_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["postcode", "lookup", "B1 1AA", "--timeout", "-1"]) == 2  # usage error
    assert "--timeout: '-1' is not a number of seconds above 0" in capsys.readouterr().err
