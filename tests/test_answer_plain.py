"""A lookup's answer built as plain JSON values in one pass (issue 18), against the general path
it replaced: `dataclasses.asdict` (a deep copy of every leaf) and then `json_safe` over the
whole answer. Seeded random dataclasses, the result parts' `to_dict`, the sheet's fields, and
the weekday load remembered per profile."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pytest
from bess_duos.core.distributors import UnknownDistributorError, get_distributor
from bess_duos.core.load_shape import average_weekday_kw
from bess_duos.core.lookup import LookupResult, decide_area, parse_inputs, run_lookup
from bess_duos.core.mpan import PROFILE_CLASSES
from bess_duos.core.plain import fields_of, json_safe
from bess_duos.core.synthetic import generate_profile
from bess_duos.webhook.compute import answer_of
from bess_duos.webhook.layout import default_layout, layout_from_dict, result_fields
from bess_duos.webhook.profile_links import FetchedProfile, profile_of

from tests.test_webhook_fast_paths import _same, reference_json_safe

DAY = dt.date(2026, 11, 24)


# --- fields_of and json_safe of a dataclass: json_safe(dataclasses.asdict(x)) ----------------


@dataclasses.dataclass(frozen=True)
class _Inner:
    a: Any
    b: Any = None


@dataclasses.dataclass
class _Outer:
    x: Any
    inner: _Inner
    many: Any
    keyed: Any


def _leaf(rng: np.random.Generator) -> Any:
    leaves = [
        lambda: float(rng.normal()), lambda: float("nan"), lambda: float("inf"),
        lambda: int(rng.integers(-5, 5)), lambda: bool(rng.integers(2)), lambda: None,
        lambda: "text–é", lambda: np.float64(rng.normal()), lambda: np.float64("-inf"),
        lambda: np.int64(rng.integers(100)), lambda: np.bool_(False), lambda: np.float32(0.25),
        lambda: -0.0,
    ]
    return leaves[int(rng.integers(len(leaves)))]()


def _value(rng: np.random.Generator, depth: int = 0) -> Any:
    if depth >= 3 or rng.random() < 0.4:
        return _leaf(rng)
    kind = int(rng.integers(4))
    items = [_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if kind == 0:
        keys = ["a", 1, 2.5, None, True]
        return {keys[i] if i < len(keys) else f"k{i}": v for i, v in enumerate(items)}
    if kind == 3:
        return _Inner(items, _leaf(rng))
    return items if kind == 1 else tuple(items)


def test_fields_of_equals_asdict_then_json_safe_on_random_dataclasses() -> None:
    rng = np.random.default_rng(18)
    for _ in range(400):
        obj = _Outer(_value(rng), _Inner(_value(rng), _value(rng)),
                     tuple(_value(rng) for _ in range(3)), {7: _value(rng), "k": _value(rng)})
        want = reference_json_safe(dataclasses.asdict(obj))
        assert _same(fields_of(obj), want), obj
        assert _same(json_safe(obj), want)
        assert _same(json_safe([obj, (obj.inner,)]), [want, [want["inner"]]])


def test_json_safe_of_floats_kept_inline_is_the_recursive_version() -> None:
    values = [0.0, -0.0, 1e308, -1e-320, 5e-324, float("nan"), float("inf"), -float("inf"),
              np.float64(2.5), np.float64("nan")]
    for value in values:
        for wrapped in ([value], (value, 1), {"v": value, 1: value}):
            assert _same(json_safe(wrapped), reference_json_safe(wrapped)), wrapped


# --- the result parts' to_dict against their asdict versions ---------------------------------


def _mpan_reference(m: Any) -> dict[str, Any]:
    """`Mpan.to_dict` as it was: asdict plus the distributor's fields."""
    d = m.distributor
    out = dataclasses.asdict(m)
    out["top_line"] = m.top_line
    out["profile_class_description"] = (
        PROFILE_CLASSES.get(m.profile_class) if m.profile_class else None)
    out.update(distributor_name=d.name, short_code=d.short_code, mpid=d.mpid,
               gsp_group_id=d.gsp_group_id, gsp_group_name=d.gsp_group_name,
               is_idno=d.is_idno, area=d.area)
    return out


def _duos_reference(s: Any) -> dict[str, Any]:
    """`DuosSummary.to_dict` as it was: asdict, `total_kwh`, tuples as lists."""
    data = dataclasses.asdict(s)
    data["total_kwh"] = s.total_kwh
    for key in ("charging_years", "tariffs", "notes"):
        data[key] = list(data[key])
    return data


def _profile(seed: int) -> FetchedProfile:
    rng = np.random.default_rng(seed)
    series = generate_profile("office", float(rng.integers(50_000, 400_000)),
                              start="2025-04-01", seed=seed)
    series.iloc[rng.integers(0, len(series), 20)] = np.nan
    series = series.drop(series.index[rng.choice(len(series), 30, replace=False)])
    content = series.rename_axis("timestamp").rename("kwh").to_frame().to_csv(
        date_format="%Y-%m-%dT%H:%M:%SZ").encode()
    link = f"https://files.example/site-{seed}.csv"
    return FetchedProfile(link, "https", content, "text/csv", link)


