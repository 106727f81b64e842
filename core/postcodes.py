"""UK postcodes: normalise what people type, validate the format, reject places outside GB.

A postcode is an outward code (area letters + district, e.g. ``B1``, ``SW1A``) and an
inward code (sector digit + two unit letters, e.g. ``1AA``). The format rules are
Royal Mail's (as in BS 7666): outward shapes A9, A99, AA9, AA99, A9A, AA9A, plus the
special ``GIR 0AA``; letters restricted by position. Only GB postcodes have a GB DNO
area, so Northern Ireland (BT), the Channel Islands (GY, JE) and the Isle of Man (IM)
are rejected with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from bess_duos.core.postcode_table import area_table

__all__ = [
    "Postcode",
    "PostcodeError",
    "is_known_district",
    "known_areas",
    "normalise_postcode",
    "normalise_postcodes",
    "parse_postcode",
]

OUTWARD_SHAPES = ("A9", "A99", "AA9", "AA99", "A9A", "AA9A")
# Letters Royal Mail never uses, by position in the outward code / in the inward code.
_NOT_FIRST = "QVX"
_NOT_SECOND = "IJZ"
_THIRD_A9A = "ABCDEFGHJKPSTUW"
_FOURTH_AA9A = "ABEHMNPRVWXY"
_NOT_INWARD = "CIKMOV"

_EXAMPLE = "e.g. 'B1 1AA' or 'SW1A 1AA'"

# Areas with valid-format postcodes but no place in a GB DNO area, and why.
NON_GB_AREAS: dict[str, str] = {
    "BT": "Northern Ireland (BT) is outside the GB DNO areas: its network is run by NIE "
    "Networks and not charged under the GB DUoS schedules",
    "GY": "Guernsey (GY, Channel Islands) is outside Great Britain and has no GB DNO area",
    "JE": "Jersey (JE, Channel Islands) is outside Great Britain and has no GB DNO area",
    "IM": "the Isle of Man (IM) is outside Great Britain and has no GB DNO area",
}
NON_GEOGRAPHIC_AREAS: dict[str, str] = {
    "BF": "BF is the British Forces Post Office's non-geographic area: it places no site",
    "BX": "BX is Royal Mail's non-geographic area: it places no site",
}

_VALID_CHARS = re.compile(r"^[A-Z0-9]+$")


class PostcodeError(ValueError):
    """A postcode that is malformed or outside GB; the message says why and what to do."""


@dataclass(frozen=True)
class Postcode:
    """A valid GB postcode split into its parts; `corrections` lists any O/0 fixes made."""

    outward: str
    inward: str
    corrections: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        """Postcode area: the leading letters of the outward code (``B``, ``SW``)."""
        return "GIR" if self.outward == "GIR" else re.match(r"[A-Z]+", self.outward).group()

    @property
    def district(self) -> str:
        """Postcode district: the whole outward code (``B1``, ``SW1A``)."""
        return self.outward

    @property
    def sector(self) -> str:
        """Postcode sector: outward code, space, inward digit (``B1 1``)."""
        return f"{self.outward} {self.inward[0]}"

    @property
    def unit(self) -> str:
        """The full postcode in its standard form (``B1 1AA``)."""
        return f"{self.outward} {self.inward}"

    @property
    def compact(self) -> str:
        """The full postcode without the space (``B11AA``), as web services take it."""
        return self.outward + self.inward

    def __str__(self) -> str:
        return self.unit


def _districts() -> frozenset[str]:
    return area_table().districts


def known_areas() -> frozenset[str]:
    """GB postcode areas that have geographic postcodes (from `config/postcode_areas.csv`)."""
    return frozenset(re.match(r"[A-Z]+", d).group() for d in _districts())


def is_known_district(district: str) -> bool:
    """True if the outward code is a GB district in OS Code-Point Open."""
    return district.strip().upper() in _districts()


def _outward_problem(outward: str) -> str | None:
    """Why `outward` breaks the format rules, or None if it keeps them."""
    shape = "".join("A" if c.isalpha() else "9" for c in outward)
    if shape not in OUTWARD_SHAPES:
        return (
            f"outward code {outward!r} has the shape {shape}; a UK outward code is one of "
            f"{', '.join(OUTWARD_SHAPES)} (A = letter, 9 = digit)"
        )
    if outward[0] in _NOT_FIRST:
        return f"outward code {outward!r} starts with {outward[0]!r}; Q, V and X are never first"
    if shape[1] == "A" and outward[1] in _NOT_SECOND:
        return (
            f"outward code {outward!r} has {outward[1]!r} second; I, J and Z are never "
            "the second letter"
        )
    if shape == "A9A" and outward[2] not in _THIRD_A9A:
        return (
            f"outward code {outward!r} ends in {outward[2]!r}; in the A9A shape the last "
            f"letter is one of {_THIRD_A9A}"
        )
    if shape == "AA9A" and outward[3] not in _FOURTH_AA9A:
        return (
            f"outward code {outward!r} ends in {outward[3]!r}; in the AA9A shape the last "
            f"letter is one of {_FOURTH_AA9A}"
        )
    return None


def _fix_inward(inward: str, typed: str) -> tuple[str, tuple[str, ...]]:
    """The inward code with an unambiguous O/0 fix applied, and the fixes made; or raise."""
    corrections: list[str] = []
    digit, letters = inward[0], inward[1:]
    if digit == "O":
        digit = "0"
        corrections.append("read the letter O as the digit 0 in the inward code's first place")
    if not digit.isdigit():
        raise PostcodeError(
            f"postcode {typed!r}: the inward code {inward!r} must start with a digit, "
            f"not {digit!r}; check the last three characters ({_EXAMPLE})"
        )
    for ch in letters:
        if ch == "0":
            raise PostcodeError(
                f"postcode {typed!r}: the inward code {inward!r} ends in two letters; '0' "
                "(zero) is not a letter, and reading it as 'O' does not help because Royal "
                "Mail never uses O there; check the postcode"
            )
        if not ch.isalpha():
            raise PostcodeError(
                f"postcode {typed!r}: the inward code {inward!r} must end in two letters, "
                f"not {ch!r}; check the last two characters ({_EXAMPLE})"
            )
        if ch in _NOT_INWARD:
            raise PostcodeError(
                f"postcode {typed!r}: the inward code {inward!r} uses {ch!r}, a letter "
                f"Royal Mail never uses there (never C, I, K, M, O or V); check the postcode"
            )
    return digit + letters, tuple(corrections)


def parse_postcode(text: str) -> Postcode:
    """Parse and validate a GB postcode typed in any case and spacing; raise PostcodeError."""
    if not isinstance(text, str):
        raise PostcodeError(f"postcode must be text, got {type(text).__name__}")
    typed = text.strip()
    compact = "".join(typed.split()).upper()
    if not compact:
        raise PostcodeError(f"postcode is empty: type the site's postcode, {_EXAMPLE}")
    if not _VALID_CHARS.match(compact):
        bad = sorted({c for c in compact if not c.isalnum() or not c.isascii()})
        raise PostcodeError(
            f"postcode {typed!r} contains {''.join(bad)!r}: a postcode has only letters, "
            f"digits and one space, {_EXAMPLE}"
        )
    if not 5 <= len(compact) <= 7:
        raise PostcodeError(
            f"postcode {typed!r} has {len(compact)} letters and digits; a full UK postcode "
            f"has 5 to 7 (outward code + inward code, {_EXAMPLE}); a district alone "
            "(e.g. 'B1') is not enough"
        )
    outward, inward = compact[:-3], compact[-3:]
    inward, corrections = _fix_inward(inward, typed)
    if outward == "GIR":
        if inward != "0AA":
            raise PostcodeError(f"postcode {typed!r}: GIR is only used in GIR 0AA")
        return Postcode(outward, inward, corrections)
    problem = _outward_problem(outward)
    if problem:
        raise PostcodeError(f"postcode {typed!r}: {problem}; check the first part ({_EXAMPLE})")
    postcode = Postcode(outward, inward, corrections)
    area = postcode.area
    if area in NON_GB_AREAS:
        raise PostcodeError(f"postcode {postcode.unit}: {NON_GB_AREAS[area]}")
    if area in NON_GEOGRAPHIC_AREAS:
        raise PostcodeError(f"postcode {postcode.unit}: {NON_GEOGRAPHIC_AREAS[area]}")
    if area not in known_areas():
        raise PostcodeError(
            f"postcode {typed!r}: there is no GB postcode area {area!r}; check the leading "
            f"letters ({_EXAMPLE})"
        )
    return postcode


def normalise_postcode(text: str) -> str:
    """The standard form ``OUTWARD INWARD`` of a valid GB postcode; raise PostcodeError."""
    return parse_postcode(text).unit


def _letters(excluded: str) -> str:
    return "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in excluded)


# The same format rules as `parse_postcode`, as one regex over the compact form, for columns.
_FIRST, _SECOND, _INWARD = _letters(_NOT_FIRST), _letters(_NOT_SECOND), _letters(_NOT_INWARD)
_COMPACT = re.compile(
    f"(?:[{_FIRST}][0-9]{{1,2}}|[{_FIRST}][{_SECOND}][0-9]{{1,2}}|[{_FIRST}][0-9][{_THIRD_A9A}]"
    f"|[{_FIRST}][{_SECOND}][0-9][{_FOURTH_AA9A}])[0-9][{_INWARD}]{{2}}"
)


def normalise_postcodes(texts: pd.Series) -> pd.DataFrame:
    """Vectorised `parse_postcode` for a column of typed postcodes (same index).

    Columns: postcode (standard form, "" if invalid), district, sector, valid. Case and spaces
    are normalised and an O in the inward digit place read as 0, as `parse_postcode` does;
    a valid format is all this checks (`is_known_district` and the non-GB areas are the
    caller's to check); `parse_postcode` on an invalid one says why.
    """
    typed = texts.astype("string[pyarrow]").fillna("")  # Arrow kernels: no per-row Python
    compact = typed.str.upper()
    for space in (" ", "\t", "\u00a0", "\r"):  # literal replaces stay in Arrow; a regex would not
        compact = compact.str.replace(space, "", regex=False)
    outward, digit, letters = compact.str[:-3], compact.str[-3:-2], compact.str[-2:]
    digit = digit.mask(digit == "O", "0")
    compact = outward + digit + letters
    valid = (compact.str.fullmatch(_COMPACT.pattern) | (compact == "GIR0AA")).to_numpy(bool)
    outward = outward.where(valid, "")
    sector = outward + " " + digit
    return pd.DataFrame({
        "postcode": (sector + letters).where(valid, "").astype(str),
        "district": outward.astype(str),
        "sector": sector.where(valid, "").astype(str),
        "valid": valid,
    }, index=texts.index)
