"""The MPAN/postcode rules: a DNO MPAN decides, a disagreeing postcode is reported, an IDNO
MPAN takes its area from the postcode.

MPAN check digits worked by hand: 14 0556 6778 89 -> sum(d_i * [3,5,7,13,...,43]) = 1856,
1856 mod 11 = 8, so 1405566778898 is valid (the seed's 1405566778899 is not); 25 0000 0000 01
-> 2*3 + 5*5 + 1*43 = 74, 74 mod 11 = 8, so 2500000000018 (ESP Electricity, an IDNO).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bess_duos.core.area_resolver import (
    AreaCache,
    AreaLookup,
    OfflineTableResolver,
    PostcodeNotFoundError,
    ResolverAnswer,
    ServiceUnavailableError,
)
from bess_duos.core.mpan import MpanError
from bess_duos.core.postcodes import Postcode
from bess_duos.core.site_area import SiteAreaError, decide_site_area

DNO_WM = "1405566778898"  # National Grid Electricity Distribution (West Midlands), _E
SEED_BAD_CHECK = "1405566778899"
IDNO_ESP = "2500000000018"  # ESP Electricity Limited


class FakeOnline:
    """A resolver standing in for the online service (the HTTP path is tested elsewhere)."""

    source = "online:octopus"

    def __init__(self, table: dict[str, tuple[str, ...]], down: bool = False) -> None:
        self.table = table
        self.down = down
        self.calls: list[str] = []

    def resolve(self, postcode: Postcode) -> ResolverAnswer:
        self.calls.append(postcode.unit)
        if self.down:
            raise ServiceUnavailableError("Octopus grid-supply-points service is unavailable")
        if postcode.unit not in self.table:
            raise PostcodeNotFoundError(f"no GSP group for postcode {postcode.unit}")
        return ResolverAnswer(self.table[postcode.unit], "postcode", self.source)


AREAS = {"B1 1AA": ("_E",), "M1 1AE": ("_G",), "SY14 9AA": ("_D", "_G")}


def _lookup(online: FakeOnline, cache: AreaCache | None = None, *,
            table: bool = False) -> AreaLookup:
    """The online fake alone (the offline table switched off), unless `table`."""
    return AreaLookup([online], cache, OfflineTableResolver() if table else None)


def _offline(postcode: Postcode) -> object:
    """The shipped table and nothing else (as `--offline`)."""
    return AreaLookup([], None).lookup(postcode, online=False)


def _never(postcode: Postcode) -> object:
    raise AssertionError(f"postcode {postcode} should not have been looked up")


def test_dno_mpan_alone_decides_without_a_lookup() -> None:
    site = decide_site_area(DNO_WM, lookup=_never)  # type: ignore[arg-type]
    assert (site.distributor_id, site.gsp_group_id, site.source) == (14, "_E", "mpan")
    assert site.distributor.short_code == "NGED-WM"
    assert site.warnings == () and site.area_result is None and not site.is_idno


def test_dno_mpan_with_an_agreeing_postcode() -> None:
    site = decide_site_area(DNO_WM, "b11aa", lookup=_lookup(FakeOnline(AREAS)).lookup)
    assert (site.distributor_id, site.source) == (14, "mpan")
    assert site.area_result is not None and site.area_result.gsp_group_id == "_E"
    assert site.warnings == ()


def test_disagreeing_postcode_is_reported_not_obeyed() -> None:
    site = decide_site_area(DNO_WM, "M1 1AE", lookup=_lookup(FakeOnline(AREAS)).lookup)
    assert (site.distributor_id, site.gsp_group_id, site.source) == (14, "_E", "mpan")
    assert len(site.warnings) == 1
    warning = site.warnings[0]
    assert "M1 1AE is in _G North Western (ENWL, online:octopus)" in warning
    assert "_E Midlands" in warning and "using the MPAN's area" in warning


def test_straddling_postcode_that_includes_the_mpan_area_is_not_a_disagreement() -> None:
    site = decide_site_area("1300000000016", "SY14 9AA", lookup=_lookup(FakeOnline(AREAS)).lookup)
    assert (site.distributor_id, site.gsp_group_id) == (13, "_D")
    assert site.warnings == ()


def test_dno_mpan_with_a_bad_or_uncheckable_postcode_still_decides() -> None:
    site = decide_site_area(DNO_WM, "BT1 1AA", lookup=_never)  # type: ignore[arg-type]
    assert site.distributor_id == 14
    assert "postcode not used" in site.warnings[0] and "Northern Ireland" in site.warnings[0]
    down = decide_site_area(DNO_WM, "B1 1AA", lookup=_lookup(FakeOnline(AREAS, down=True)).lookup)
    assert down.distributor_id == 14
    assert "could not check postcode B1 1AA" in down.warnings[0]
    assert "unavailable" in down.warnings[0]


def test_bad_check_digit_is_reported_and_the_distributor_still_named() -> None:
    site = decide_site_area(SEED_BAD_CHECK)
    assert site.distributor_id == 14
    assert "wrong check digit (expected 8)" in site.warnings[0]
    full = decide_site_area("00800999932 1405566778899")  # the seed example, full MPAN
    assert full.distributor_id == 14 and full.mpan is not None
    assert full.mpan.core == SEED_BAD_CHECK


def test_idno_mpan_takes_its_area_from_the_postcode() -> None:
    online = FakeOnline(AREAS)
    site = decide_site_area(IDNO_ESP, "M1 1AE", lookup=_lookup(online).lookup)
    assert (site.distributor_id, site.gsp_group_id, site.source) == (16, "_G", "postcode")
    assert site.is_idno and site.mpan_distributor is not None
    assert (site.mpan_distributor.distributor_id, site.mpan_distributor.name) == (
        25, "ESP Electricity Limited")
    assert online.calls == ["M1 1AE"]
    data = site.to_dict()
    assert (data["distributor_id"], data["mpan_distributor_id"], data["source"]) == (16, 25,
                                                                                     "postcode")
    assert data["postcode_lookup"]["source"] == "online:octopus"


def test_idno_mpan_without_a_usable_postcode_is_an_error() -> None:
    idno = r"ESP Electricity Limited \(ID 25\), an IDNO.*postcode"
    with pytest.raises(SiteAreaError, match=idno):
        decide_site_area(IDNO_ESP, lookup=_never)  # type: ignore[arg-type]
    with pytest.raises(SiteAreaError, match="Northern Ireland"):
        decide_site_area(IDNO_ESP, "BT1 1AA", lookup=_never)  # type: ignore[arg-type]
    with pytest.raises(SiteAreaError, match="unavailable") as err:
        decide_site_area(IDNO_ESP, "B1 1AA", lookup=_lookup(FakeOnline(AREAS, down=True)).lookup)
    assert isinstance(err.value.__cause__, ServiceUnavailableError)


def test_idno_postcode_from_the_cache_when_the_service_is_down(tmp_path: Path) -> None:
    cache = AreaCache(tmp_path)
    decide_site_area(IDNO_ESP, "B1 1AA", lookup=_lookup(FakeOnline(AREAS), cache).lookup)
    down = FakeOnline(AREAS, down=True)
    site = decide_site_area(IDNO_ESP, "B1 1AA", lookup=_lookup(down, AreaCache(tmp_path)).lookup)
    assert (site.distributor_id, site.source) == (14, "postcode")
    assert site.area_result is not None and site.area_result.source == "cache"
    assert down.calls == []  # fresh cache entry: no call at all


def test_ambiguous_postcode_for_an_idno_carries_the_warning() -> None:
    site = decide_site_area(IDNO_ESP, "SY14 9AA", lookup=_lookup(FakeOnline(AREAS)).lookup)
    assert site.gsp_group_id == "_D"
    assert site.area_result is not None and site.area_result.confidence == "low"
    assert any("several GSP groups (_D, _G)" in w for w in site.warnings)


def test_postcode_alone_and_nothing_at_all() -> None:
    site = decide_site_area(None, "B1 1AA", lookup=_lookup(FakeOnline(AREAS)).lookup)
    assert (site.distributor_id, site.source, site.mpan) == (14, "postcode", None)
    with pytest.raises(SiteAreaError, match="no MPAN and no postcode"):
        decide_site_area(None, "  ")
    with pytest.raises(SiteAreaError, match=r"no MPAN given.*no area for B2 4QA"):
        decide_site_area("", "B2 4QA", lookup=_lookup(FakeOnline(AREAS)).lookup)


def test_unusable_mpan_is_an_mpan_error() -> None:
    with pytest.raises(MpanError):
        decide_site_area("12345", "B1 1AA", lookup=_never)  # type: ignore[arg-type]
    assert issubclass(SiteAreaError, ValueError)


# --- the GSP group route (an IDNO site offline) -------------------------------------------


def test_idno_mpan_with_a_gsp_group_decides_without_a_postcode_lookup() -> None:
    for given in ("_E", "E", "e", " _e "):
        site = decide_site_area(IDNO_ESP, lookup=_never, gsp_group=given)  # type: ignore[arg-type]
        assert (site.distributor_id, site.gsp_group_id, site.source) == (14, "_E", "gsp_group")
        assert site.is_idno and site.warnings == () and site.area_result is None
        assert site.to_dict()["mpan_distributor_id"] == 25


def test_gsp_group_alone_decides() -> None:
    site = decide_site_area(None, None, lookup=_never, gsp_group="G")  # type: ignore[arg-type]
    assert (site.distributor_id, site.distributor.short_code, site.source) == (
        16, "ENWL", "gsp_group")


def test_gsp_group_wins_over_a_disagreeing_postcode_and_an_unreachable_one_is_reported() -> None:
    online = FakeOnline(AREAS)
    site = decide_site_area(IDNO_ESP, "M1 1AE", lookup=_lookup(online).lookup, gsp_group="_E")
    assert (site.distributor_id, site.source) == (14, "gsp_group")
    assert online.calls == ["M1 1AE"] and len(site.warnings) == 1
    assert "M1 1AE is in _G North Western" in site.warnings[0]
    assert "using the GSP group" in site.warnings[0]
    agree = decide_site_area(IDNO_ESP, "B1 1AA", lookup=_lookup(online).lookup, gsp_group="_E")
    assert agree.warnings == () and agree.area_result is not None
    down = _lookup(FakeOnline(AREAS, down=True)).lookup
    offline = decide_site_area(IDNO_ESP, "B1 1AA", lookup=down, gsp_group="_E")
    assert (offline.distributor_id, offline.source) == (14, "gsp_group")
    assert len(offline.warnings) == 1
    assert "could not check postcode B1 1AA against the GSP group" in offline.warnings[0]


def test_dno_mpan_wins_over_a_disagreeing_gsp_group() -> None:
    site = decide_site_area(DNO_WM, lookup=_never, gsp_group="_G")  # type: ignore[arg-type]
    assert (site.distributor_id, site.gsp_group_id, site.source) == (14, "_E", "mpan")
    assert len(site.warnings) == 1
    assert "GSP group _G (North Western) was given" in site.warnings[0]
    assert "_E Midlands" in site.warnings[0] and "using the MPAN's area" in site.warnings[0]
    same = decide_site_area(DNO_WM, lookup=_never, gsp_group="e")  # type: ignore[arg-type]
    assert same.warnings == () and same.source == "mpan"


def test_unknown_gsp_group_names_the_valid_ones() -> None:
    for bad in ("_Z", "I", "_Q", "14"):
        with pytest.raises(SiteAreaError, match=r"unknown GSP group") as err:
            decide_site_area(IDNO_ESP, lookup=_never, gsp_group=bad)  # type: ignore[arg-type]
        assert "_A, _B, _C, _D, _E, _F, _G, _H, _J, _K, _L, _M, _N, _P" in str(err.value)


def test_idno_offline_advice_names_the_gsp_group_not_the_mpan() -> None:
    down = _lookup(FakeOnline(AREAS, down=True)).lookup
    with pytest.raises(SiteAreaError) as err:
        decide_site_area(IDNO_ESP, "B1 1AA", lookup=down)
    message = str(err.value)
    assert message.endswith("; enter the site's GSP group (e.g. _E) or try again when the "
                            "postcode service is reachable")
    assert "enter the MPAN" not in message and "no area for B1 1AA" in message
    # with no MPAN, entering the MPAN is still the right advice
    with pytest.raises(SiteAreaError, match=r"enter the MPAN \(a DNO MPAN names its area\)$"):
        decide_site_area(None, "B1 1AA", lookup=down)
    with pytest.raises(SiteAreaError, match=r"check the postcode, or enter the site's GSP group"):
        decide_site_area(IDNO_ESP, "B2 4QA", lookup=_lookup(FakeOnline(AREAS)).lookup)
    with pytest.raises(SiteAreaError, match=r"postcode or its GSP group \(e\.g\. _E\)$"):
        decide_site_area(IDNO_ESP, lookup=_never)  # type: ignore[arg-type]


# --- the offline table (config/postcode_areas.csv) decides -------------------------------

DNO_EASTERN = "1000000000003"  # Eastern Power Networks, _A: 1*3 = 3, 3 mod 11 mod 10 = 3


def test_postcode_alone_offline_from_the_table() -> None:
    site = decide_site_area(None, "M1 1AE", lookup=_offline)  # type: ignore[arg-type]
    assert (site.distributor_id, site.gsp_group_id, site.source) == (16, "_G", "postcode")
    assert site.area_result is not None and site.area_result.source == "table:district"
    assert site.warnings == ()
    idno = decide_site_area(IDNO_ESP, "NW2 1AA", lookup=_offline)  # type: ignore[arg-type]
    assert (idno.distributor_id, idno.area_result.source) == (10, "table:sector")


def test_table_disagreement_with_a_dno_mpan_is_reported() -> None:
    site = decide_site_area(DNO_WM, "M1 1AE", lookup=_offline)  # type: ignore[arg-type]
    assert (site.distributor_id, site.source) == (14, "mpan")
    assert "M1 1AE is in _G North Western (ENWL, table:district 100% of M1)" in site.warnings[0]


def test_uncertain_postcode_decides_nothing_and_names_both_areas() -> None:
    # RM6 5: 63.35% London (_C), 36.65% Eastern (_A) of its 161 postcodes
    with pytest.raises(SiteAreaError) as err:
        decide_site_area(IDNO_ESP, "RM6 5AA", lookup=_offline)  # type: ignore[arg-type]
    message = str(err.value)
    assert ("postcode RM6 5AA is uncertain: _C London 63.3% or _A Eastern 36.6% of 161 "
            "postcodes in sector RM6 5") in message
    assert message.endswith("enter the site's GSP group (e.g. _E)")
    with pytest.raises(SiteAreaError, match=r"enter the site's MPAN or GSP group \(e\.g\. _E\)$"):
        decide_site_area(None, "RM6 5AA", lookup=_offline)  # type: ignore[arg-type]
    # a DNO MPAN naming either candidate is no disagreement; a third area is
    agree = decide_site_area(DNO_EASTERN, "RM6 5AA", lookup=_offline)  # type: ignore[arg-type]
    assert (agree.distributor_id, agree.warnings) == (10, ())
    other = decide_site_area(DNO_WM, "RM6 5AA", lookup=_offline)  # type: ignore[arg-type]
    assert "RM6 5AA is in _C London 63.3% or _A Eastern 36.6%" in other.warnings[0]
    assert "(uncertain)" in other.warnings[0]


def test_uncertain_postcode_settled_online() -> None:
    online = FakeOnline({"RM6 5AA": ("_A",), "M1 1AE": ("_C",)})
    lookup = _lookup(online, table=True).lookup
    site = decide_site_area(IDNO_ESP, "RM6 5AA", lookup=lookup)
    assert (site.distributor_id, site.area_result.source) == (10, "online:octopus")
    certain = decide_site_area(IDNO_ESP, "M1 1AE", lookup=lookup)  # the table: not asked
    assert certain.distributor_id == 16 and online.calls == ["RM6 5AA"]
