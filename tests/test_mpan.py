"""MPAN parsing, check digits (against the `mpan` package), generation and the seed names."""

from __future__ import annotations

import json

import mpan as mpan_pkg
import numpy as np
import pytest
from bess_duos.core.distributors import all_distributors
from bess_duos.core.mpan import (
    PROFILE_CLASSES,
    Mpan,
    MpanError,
    check_digits_valid,
    cores_valid,
    expected_check_digit,
    extract_core_from_full_mpan,
    generate_batch_valid_mpans,
    generate_core,
    generate_cores,
    generate_full_mpan,
    generate_full_mpans,
    generate_valid_mpan_core,
    is_valid_mpan_core,
    mpan_core_lookup,
    mpan_from_cell,
    parse_mpan,
    validate_mpan,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SEED_EXAMPLE = "00800999932 1405566778899"
ALL_IDS = [d.distributor_id for d in all_distributors()]
WITH_LLFC = [d.distributor_id for d in all_distributors() if d.example_llfcs]


# --- check digits -------------------------------------------------------------------------

def test_check_digit_by_hand() -> None:
    # 1*3 + 4*5 + 0*7 + 5*13 + 5*17 + 6*19 + 6*23 + 7*29 + 7*31 + 8*37 + 8*41 + 9*43 = 1856;
    # 1856 mod 11 = 8; 8 mod 10 = 8.
    assert expected_check_digit("140556677889") == 8
    assert expected_check_digit("200000000001") == 5  # 2*3 + 1*43 = 49; 49 mod 11 = 5
    assert expected_check_digit("000100000000") == 2  # 1*13 = 13; 13 mod 11 = 2
    assert expected_check_digit("000000000011") == 7  # 41 + 43 = 84; 84 mod 11 = 7
    assert expected_check_digit("020000000000") == 0  # 2*5 = 10; 10 mod 11 = 10; mod 10 = 0


def _oracle_sample(n: int, seed: int) -> np.ndarray:
    """n random cores of distributors 10-38 (the package range), half with a wrong check digit."""
    rng = np.random.default_rng(seed)
    first12 = rng.integers(10, 39, n) * 10**10 + rng.integers(0, 10**10, n)
    digits = (first12[:, None] // 10 ** np.arange(11, -1, -1)) % 10
    good = (digits @ np.array([3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43])) % 11 % 10
    corrupt = rng.random(n) < 0.5
    check = np.where(corrupt, (good + rng.integers(1, 10, n)) % 10, good)
    return np.char.mod("%013d", first12 * 10 + check)


def test_check_digits_agree_with_mpan_package_on_100k_cores() -> None:
    cores = _oracle_sample(100_000, seed=2026)
    oracle = np.array([mpan_pkg.MPAN(c).is_valid for c in cores.tolist()])
    assert 0.45 < oracle.mean() < 0.55  # both kinds present in bulk
    np.testing.assert_array_equal(check_digits_valid(cores), oracle)
    np.testing.assert_array_equal(check_digits_valid(cores.astype(np.int64)), oracle)
    np.testing.assert_array_equal(check_digits_valid(cores.astype("S13")), oracle)
    np.testing.assert_array_equal(cores_valid(cores), oracle)  # IDs 10-38 are all known here
    scalar = [parse_mpan(c).check_digit_valid for c in cores[:2000].tolist()]
    np.testing.assert_array_equal(scalar, oracle[:2000])


def test_vectorised_rejects_malformed_entries() -> None:
    cores = np.array(["1405566778898", "140556677889", "14055667788980", "14O5566778898",
                      "", "1405566778899"])
    np.testing.assert_array_equal(check_digits_valid(cores),
                                  [True, False, False, False, False, False])
    np.testing.assert_array_equal(check_digits_valid(np.array(["140556677889"])), [False])
    objs = np.array(["1405566778898", None], dtype=object)
    np.testing.assert_array_equal(check_digits_valid(objs), [True, False])
    ints = np.array([1405566778898, 405566778898, -1405566778898, 14055667788980])
    np.testing.assert_array_equal(check_digits_valid(ints), [True, False, False, False])
    unknown = np.array(["0900000000001", "4100000000006", "1405566778898"])
    assert check_digits_valid(unknown).tolist() == [True, True, True]
    assert cores_valid(unknown).tolist() == [False, False, True]


# --- parsing ------------------------------------------------------------------------------

def test_seed_example() -> None:
    m = parse_mpan(SEED_EXAMPLE)
    assert m.core == "1405566778899"
    assert m.distributor_id == 14
    assert m.distributor.short_code == "NGED-WM"
    assert m.distributor.name == "National Grid Electricity Distribution (West Midlands) plc"
    assert (m.check_digit, m.check_digit_valid, m.expected_check_digit) == (9, False, 8)
    assert m.ignored_prefix == "00800999932"
    assert m.profile_class is None and m.mtc is None and m.llfc is None
    assert not is_valid_mpan_core("1405566778899")
    with pytest.raises(MpanError, match=r"bad check digit.*last digit is 9.*is 8"):
        validate_mpan(SEED_EXAMPLE)


@pytest.mark.parametrize("text", [
    "00845121 1405566778898",
    "00 845 121 14 0556 6778 898",
    "S 00 845 121 14 0556 6778 898",
    "s00845121-1405566778898",
    "00-845-121-14-0556-6778-898",
    "S 00 845 121\n14 0556 6778 898\n",
    "  00845121\t1405566778898  ",
])
def test_full_mpan_forms(text: str) -> None:
    m = validate_mpan(text)
    assert (m.profile_class, m.mtc, m.llfc, m.core) == ("00", "845", "121", "1405566778898")
    assert m.top_line == "00845121" and m.full == "008451211405566778898"
    assert m.formatted() == "00 845 121 14 0556 6778 898"


def test_core_forms_and_letters_in_llfc() -> None:
    assert parse_mpan("14 0556 6778 898").core == "1405566778898"
    assert parse_mpan(1405566778898).core == "1405566778898"
    assert parse_mpan(np.int64(1405566778898)).core == "1405566778898"
    assert parse_mpan(np.str_("1405566778898")).core == "1405566778898"
    m = parse_mpan("03 801 1ah 1500000000007")
    assert (m.profile_class, m.llfc, m.distributor.short_code) == ("03", "1AH", "NPg-NE")


@pytest.mark.parametrize(("text", "message"), [
    ("", "MPAN is empty"),
    ("   \n", "MPAN is empty"),
    ("140556677889", r"MPAN too short: 12 characters"),
    ("14055667788981", r"MPAN has 14 digits: a core has 13 and a full MPAN 21"),
    ("14 0556 6778 89x", r"core '140556677889X'|non-digit character 'x'"),
    ("14.05566778898", r"non-digit character '\.'"),
    ("MPAN: 1405566778898", r"non-digit character 'M' before the core"),
    ("0912345678901", r"unknown distributor ID 09 in MPAN core 0912345678901"),
    ("4100000000007", r"unknown distributor ID 41"),
    ("09 845 121 1405566778898", r"bad profile class '09' in top line '09845121'"),
    ("A0 845 121 1405566778898", r"bad profile class 'A0'"),
    ("00 8X5 121 1405566778898", r"MTC '8X5' in top line '008X5121' has a non-digit 'X'"),
    ("00 845 1.1 1405566778898", r"LLFC '1\.1' .* bad character '\.'"),
    ("1.40556677889E+12", r"scientific notation: the spreadsheet rounded it"),
])
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(MpanError, match=message):
        parse_mpan(text)


def test_error_for_bad_types_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="use mpan_from_cell"):
        parse_mpan(1405566778898.0)  # type: ignore[arg-type]
    with pytest.raises(MpanError, match="not NoneType"):
        parse_mpan(None)  # type: ignore[arg-type]
    with pytest.raises(MpanError, match="is negative"):
        parse_mpan(-1405566778898)


def test_to_dict_json_names() -> None:
    d = parse_mpan(SEED_EXAMPLE).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert (d["core"], d["distributor_id"], d["check_digit_valid"], d["expected_check_digit"]) \
        == ("1405566778899", 14, False, 8)
    assert (d["short_code"], d["mpid"], d["gsp_group_id"]) == ("NGED-WM", "MIDE", "_E")
    assert d["llfc"] is None and d["identifier"] == "0556677889"


def test_masked() -> None:
    assert parse_mpan(SEED_EXAMPLE).masked() == "14*********99"
    assert parse_mpan("00845121 2000000000006").masked() == "20*********06"


def test_idno_mpan_has_no_single_area() -> None:
    d = parse_mpan(generate_core(24, np.random.default_rng(1))).to_dict()
    assert d["is_idno"] and d["gsp_group_id"] is None and "no single area" in d["area"]


# --- spreadsheet cells --------------------------------------------------------------------

def test_mpan_from_cell() -> None:
    assert mpan_from_cell(1405566778898).core == "1405566778898"
    assert mpan_from_cell(1405566778898.0).core == "1405566778898"
    assert mpan_from_cell("1405566778898.0").core == "1405566778898"
    assert mpan_from_cell("1.405566778898E+12").core == "1405566778898"
    assert mpan_from_cell(" 00 845 121 1405566778898 ").llfc == "121"
    assert mpan_from_cell("1,405,566,778,898").core == "1405566778898"
    assert mpan_from_cell(np.float64(1405566778898.0)).core == "1405566778898"
    for value, message in [
        ("1.40556677889E+12", "only 12 significant digits: the sheet stored the MPAN as a number"),
        (1405566778898.5, "not a whole number"),
        (1.405566778898e20, "not a 13-digit number"),
        (140556677889, "not a 13-digit number"),
        ("1405566778898.5", "not a 13-digit whole number"),
        (float("nan"), "not a whole number"),
        (True, "boolean"),
        (None, "NoneType"),
        (1405566778899, "bad check digit"),
    ]:
        with pytest.raises(MpanError, match=message):
            mpan_from_cell(value)
    with pytest.raises(MpanError, match=r"Plain text"):
        mpan_from_cell("1.40556677889E+12")


# --- generation ---------------------------------------------------------------------------

def test_generate_cores_unique_valid_reproducible() -> None:
    a = generate_cores(50_000, 14, seed=7)
    assert a.dtype == np.dtype("<U13") and a.shape == (50_000,)
    assert len(np.unique(a)) == 50_000
    assert check_digits_valid(a).all() and cores_valid(a).all()
    assert np.all(np.char.startswith(a, "14"))
    np.testing.assert_array_equal(a, generate_cores(50_000, 14, seed=7))
    assert not np.array_equal(a[:100], generate_cores(100, 14, seed=8))
    assert generate_cores(0, 14, seed=1).shape == (0,)


def test_generation_errors() -> None:
    with pytest.raises(MpanError, match="cannot generate an MPAN: unknown distributor"):
        generate_cores(3, 41)
    with pytest.raises(MpanError, match="n must be between"):
        generate_cores(-1, 14)
    with pytest.raises(MpanError, match="no LLFC known for distributor 97"):
        generate_full_mpan(97)
    with pytest.raises(MpanError, match="bad profile class '09'"):
        generate_full_mpan(14, profile_class="09")
    with pytest.raises(MpanError, match="must be profile class"):
        generate_full_mpan(14, llfc="1234")


def test_generate_full_mpans() -> None:
    full = generate_full_mpans(1000, 20, seed=3)
    assert all(len(x) == 21 and x.startswith("00845") for x in full.tolist())
    parsed = [parse_mpan(x) for x in full.tolist()]
    assert {p.llfc for p in parsed} <= {"H85", "H86", "H87"}
    assert all(p.check_digit_valid and p.distributor_id == 20 for p in parsed)
    assert len({p.core for p in parsed}) == 1000


@settings(max_examples=200, deadline=None)
@given(did=st.sampled_from(ALL_IDS), seed=st.integers(0, 2**32 - 1))
def test_parse_generate_core_round_trip(did: int, seed: int) -> None:
    core = generate_core(did, np.random.default_rng(seed))
    m = parse_mpan(core)
    assert (m.core, m.distributor_id, m.check_digit_valid) == (core, did, True)
    assert is_valid_mpan_core(core)
    wrong = core[:12] + str((int(core[12]) + 1) % 10)
    assert parse_mpan(wrong).expected_check_digit == int(core[12])


@settings(max_examples=200, deadline=None)
@given(did=st.sampled_from(WITH_LLFC), seed=st.integers(0, 2**32 - 1),
       pc=st.sampled_from(sorted(PROFILE_CLASSES)),
       sep=st.sampled_from(["", " ", "-", "\n"]), s_prefix=st.booleans())
def test_parse_generate_full_round_trip(did: int, seed: int, pc: str, sep: str,
                                        s_prefix: bool) -> None:
    full = generate_full_mpan(did, np.random.default_rng(seed), profile_class=pc)
    text = ("S" + sep if s_prefix else "") + sep.join([full[:2], full[2:5], full[5:8], full[8:]])
    m = validate_mpan(text)
    assert m.full == full and m.distributor_id == did and m.profile_class == pc
    assert m.llfc in m.distributor.example_llfcs
    assert mpan_pkg.MPAN(full).core == m.core
    if did <= 38:  # the package knows distributors 10-38 only
        assert mpan_pkg.MPAN(full).is_valid


def test_every_distributor_round_trips_both_forms() -> None:
    rng = np.random.default_rng(0)
    for did in ALL_IDS:
        assert parse_mpan(generate_core(did, rng)).distributor_id == did
    for did in WITH_LLFC:
        assert validate_mpan(generate_full_mpan(did, rng)).distributor_id == did


# --- seed names ---------------------------------------------------------------------------

def test_seed_wrappers() -> None:
    core = generate_valid_mpan_core(14)
    assert core.startswith("14") and is_valid_mpan_core(core)
    batch = generate_batch_valid_mpans(500, 14)
    assert len(set(batch)) == 500 and all(is_valid_mpan_core(c) for c in batch)
    assert generate_batch_valid_mpans(5, 14, seed=1) == generate_cores(5, 14, 1).tolist()
    assert extract_core_from_full_mpan(SEED_EXAMPLE) == "1405566778899"
    assert extract_core_from_full_mpan("S 00 845 121\n14 0556 6778 898") == "1405566778898"
    assert not is_valid_mpan_core("00845121 1405566778898")  # a full MPAN is not a core
    assert not is_valid_mpan_core("hello")
    info = mpan_core_lookup("1405566778898")
    assert info["distributor_name"].startswith("National Grid Electricity Distribution")
    assert info["check_digit_valid"] is True and info["gsp_group_name"] == "Midlands"


def test_mpan_is_frozen() -> None:
    m = parse_mpan("1405566778898")
    assert isinstance(m, Mpan)
    with pytest.raises(AttributeError):
        m.core = "x"  # type: ignore[misc]


def test_the_digit_shortcut_finds_the_same_bad_character() -> None:
    """`_first_bad_char` answers ASCII-digit text without looking at each character: on seeded
    strings of ASCII digits, other Unicode digits ('٣', '²', '５'), letters, spaces and
    nothing, and with other allowed sets, the same answer as the search alone; the distributor
    IDs are those of the table."""
    import random

    from bess_duos.core import mpan as mpan_module
    from bess_duos.core.distributors import distributor_ids

    def reference(text: str, allowed: str = "0123456789") -> str | None:
        return next((ch for ch in text if ch not in allowed), None)

    rng = random.Random(185)
    alphabet = "0123456789" * 4 + "٣²５¹AZaz -_."
    for _ in range(3_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert mpan_module._first_bad_char(text) == reference(text), text
        allowed = rng.choice(["0123456789", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123"])
        assert mpan_module._first_bad_char(text, allowed) == reference(text, allowed), text
    assert distributor_ids() == frozenset(d.distributor_id for d in all_distributors())