_INPUTS = [
    {"mpan": "1405566778898", "kva": 400},
    {"mpan": "1405566778899", "flex_fraction": "45%"},  # a wrong check digit: a warning
    {"postcode": "B1 1AA"},
    {"mpan": "2412345678901", "gsp_group": "_E"},  # an IDNO
    {"gsp_group": "_P", "kva": 90},
]


def _results(seed: int) -> list[LookupResult]:
    fetched = _profile(seed)
    out = []
    for raw in _INPUTS:
        inputs = parse_inputs({**raw, "profile_url": fetched.link})
        site = decide_area(inputs)
        profile = profile_of(fetched, inputs.profile_options)
        out.append(run_lookup(inputs, profile=profile, on=DAY, site=site, request_id="r"))
        out.append(run_lookup(inputs, on=DAY, site=site, request_id="r"))  # no profile
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_the_parts_of_an_answer_equal_their_asdict_versions(seed: int) -> None:
    for result in _results(seed):
        body = result.to_dict()
        assert _same(body, reference_json_safe(body))  # plain JSON values throughout
        mpan = result.inputs.mpan
        assert _same(body["mpan"], None if mpan is None
                     else reference_json_safe(_mpan_reference(mpan)))
        if result.duos is not None:
            assert _same(body["duos"], reference_json_safe(_duos_reference(result.duos)))
        quality = result.profile_quality
        assert _same(body["profile_quality"], None if quality is None
                     else reference_json_safe(quality.to_dict()))  # the report's own to_dict
        assert _same(body["site_area"], reference_json_safe(result.site.to_dict()))
        assert body["site_area"]["is_idno"] is result.site.is_idno
        assert _same(body["distributor"], reference_json_safe(result.distributor.to_dict()))
        answer = answer_of(result)
        assert _same(answer.body["fields"], answer.sheet_fields)


def test_the_fields_are_plain_and_rounded_as_the_layout_says() -> None:
    import copy

    import yaml
    from bess_duos.core.paths import config_dir

    raw = yaml.safe_load((config_dir() / "sheet_layout.yaml").read_text())
    plain = copy.deepcopy(raw)
    plain.pop("display", None)
    rounded = copy.deepcopy(raw)
    places = {"annual_duos_gbp": 0, "peak_ratio": 1, "red_rate_p_per_kwh": 2, "status": 1,
              "flex_saving_pct": 3}
    rounded["display"] = {"round": places}
    unrounded, layout = layout_from_dict(plain), layout_from_dict(rounded)
    for result in _results(2)[:4]:
        values = result_fields(result, unrounded)
        assert _same(values, reference_json_safe(values))
        want = {name: round(float(v), places[name])
                if name in places and isinstance(v, int | float) and not isinstance(v, bool)
                else v for name, v in values.items()}
        assert _same(result_fields(result, layout), want)
        assert _same(result_fields(result), result_fields(result, default_layout()))


# --- the weekday load remembered per profile -------------------------------------------------


def test_the_weekday_load_of_a_repeated_or_changed_profile_is_worked_out_afresh() -> None:
    rng = np.random.default_rng(7)
    inputs = parse_inputs({"mpan": "1405566778898"})
    site = decide_area(inputs)
    series = generate_profile("retail", 200_000, start="2025-02-03", seed=7)
    for trial in range(8):
        frame = series.rename("kwh").to_frame()
        if trial % 4 == 1:  # every half hour changed
            frame["kwh"] *= 1.0 + rng.random()
        elif trial % 4 == 3:  # one weekday half hour (a Monday's, UK time) much higher
            frame.iloc[48 * int(rng.integers(0, 50)) * 7 + int(rng.integers(48)), 0] += 500.0
        series = frame["kwh"].copy()
        result = run_lookup(inputs, profile=frame, on=DAY, site=site)
        assert result.weekday_load["kw"] == average_weekday_kw(frame["kwh"])
        result.weekday_load["kw"][0] = -1.0  # a caller's change is not remembered
        again = run_lookup(inputs, profile=frame.copy(), on=DAY, site=site)
        assert again.weekday_load["kw"] == average_weekday_kw(frame["kwh"])


# --- get_distributor's key ---------------------------------------------------------------------


def test_a_distributor_is_found_by_int_or_text_alike() -> None:
    for key in (10, 14, 23, 24, 25):
        found = get_distributor(key)
        assert found is get_distributor(str(key)) is get_distributor(f" 0{key} ")
        assert found is get_distributor(found.mpid.lower()) is get_distributor(found.short_code)
    for bad in (-14, 0, 999, "-14", "x"):
        with pytest.raises(UnknownDistributorError, match="unknown distributor"):
            get_distributor(bad)
    for bad in (True, 14.0, None):
        with pytest.raises(UnknownDistributorError, match="must be an ID"):
            get_distributor(bad)  # type: ignore[arg-type]

