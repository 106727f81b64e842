"""Distributors: the shipped table, its lookups and its rebuild from MDD 377."""

from __future__ import annotations

import pandas as pd
import pytest
from bess_duos.core.distributors import (
    Distributor,
    UnknownDistributorError,
    all_distributors,
    dno_for_gsp_group,
    get_distributor,
)
from bess_duos.core.distributors_import import build_distributors_table
from bess_duos.core.paths import config_dir

DNO_FACTS = {  # id: (short code, MPID, GSP group) as given in issue 2
    10: ("UKPN-EPN", "EELC", "_A"), 11: ("NGED-EM", "EMEB", "_B"), 12: ("UKPN-LPN", "LOND", "_C"),
    13: ("SPEN-MANWEB", "MANW", "_D"), 14: ("NGED-WM", "MIDE", "_E"), 15: ("NPg-NE", "NEEB", "_F"),
    16: ("ENWL", "NORW", "_G"), 17: ("SSEN-SHEPD", "HYDE", "_P"), 18: ("SPEN-SPD", "SPOW", "_N"),
    19: ("UKPN-SPN", "SEEB", "_J"), 20: ("SSEN-SEPD", "SOUT", "_H"),
    21: ("NGED-SWales", "SWAE", "_K"), 22: ("NGED-SW", "SWEB", "_L"),
    23: ("NPg-Yorks", "YELG", "_M"),
}


def test_the_14_dno_areas() -> None:
    dnos = [d for d in all_distributors() if not d.is_idno]
    assert [d.distributor_id for d in dnos] == list(range(10, 24))
    for d in dnos:
        assert (d.short_code, d.mpid, d.gsp_group_id) == DNO_FACTS[d.distributor_id]
    assert len({d.gsp_group_id for d in dnos}) == 14


def test_west_midlands_row() -> None:
    d = get_distributor(14)
    assert d == Distributor(
        distributor_id=14,
        name="National Grid Electricity Distribution (West Midlands) plc",
        short_code="NGED-WM", mpid="MIDE", gsp_group_id="_E", gsp_group_name="Midlands",
        is_idno=False,
    )
    assert d.area == "_E Midlands"
    assert d.example_llfcs and all(len(x) == 3 for x in d.example_llfcs)


@pytest.mark.parametrize("key", [14, "14", " 14 ", "014", "MIDE", "mide", "NGED-WM", "nged-wm"])
def test_lookup_by_id_mpid_or_short_code(key: int | str) -> None:
    assert get_distributor(key).distributor_id == 14


def test_idno_rows_from_mdd() -> None:
    ids = {d.distributor_id: d for d in all_distributors() if d.is_idno}
    assert min(ids) == 24
    assert (ids[24].mpid, ids[24].name) == ("IPNL", "Independent Power Networks Ltd")
    assert (ids[25].mpid, ids[27].mpid, ids[38].mpid) == ("LENG", "ETCL", "INDI")
    assert get_distributor("GUCL").distributor_id == 26
    for d in ids.values():
        assert d.gsp_group_id is None and d.gsp_group_name is None
        assert "no single area" in d.area
        assert d.to_dict()["gsp_group_id"] is None


@pytest.mark.parametrize("key", [9, "9", 41, "XXXX", "", "NGED", 14.0, True])
def test_unknown_distributor(key: object) -> None:
    with pytest.raises(UnknownDistributorError, match="distributor"):
        get_distributor(key)  # type: ignore[arg-type]


def test_unknown_distributor_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"unknown distributor '41'.*dno list"):
        get_distributor("41")


@pytest.mark.parametrize("gsp", ["_E", "E", "e", " _e "])
def test_dno_for_gsp_group(gsp: str) -> None:
    assert dno_for_gsp_group(gsp).short_code == "NGED-WM"


def test_dno_for_each_gsp_group() -> None:
    for did, (_, _, gsp) in DNO_FACTS.items():
        assert dno_for_gsp_group(gsp).distributor_id == did
    with pytest.raises(UnknownDistributorError, match="unknown GSP group 'Q'"):
        dno_for_gsp_group("Q")


def test_shipped_csv_matches_a_rebuild_from_mdd(reference_data) -> None:
    built = build_distributors_table(reference_data / "mdd-377")
    shipped = pd.read_csv(config_dir() / "distributors.csv", comment="#", dtype=str,
                          keep_default_na=False)
    assert list(shipped.columns) == list(built.columns)
    pd.testing.assert_frame_equal(shipped, built.astype(str), check_dtype=False)


def test_csv_names_its_source() -> None:
    first = (config_dir() / "distributors.csv").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#")
    for name in ("Market Domain Data 377", "Market_Participant_377", "GSP_Group_377"):
        assert name in first
