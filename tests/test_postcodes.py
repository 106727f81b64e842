"""UK postcode parsing: every outward shape, GIR 0AA, normalisation, O/0 fixes, rejections."""

from __future__ import annotations

import pytest
from bess_duos.core.postcodes import (
    Postcode,
    PostcodeError,
    is_known_district,
    known_areas,
    normalise_postcode,
    parse_postcode,
)
from hypothesis import given
from hypothesis import strategies as st


# Real postcodes, one per outward shape (Royal Mail's own examples of each format).
@pytest.mark.parametrize(
    ("typed", "unit", "area", "district", "sector"),
    [
        ("M1 1AE", "M1 1AE", "M", "M1", "M1 1"),  # A9
        ("B33 8TH", "B33 8TH", "B", "B33", "B33 8"),  # A99
        ("CR2 6XH", "CR2 6XH", "CR", "CR2", "CR2 6"),  # AA9
        ("DN55 1PT", "DN55 1PT", "DN", "DN55", "DN55 1"),  # AA99
        ("W1A 0AX", "W1A 0AX", "W", "W1A", "W1A 0"),  # A9A
        ("EC1A 1BB", "EC1A 1BB", "EC", "EC1A", "EC1A 1"),  # AA9A
        ("GIR 0AA", "GIR 0AA", "GIR", "GIR", "GIR 0"),  # the special one
    ],
)
def test_every_outward_shape(typed: str, unit: str, area: str, district: str, sector: str) -> None:
    pc = parse_postcode(typed)
    assert (pc.unit, pc.area, pc.district, pc.sector) == (unit, area, district, sector)
    assert pc.compact == unit.replace(" ", "")
    assert str(pc) == unit
    assert pc.corrections == ()


@pytest.mark.parametrize(
    "typed",
    ["b1 1aa", "B11AA", "b11aa", "  B1   1AA ", "B 1 1 A A", "b1\t1aA", "B1\u00a01AA", "B11 AA"],
)
def test_case_and_spaces_are_normalised(typed: str) -> None:
    assert normalise_postcode(typed) == "B1 1AA"


def test_missing_space_in_long_postcodes() -> None:
    assert parse_postcode("sw1a1aa") == Postcode("SW1A", "1AA")
    assert parse_postcode("dn551pt").unit == "DN55 1PT"
    assert parse_postcode("ec1a1bb").district == "EC1A"


def test_letter_o_in_the_inward_digit_place_becomes_zero() -> None:
    pc = parse_postcode("W1A OAX")
    assert pc.unit == "W1A 0AX"
    assert len(pc.corrections) == 1
    assert "O" in pc.corrections[0] and "0" in pc.corrections[0]
    assert parse_postcode("gir oaa").unit == "GIR 0AA"


def test_zero_in_the_inward_letter_places_is_rejected_with_the_reason() -> None:
    # 'O' is never used in the inward letters, so reading 0 as O cannot make it valid.
    with pytest.raises(PostcodeError, match="never uses O"):
        parse_postcode("B1 10A")
    with pytest.raises(PostcodeError, match="never uses O"):
        parse_postcode("B1 1A0")


def test_outward_o_and_0_are_not_touched() -> None:
    # SO (Southampton) vs S0: ambiguity in the outward code is not "fixed".
    assert parse_postcode("SO14 7DU").district == "SO14"
    with pytest.raises(PostcodeError):
        parse_postcode("S014 7DU")  # outward 'S014' (shape A999) is left as typed, and fails


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("BT1 1AA", "Northern Ireland"),
        ("bt7 1nn", "outside the GB DNO areas"),
        ("GY1 1AA", "Guernsey"),
        ("JE2 3AB", "Jersey"),
        ("IM1 1AD", "Isle of Man"),
        ("BX1 1LT", "non-geographic"),
        ("BF1 2AT", "non-geographic"),
    ],
)
def test_non_gb_postcodes_are_rejected_with_the_reason(typed: str, reason: str) -> None:
    with pytest.raises(PostcodeError, match=reason):
        parse_postcode(typed)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("B1", "district alone"),
        ("B1 1", "5 to 7"),
        ("SW1A 1AAA", "5 to 7"),
        ("B1-1AA", "contains '-'"),
        ("B1 1AÄ", "contains"),
        ("QA1 1AA", "Q, V and X are never first"),
        ("VA1 1AA", "Q, V and X are never first"),
        ("XA1 1AA", "Q, V and X are never first"),
        ("AI1 1AA", "I, J and Z are never the second"),
        ("BZ1 1AA", "I, J and Z are never the second"),
        ("W1I 1AA", "A9A shape"),
        ("EC1C 1BB", "AA9A shape"),
        ("11A 1AA", "shape 99A"),
        ("B1AA 1AA", "shape A9AA"),
        ("B1 AAA", "must start with a digit"),
        ("B1 1CA", "never uses there"),
        ("B1 1AK", "never uses there"),
        ("B1 1A1", "must end in two letters"),
        ("AC1 1AA", "no GB postcode area 'AC'"),
        ("GIR 0AB", "only used in GIR 0AA"),
    ],
)
def test_malformed_input_is_rejected_with_the_reason(typed: str, reason: str) -> None:
    with pytest.raises(PostcodeError, match=reason):
        parse_postcode(typed)


def test_postcode_error_is_a_value_error_and_non_text_is_refused() -> None:
    assert issubclass(PostcodeError, ValueError)
    with pytest.raises(PostcodeError, match="must be text"):
        parse_postcode(12345)  # type: ignore[arg-type]


def test_district_table_knows_real_districts_only() -> None:
    areas = known_areas()
    assert len(areas) == 120  # geographic GB areas in OS Code-Point Open
    assert {"B", "M", "SW", "ZE", "LL"} <= areas
    assert not areas & {"BT", "GY", "JE", "IM"}
    assert is_known_district("b1") and is_known_district("SW1A") and is_known_district("EC1A")
    assert not is_known_district("B22")  # no Birmingham district B22
    assert not is_known_district("BT1")


@given(
    area=st.sampled_from(["B", "M", "SW", "EC", "LS", "CF", "G"]),
    digit=st.integers(0, 9),
    sector=st.integers(0, 9),
    unit=st.text(alphabet="ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
    lower=st.booleans(),
    spaced=st.booleans(),
)
def test_any_well_formed_gb_postcode_round_trips(
    area: str, digit: int, sector: int, unit: str, lower: bool, spaced: bool
) -> None:
    text = f"{area}{digit}{' ' if spaced else ''}{sector}{unit}"
    pc = parse_postcode(text.lower() if lower else text)
    assert pc.unit == f"{area}{digit} {sector}{unit}"
    assert parse_postcode(pc.unit) == pc
