"""The parsed-profile cache (`core.profile_loader.ProfileCache`): same bytes parse once,
changed bytes are parsed again, the link is fetched on every lookup, errors are not cached."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bess_duos.core.lookup import parse_inputs, read_profile, run_lookup
from bess_duos.core.profile_loader import PROFILE_CACHE, ProfileCache
from bess_duos.core.profiles import ProfileError
from bess_duos.core.synthetic import generate_profile
from bess_duos.webhook.app import create_app
from bess_duos.webhook.auth import signed_headers
from bess_duos.webhook.layout import result_fields
from bess_duos.webhook.profile_links import FetchedProfile, profile_of

SECRET = "cache-test-secret-0123456789abcdef"
MPAN = "1405566778898"  # NGED West Midlands, valid check digit
DAY = dt.date(2026, 11, 24)
LINK = "https://example.invalid/site.csv"


def profile_csv(kwh_per_year: float, seed: int = 0) -> bytes:
    series = generate_profile("office", kwh_per_year, start="2025-06-02", end="2025-06-16",
                              seed=seed)
    frame = series.rename_axis("timestamp").rename("kwh").to_frame()
    return frame.to_csv(date_format="%Y-%m-%dT%H:%M:%SZ").encode()


def fetched(content: bytes) -> FetchedProfile:
    return FetchedProfile(LINK, "https", content, "text/csv", LINK)


def direct(content: bytes, tmp_path: Path) -> object:
    """The same profile read straight from a file, without the cache."""
    path = tmp_path / "profile.csv"  # the name the webhook gives fetched bytes
    path.write_bytes(content)
    return read_profile(path)


def test_same_bytes_parse_once_and_give_the_same_profile(tmp_path: Path) -> None:
    cache = ProfileCache(size=4)
    content = profile_csv(100_000)
    first = cache.get(content, name="profile.csv")
    second = cache.get(bytes(content), name="profile.csv")  # equal bytes, another object
    assert second is first
    assert (cache.hits, cache.misses) == (1, 1)
    expected = direct(content, tmp_path)
    assert first.data.equals(expected.data)
    assert first.quality.to_dict() == expected.quality.to_dict()


def test_changed_bytes_give_the_new_profile(tmp_path: Path) -> None:
    cache = ProfileCache(size=4)
    old = cache.get(profile_csv(100_000), name="profile.csv")
    changed = profile_csv(250_000)
    new = cache.get(changed, name="profile.csv")
    assert new is not old and cache.misses == 2
    assert new.data.equals(direct(changed, tmp_path).data)
    assert new.data["kwh"].sum() == pytest.approx(old.data["kwh"].sum() * 2.5, rel=1e-9)


def test_least_recently_used_profile_is_dropped() -> None:
    cache = ProfileCache(size=2)
    a, b, c = (profile_csv(100_000, seed) for seed in (1, 2, 3))
    cache.get(a, name="profile.csv")
    cache.get(b, name="profile.csv")
    cache.get(a, name="profile.csv")  # a is now the most recently used
    cache.get(c, name="profile.csv")  # drops b
    assert (cache.hits, cache.misses) == (1, 3)
    cache.get(a, name="profile.csv")
    assert cache.hits == 2
    cache.get(b, name="profile.csv")  # parsed again
    assert cache.misses == 4


def test_a_bad_file_is_not_cached() -> None:
    cache = ProfileCache(size=2)
    bad = b"timestamp,kwh\n2025-06-02T00:00:00Z,abc\n2025-06-02T00:30:00Z,1\n"
    for _ in range(2):
        with pytest.raises(ProfileError, match="not a number"):
            cache.get(bad, name="profile.csv")
    assert (cache.hits, cache.misses) == (0, 0)


@dataclass
class ChangingFile:
    """A fetcher whose file can be replaced between lookups; counts the fetches."""

    content: bytes
    fetches: list[str] = field(default_factory=list)

    def fetch(self, link: str, **_kwargs: object) -> FetchedProfile:
        self.fetches.append(link)
        return fetched(self.content)


def test_webhook_fetches_every_time_and_sees_a_changed_file(tmp_path: Path) -> None:
    PROFILE_CACHE.clear()
    source = ChangingFile(profile_csv(100_000))
    app = create_app({"WEBHOOK_SECRET": SECRET, "PROFILE_FETCHER": source, "LOOKUP_DATE": DAY,
                      "WORKBOOK_PATH": str(tmp_path / "bess_sheet.xlsx")})
    client = app.test_client()

    def lookup(flex: float) -> dict:
        body = json.dumps({"mpan": MPAN, "profile_url": LINK, "kva": 200,
                           "flex_fraction": flex, "write": False}).encode()
        response = client.post("/lookup", data=body, headers=signed_headers(SECRET, body),
                               content_type="application/json")
        assert response.status_code == 200, response.json
        return response.json

    def expected(content: bytes, flex: float) -> dict:
        inputs = parse_inputs({"mpan": MPAN, "profile_url": LINK, "kva": 200,
                               "flex_fraction": flex})
        result = run_lookup(inputs, profile=direct(content, tmp_path), on=DAY)
        return result_fields(result)

    first = lookup(0.3)
    again = lookup(0.2)  # an input edit in the sheet: same link, same file
    assert PROFILE_CACHE.hits == 1 and PROFILE_CACHE.misses == 1
    skip = {"time", "request_id"}
    for got, flex in ((first, 0.3), (again, 0.2)):
        want = expected(source.content, flex)
        assert {k: v for k, v in got["fields"].items() if k not in skip} == {
            k: v for k, v in want.items() if k not in skip}

    source.content = profile_csv(300_000)  # the file behind the link is replaced
    changed = lookup(0.25)
    assert len(source.fetches) == 3  # fetched on every lookup
    assert PROFILE_CACHE.misses == 2
    want = expected(source.content, 0.25)
    assert changed["fields"]["annual_duos_gbp"] == want["annual_duos_gbp"]
    assert changed["fields"]["annual_duos_gbp"] != again["fields"]["annual_duos_gbp"]
    assert changed["fields"]["flex_value_gbp_per_year"] == want["flex_value_gbp_per_year"]
    assert changed["duos"]["total_kwh"] == pytest.approx(again["duos"]["total_kwh"] * 3)


def test_profile_of_uses_the_shared_cache() -> None:
    PROFILE_CACHE.clear()
    content = profile_csv(120_000, seed=9)
    assert profile_of(fetched(content)) is profile_of(fetched(content))
    assert PROFILE_CACHE.hits == 1


def test_lookup_remembers_features_by_the_profile_data(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    import bess_duos.core.features as core_features
    import bess_duos.core.valuation as core_valuation

    core_valuation.clear_memos()
    calls: list[int] = []
    real = core_features.profile_features

    def counted(series: object, *args: object) -> object:
        calls.append(1)
        return real(series, *args)

    monkeypatch.setattr(core_features, "profile_features", counted)
    profile = direct(profile_csv(100_000), tmp_path)

    def features(data: object, kva: float) -> tuple[object, tuple[str, ...]]:
        inputs = parse_inputs({"mpan": MPAN, "kva": kva, "profile_url": LINK})
        result = run_lookup(inputs, profile=data, on=DAY)
        return result.features, result.warnings

    first, said = features(profile, 100)
    again, said_again = features(profile.data.copy(), 250)  # equal data, another frame
    assert len(calls) == 1 and again == first and said_again == said
    assert first.weekend_factor == pytest.approx(real(profile.data["kwh"]).values[
        "weekend_factor"])

    changed = profile.data.copy()
    weekend = changed.index.tz_convert("Europe/London").day_of_week >= 5
    changed.loc[weekend, "kwh"] *= 2.0  # a new file: busier weekends
    new, _ = features(changed, 100)
    assert len(calls) == 2
    assert new.weekend_factor == pytest.approx(2.0 * first.weekend_factor, rel=1e-12)
    assert new.peak_ratio != first.peak_ratio or new.load_factor != first.load_factor

    one_day = profile.data.iloc[:48]  # refused features: the reasons come back on a repeat
    _, refused = features(one_day, 100)
    _, refused_again = features(one_day, 100)
    assert len(calls) == 3
    assert any("weekend factor not computed" in w for w in refused)
    assert refused_again == refused


def test_lookup_remembers_duos_by_profile_tariff_and_kva(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    import bess_duos.core.duos as core_duos
    import bess_duos.core.valuation as core_valuation

    core_valuation.clear_memos()
    calls: list[float | None] = []
    real = core_duos.charge_arrays

    def counted(utc: object, kwh: object, tariff: object, **kwargs: object) -> object:
        calls.append(kwargs.get("agreed_kva"))
        return real(utc, kwh, tariff, **kwargs)

    monkeypatch.setattr(core_duos, "charge_arrays", counted)
    profile = direct(profile_csv(100_000), tmp_path)

    def lookup(data: object, kva: float, flex: float = 0.3) -> dict:
        inputs = parse_inputs({"mpan": MPAN, "kva": kva, "flex_fraction": flex,
                               "profile_url": LINK})
        return run_lookup(inputs, profile=data, on=DAY, now="T").to_dict()

    first = lookup(profile, 100)
    edited_flex = lookup(profile, 100, flex=0.5)  # the flexible share edited: DUoS repeats
    assert calls == [100.0]
    assert edited_flex["duos"] == first["duos"]
    assert edited_flex["flexibility"] != first["flexibility"]

    bigger = lookup(profile, 900)  # the kVA edited: charged again
    assert calls == [100.0, 900.0]
    assert bigger["duos"]["capacity_gbp"] == pytest.approx(first["duos"]["capacity_gbp"] * 9)

    changed = profile.data.copy()
    changed["kwh"] *= 1.5  # a new file
    more = lookup(changed, 100)
    assert len(calls) == 3
    assert more["duos"]["unit_gbp"] == pytest.approx(first["duos"]["unit_gbp"] * 1.5)
    assert lookup(profile, 100) == first  # the remembered result, unchanged
    assert len(calls) == 3


def test_lookup_remembers_the_flexibility_plan_across_edits(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    import bess_duos.core.flexibility as core_flexibility
    import bess_duos.core.valuation as core_valuation

    core_valuation.clear_memos()
    plans: list[int] = []
    real = core_flexibility.plan_flexibility

    def counted(*args: object, **kwargs: object) -> object:
        plans.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(core_flexibility, "plan_flexibility", counted)
    profile = direct(profile_csv(100_000), tmp_path)

    def flex(data: object, kva: float, share: float) -> dict:
        inputs = parse_inputs({"mpan": MPAN, "kva": kva, "flex_fraction": share,
                               "profile_url": LINK})
        return run_lookup(inputs, profile=data, on=DAY, now="T").to_dict()["flexibility"]

    edits = [(100, 0.3), (100, 0.1), (400, 0.1), (400, 0.6)]  # share, kVA, share edited
    warm = [flex(profile, kva, share) for kva, share in edits]
    # One plan per tariff: the kVA can change the tariff (its residual charging band).
    tariffs = {run_lookup(parse_inputs({"mpan": MPAN, "kva": kva}), on=DAY).tariff
               for kva, _ in edits}
    assert len(plans) == len(tariffs) < len(edits)
    cold = []
    for kva, share in edits:
        core_valuation.clear_memos()
        cold.append(flex(profile, kva, share))
    assert warm == cold  # remembered plans give exactly the fresh results
    assert warm[0]["value_gbp"] > warm[1]["value_gbp"] > 0

    plans.clear()
    changed = profile.data.copy()
    changed["kwh"] *= 2.0  # a new file: twice the energy, twice the value
    doubled = flex(changed, 100, 0.3)
    assert len(plans) == 1
    assert doubled["value_gbp"] == pytest.approx(2 * warm[0]["value_gbp"], rel=1e-9)


def test_a_flexibility_plan_gives_calculate_flexibility_value_for_each_share() -> None:
    from bess_duos.core.flexibility import calculate_flexibility_value, plan_flexibility

    series = generate_profile("retail", 80_000, start="2025-10-20", end="2025-11-03", seed=4)
    prices = (series.index.hour % 7).to_numpy() * 1.5 + 0.5
    plan = plan_flexibility(series, prices)
    for share in (0.0, 0.25, 1.0, 0.25):
        got, want = plan.value(share), calculate_flexibility_value(series, share, prices)
        assert (got.value_gbp, got.shifted_kwh) == (want.value_gbp, want.shifted_kwh)
        assert got.flexed_profile.equals(want.flexed_profile)
    with pytest.raises(ValueError, match="flex_fraction must be between 0 and 1"):
        plan.value(1.5)
