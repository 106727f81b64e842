"""MPANs: parse what people type, check digits (scalar and vectorised), and generation.

An MPAN core is 13 digits: distributor ID (2) + identifier (10) + check digit (1), where
check = (sum of the first 12 digits times 3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43) mod 11
mod 10. A full MPAN puts an 8-character top line first: profile class (2 digits), meter
timeswitch class (MTC, 3 digits) and line loss factor class (LLFC, 3 characters).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from bess_duos.core.distributors import (
    Distributor,
    UnknownDistributorError,
    distributor_ids,
    get_distributor,
)
from bess_duos.core.plain import fields_of

PRIMES = np.array([3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43], dtype=np.int64)
_PRIMES_LIST = [int(p) for p in PRIMES]
CORE_LENGTH = 13
TOP_LINE_LENGTH = 8
# Elexon MDD 377 Profile_Class_377.csv (classes 1-8); 00 = half-hourly settled.
PROFILE_CLASSES: dict[str, str] = {
    "00": "Half-hourly",
    "01": "Domestic Unrestricted",
    "02": "Domestic Economy 7",
    "03": "Non-domestic Unrestricted",
    "04": "Non-domestic Economy 7",
    "05": "Non-domestic, MD, load factor 0-20%",
    "06": "Non-domestic, MD, load factor 20-30%",
    "07": "Non-domestic, MD, load factor 30-40%",
    "08": "Non-domestic, MD, load factor 40%+",
}
DEFAULT_MTC = "845"  # a half-hourly MTC valid in every DNO area (MDD 377 MTC_in_PES_Area)
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_]+")
_FORMS = "a 13-digit core (e.g. 1405566778899) or a full MPAN (8-character top line + core)"
# A full MPAN is 21 characters; with spaces, dashes, an `S` prefix and a pasted label it is
# still well under this. Longer text is refused before any pattern sees it.
MAX_MPAN_CHARS = 64
# A number as the sheet shows it: 1.40556677889E+12, 1405566778899.0 (linear-time: every
# branch is unambiguous, so a long run of digits that does not match fails in one pass).
_NUMBER_TEXT = re.compile(
    r"(?P<mantissa>[+-]?(?:\d+(?:\.\d*)?|\.\d+))[eE](?P<exponent>[+-]?\d+)|\d+\.\d+"
)
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.0+)?")
_SCIENTIFIC = re.compile(r"\d[.,]\d*E\+?\d+$", flags=re.IGNORECASE)  # a number the sheet rounded


class MpanError(ValueError):
    """The text is not a usable MPAN; the message names the problem and what to do."""


def _check_length(text: str) -> None:
    """Refuse text too long to be an MPAN before any parsing (every pattern stays cheap)."""
    if len(text) > MAX_MPAN_CHARS:
        raise MpanError(
            f"MPAN is {len(text):,} characters long: at most {MAX_MPAN_CHARS} are accepted; "
            f"type {_FORMS}"
        )


def expected_check_digit(first12: str) -> int:
    """The check digit for the first 12 digits of a core."""
    return sum(p * int(d) for p, d in zip(_PRIMES_LIST, first12, strict=True)) % 11 % 10


@dataclass(frozen=True)
class Mpan:
    """A parsed MPAN. `check_digit_valid` False means the core's last digit is wrong."""

    core: str
    distributor_id: int
    identifier: str  # core digits 3-12
    check_digit: int
    check_digit_valid: bool
    expected_check_digit: int
    profile_class: str | None = None
    mtc: str | None = None
    llfc: str | None = None
    ignored_prefix: str | None = None  # pasted digits before the core that are not a top line

    @property
    def distributor(self) -> Distributor:
        """The distributor named by the first two digits."""
        return get_distributor(self.distributor_id)

    @property
    def top_line(self) -> str | None:
        """Profile class + MTC + LLFC (8 characters), when the input had them."""
        if self.profile_class is None:
            return None
        return f"{self.profile_class}{self.mtc}{self.llfc}"

    @property
    def full(self) -> str | None:
        """The 21-character MPAN (top line + core) when the top line is known."""
        return None if self.top_line is None else self.top_line + self.core

    def formatted(self) -> str:
        """Human form: `00 845 121 14 0556 6778 899` (top line only when known)."""
        c = self.core
        core = f"{c[:2]} {c[2:6]} {c[6:10]} {c[10:]}"
        if self.profile_class is None:
            return core
        return f"{self.profile_class} {self.mtc} {self.llfc} {core}"

    def masked(self) -> str:
        """The core for logs: first 2 and last 2 digits kept, the middle masked."""
        return self.core[:2] + "*" * (CORE_LENGTH - 4) + self.core[-2:]

    def to_dict(self) -> dict[str, Any]:
        """The fields (plain JSON values) plus the distributor's name, codes and area."""
        d = self.distributor
        out: dict[str, Any] = fields_of(self)
        out["top_line"] = self.top_line
        out["profile_class_description"] = (
            PROFILE_CLASSES.get(self.profile_class) if self.profile_class else None
        )
        out.update(
            distributor_name=d.name, short_code=d.short_code, mpid=d.mpid,
            gsp_group_id=d.gsp_group_id, gsp_group_name=d.gsp_group_name,
            is_idno=d.is_idno, area=d.area,
        )
        return out


_DIGITS = "0123456789"


def _first_bad_char(text: str, allowed: str = _DIGITS) -> str | None:
    if allowed == _DIGITS and text.isascii() and text.isdigit():  # ASCII digits are 0-9
        return None
    return next((ch for ch in text if ch not in allowed), None)


def _compact(text: str) -> str:
    """Drop spaces, newlines, dashes and an `S` prefix."""
    s = text.strip()
    if s[:1] in ("S", "s"):
        s = s[1:]
    return _SEPARATORS.sub("", s)


def parse_mpan(value: str | int) -> Mpan:
    """Parse a core, a full MPAN, or a longer pasted string ending in the core.

    A wrong check digit is reported (`check_digit_valid`, `expected_check_digit`), not
    raised; use `validate_mpan` to treat it as an error. Raises `MpanError` for wrong
    length, non-digits, an unknown distributor or a bad profile class.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, str | int | np.integer):
        if isinstance(value, float):
            raise MpanError(
                f"MPAN given as a number {value!r}: use mpan_from_cell() for spreadsheet values, "
                "or pass the digits as text"
            )
        raise MpanError(f"MPAN must be text or an integer, not {type(value).__name__}")
    if not isinstance(value, str) and value < 0:
        raise MpanError(f"MPAN {value} is negative: expected {_FORMS}")
    if not isinstance(value, str) and value >= 10**MAX_MPAN_CHARS:
        raise MpanError(f"MPAN number has over {MAX_MPAN_CHARS} digits: expected {_FORMS}")
    text = str(value)
    _check_length(text)
    if not text.strip():
        raise MpanError(f"MPAN is empty: type {_FORMS}")
    s = _compact(text)
    if _SCIENTIFIC.search(s):
        raise MpanError(
            f"MPAN {text.strip()!r} is in scientific notation: the spreadsheet rounded it; "
            "format the cell as plain text and type the MPAN again"
        )
    if len(s) < CORE_LENGTH:
        raise MpanError(
            f"MPAN too short: {len(s)} characters after removing spaces and dashes; "
            f"expected {_FORMS}"
        )
    core, prefix = s[-CORE_LENGTH:], s[:-CORE_LENGTH]
    bad = _first_bad_char(core)
    if bad is not None:
        raise MpanError(
            f"MPAN core {core!r} has a non-digit character {bad!r}: the last 13 characters "
            "must be digits"
        )
    profile_class = mtc = llfc = ignored = None
    if len(prefix) == TOP_LINE_LENGTH:
        profile_class, mtc, llfc = prefix[:2], prefix[2:5], prefix[5:].upper()
        if _first_bad_char(profile_class) is not None or profile_class not in PROFILE_CLASSES:
            raise MpanError(
                f"bad profile class {profile_class!r} in top line {prefix!r}: expected 00 "
                "(half-hourly) or 01-08"
            )
        bad = _first_bad_char(mtc)
        if bad is not None:
            raise MpanError(f"MTC {mtc!r} in top line {prefix!r} has a non-digit {bad!r}")
        bad = _first_bad_char(llfc, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if bad is not None:
            raise MpanError(f"LLFC {llfc!r} in top line {prefix!r} has a bad character {bad!r}")
    elif prefix:
        bad = _first_bad_char(prefix)
        if bad is not None:
            raise MpanError(
                f"MPAN {text.strip()!r} has a non-digit character {bad!r} before the core: "
                f"expected {_FORMS}"
            )
        if len(prefix) < TOP_LINE_LENGTH:
            raise MpanError(
                f"MPAN has {len(s)} digits: a core has 13 and a full MPAN 21 "
                "(8-character top line + core); check for a missing or extra digit"
            )
        ignored = prefix
    did = int(core[:2])
    if did not in distributor_ids():
        raise MpanError(
            f"unknown distributor ID {core[:2]} in MPAN core {core}: distributors are 10-23 "
            "(DNO areas) and the IDNO IDs from 24 listed by `bess-duos dno list`"
        )
    expected = expected_check_digit(core[:12])
    return Mpan(
        core=core, distributor_id=did, identifier=core[2:12], check_digit=int(core[12]),
        check_digit_valid=int(core[12]) == expected, expected_check_digit=expected,
        profile_class=profile_class, mtc=mtc, llfc=llfc, ignored_prefix=ignored,
    )


def validate_mpan(value: str | int) -> Mpan:
    """Like `parse_mpan`, but a wrong check digit raises `MpanError` too."""
    m = parse_mpan(value)
    if not m.check_digit_valid:
        raise MpanError(
            f"bad check digit in MPAN core {m.core}: the last digit is {m.check_digit}, but the "
            f"check digit for {m.core[:12]} is {m.expected_check_digit}; check the MPAN is "
            "copied correctly"
        )
    return m


def mpan_from_cell(value: object) -> Mpan:
    """Parse a spreadsheet cell value; numbers only if exactly integral with 13 digits.

    Sheets turns a typed MPAN into a number, which loses digits once it is shown in
    scientific notation ("1.40556677889E+12") or exceeds 15-16 significant digits.
    """
    rounded = (
        "the sheet stored the MPAN as a number and rounded it; format the cell as plain "
        "text (Format > Number > Plain text) and type the MPAN again"
    )
    if isinstance(value, bool | np.bool_):
        raise MpanError(f"MPAN cell holds a boolean {value!r}, not an MPAN")
    if isinstance(value, np.integer | np.floating):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise MpanError(f"MPAN cell value {value!r} is not a whole number: {rounded}")
        if not 10**12 <= value < 10**13:
            raise MpanError(f"MPAN cell value {value!r} is not a 13-digit number: {rounded}")
        return validate_mpan(str(int(value)))
    if isinstance(value, int):
        if not 10**12 <= value < 10**13:
            raise MpanError(f"MPAN cell value {value!r} is not a 13-digit number: {rounded}")
        return validate_mpan(str(value))
    if isinstance(value, str):
        _check_length(value)
        s = value.strip()
        if _THOUSANDS.fullmatch(s):  # a number shown with thousands commas
            s = s.replace(",", "")
        if number := _NUMBER_TEXT.fullmatch(s):
            exponent = number.group("exponent")
            if exponent is not None and abs(int(exponent)) > 2 * CORE_LENGTH:
                raise MpanError(f"MPAN cell value {s!r} is not a 13-digit whole number: "
                                f"{rounded}")
            try:
                num = Decimal(s)
            except InvalidOperation as exc:  # pragma: no cover - regex admits only decimals
                raise MpanError(f"MPAN cell value {s!r} is not a number: {rounded}") from exc
            mantissa_digits = len(num.normalize().as_tuple().digits)
            exact = num == num.to_integral_value() and 10**12 <= num < 10**13
            if "e" in s.lower() and mantissa_digits < CORE_LENGTH and exact:
                raise MpanError(f"MPAN cell value {s!r} shows only {mantissa_digits} "
                                f"significant digits: {rounded}")
            if not exact:
                raise MpanError(f"MPAN cell value {s!r} is not a 13-digit whole number: {rounded}")
            return validate_mpan(str(int(num)))
        return validate_mpan(s)
    raise MpanError(f"MPAN cell holds {type(value).__name__} {value!r}, not an MPAN")


# --- vectorised ---------------------------------------------------------------------------

def _digit_matrix(cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 13) int digits and an ok-mask (exactly 13 ASCII digits) for str/bytes/int arrays."""
    a = np.asarray(cores)
    if a.ndim != 1:
        a = a.reshape(-1)
    n = a.shape[0]
    if a.dtype.kind in "iu":
        v = a.astype(np.int64)
        ok = (v >= 10**12) & (v < 10**13)
        powers = 10 ** np.arange(12, -1, -1, dtype=np.int64)
        digits = (v[:, None] // powers) % 10
        return digits, ok
    if a.dtype.kind == "O":
        a = a.astype(str)
    if a.dtype.kind == "U":
        width = a.dtype.itemsize // 4
        codes = np.ascontiguousarray(a).view(np.uint32).reshape(n, width)
    elif a.dtype.kind == "S":
        width = a.dtype.itemsize
        codes = np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8).reshape(n, width)
    else:
        raise MpanError(f"cores must be strings or integers, not dtype {a.dtype}")
    if width < CORE_LENGTH:
        return np.zeros((n, CORE_LENGTH), np.int64), np.zeros(n, bool)
    digits = codes[:, :CORE_LENGTH].astype(np.int16) - 48
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1)
    if width > CORE_LENGTH:
        ok &= (codes[:, CORE_LENGTH:] == 0).all(axis=1)
    return digits, ok


def _check_digits(digits: np.ndarray) -> np.ndarray:
    return (digits[:, :12].astype(np.int64) @ PRIMES) % 11 % 10


def _int_cores_valid(v: np.ndarray) -> np.ndarray:
    """Check digits of int64 cores by peeling digits off the right (13 whole-array steps)."""
    rest, check = np.divmod(v, 10)
    acc = np.zeros_like(v)
    for prime in _PRIMES_LIST[::-1]:
        rest, digit = np.divmod(rest, 10)
        acc += digit * prime
    return (v >= 10**12) & (v < 10**13) & (acc % 11 % 10 == check)


def check_digits_valid(cores: np.ndarray) -> np.ndarray:
    """Bool per core: exactly 13 digits and the check digit right (distributor not checked)."""
    a = np.asarray(cores)
    if a.dtype.kind in "iu":
        return _int_cores_valid(a.reshape(-1).astype(np.int64))
    digits, ok = _digit_matrix(a)
    return ok & (_check_digits(digits) == digits[:, 12])


def cores_valid(cores: np.ndarray) -> np.ndarray:
    """Bool per core: `check_digits_valid` and a known distributor ID."""
    digits, ok = _digit_matrix(cores)
    known = np.zeros(100, bool)
    known[list(distributor_ids())] = True
    did = np.clip(digits[:, 0].astype(np.int64) * 10 + digits[:, 1], 0, 99)
    return ok & known[did] & (_check_digits(digits) == digits[:, 12])


# --- generation ---------------------------------------------------------------------------

def _require_distributor(distributor_id: int) -> Distributor:
    try:
        return get_distributor(int(distributor_id))
    except (UnknownDistributorError, ValueError, TypeError) as exc:
        raise MpanError(f"cannot generate an MPAN: {exc}") from exc


def _cores_from_identifiers(distributor_id: int, identifiers: np.ndarray) -> np.ndarray:
    """'<U13' cores from a distributor ID and 10-digit identifiers (int64)."""
    base = np.int64(distributor_id) * 10**10 + identifiers.astype(np.int64)
    powers = 10 ** np.arange(11, -1, -1, dtype=np.int64)
    digits = np.empty((base.shape[0], CORE_LENGTH), np.uint32)
    digits[:, :12] = (base[:, None] // powers) % 10
    digits[:, 12] = (digits[:, :12].astype(np.int64) @ PRIMES) % 11 % 10
    return (digits + 48).view("<U13").reshape(-1)


def generate_cores(n: int, distributor_id: int, seed: int | None = None) -> np.ndarray:
    """`n` unique valid cores of one distributor ('<U13' array), reproducible with `seed`."""
    _require_distributor(distributor_id)
    if not 0 <= n <= 10**10:
        raise MpanError(f"n must be between 0 and 10,000,000,000 (got {n})")
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(0, 10**10, size=n, dtype=np.int64))
    while ids.size < n:  # top up after the rare duplicate draws
        more = rng.integers(0, 10**10, size=n - ids.size, dtype=np.int64)
        ids = np.unique(np.concatenate([ids, more]))
    ids = rng.permutation(ids)
    return _cores_from_identifiers(distributor_id, ids)


def generate_core(distributor_id: int, rng: np.random.Generator | None = None) -> str:
    """One valid core for `distributor_id`."""
    _require_distributor(distributor_id)
    rng = rng if rng is not None else np.random.default_rng()
    ident = rng.integers(0, 10**10, size=1, dtype=np.int64)
    return str(_cores_from_identifiers(distributor_id, ident)[0])


def generate_full_mpan(
    distributor_id: int,
    rng: np.random.Generator | None = None,
    profile_class: str = "00",
    mtc: str = DEFAULT_MTC,
    llfc: str | None = None,
) -> str:
    """A 21-character MPAN: top line (profile class, MTC, an LLFC of that distributor) + core."""
    d = _require_distributor(distributor_id)
    rng = rng if rng is not None else np.random.default_rng()
    if llfc is None:
        if not d.example_llfcs:
            raise MpanError(
                f"no LLFC known for distributor {d.distributor_id} ({d.name}): pass llfc="
            )
        llfc = d.example_llfcs[int(rng.integers(len(d.example_llfcs)))]
    top = f"{profile_class}{mtc}{llfc}"
    if (len(profile_class), len(mtc), len(llfc)) != (2, 3, 3):
        raise MpanError(f"top line {top!r} must be profile class (2) + MTC (3) + LLFC (3)")
    full = top + generate_core(distributor_id, rng)
    parse_mpan(full)  # raises MpanError on a bad profile class, MTC or LLFC
    return full


def generate_full_mpans(
    n: int, distributor_id: int, seed: int | None = None, profile_class: str = "00",
    mtc: str = DEFAULT_MTC,
) -> np.ndarray:
    """`n` full MPANs with unique cores; LLFCs drawn from the distributor's examples."""
    d = _require_distributor(distributor_id)
    if not d.example_llfcs:
        raise MpanError(f"no LLFC known for distributor {d.distributor_id} ({d.name})")
    cores = generate_cores(n, distributor_id, seed)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    llfcs = np.array(d.example_llfcs, dtype="<U3")[rng.integers(len(d.example_llfcs), size=n)]
    generate_full_mpan(distributor_id, rng, profile_class, mtc, d.example_llfcs[0])  # checks
    return np.char.add(np.char.add(f"{profile_class}{mtc}", llfcs), cores)


# --- the seed toolkit's names, kept working ----------------------------------------------
# Its argument names and return shapes (see ../shared/seed/README.md); the top-level module
# `mpan_generator_validator` re-exports them. Distributor IDs may be strings ('14') or ints.

DNO_AREA_IDS: tuple[int, ...] = tuple(range(10, 24))  # the 14 DNO licence areas


def dno_map() -> dict[str, str]:
    """Seed's `DNO_MAP`: distributor ID as text ('10'..'23') -> DNO name (config)."""
    return {f"{d}": get_distributor(d).name for d in DNO_AREA_IDS}


def _seed_distributor(dno_id: int | str) -> int:
    try:
        return int(str(dno_id).strip())
    except ValueError:
        raise MpanError(
            f"dno_id {dno_id!r} is not a distributor ID: give its two digits, e.g. '14'"
        ) from None


def mpan_check_digit(first_12_digits: str) -> int:
    """Seed name: the check digit of the first 12 digits of a core (ValueError unless 12
    digits)."""
    text = str(first_12_digits)
    if len(text) != 12 or not text.isdigit():
        raise MpanError(f"first_12_digits must be 12 digits, got {first_12_digits!r}")
    return expected_check_digit(text)


def generate_valid_mpan_core(dno_id: int | str | None = None) -> str:
    """Seed name: one valid core for `dno_id` ('14' or 14), a random DNO area 10-23 if None."""
    rng = np.random.default_rng()
    if dno_id is None:
        dno_id = int(rng.choice(DNO_AREA_IDS))
    return generate_core(_seed_distributor(dno_id), rng)


def is_valid_mpan_core(core: str | int) -> bool:
    """Seed name: True if `core` is 13 digits, a known distributor and the right check digit."""
    try:
        m = parse_mpan(core)
    except MpanError:
        return False
    return m.ignored_prefix is None and m.top_line is None and m.check_digit_valid


def generate_batch_valid_mpans(
    count: int, dno_id: int | str | None = None, seed: int | None = None
) -> list[str]:
    """Seed name: `count` unique valid cores for `dno_id` as a list; with no `dno_id` each
    core's DNO area (10-23) is drawn at random."""
    if dno_id is not None:
        return generate_cores(count, _seed_distributor(dno_id), seed).tolist()
    rng = np.random.default_rng(seed)
    areas = rng.choice(np.array(DNO_AREA_IDS), size=count)
    out = np.empty(count, dtype="<U13")
    for area in np.unique(areas):
        where = areas == area
        out[where] = generate_cores(int(where.sum()), int(area), int(rng.integers(2**31)))
    return out.tolist()


def extract_core_from_full_mpan(text: str) -> str:
    """Seed name: the 13-digit core from whatever was pasted."""
    return parse_mpan(text).core


def mpan_core_lookup(core: str | int) -> dict[str, Any]:
    """Seed name and keys: `core`, `dno_id` ('14'), `dno_name`, `is_valid`, `checksum` and
    `expected_checksum` (digits as text), then the parsed fields of `Mpan.to_dict()`.

    MpanError (a ValueError) unless 13 digits. A core whose first two digits name no
    distributor is not valid and its `dno_name` says so (the seed said "Unknown DNO").
    """
    text = str(core).strip()
    if len(text) != CORE_LENGTH or not text.isdigit():
        raise MpanError(f"an MPAN core is 13 digits, got {core!r}")
    out: dict[str, Any] = {
        "core": text,
        "dno_id": text[:2],
        "checksum": text[-1],
        "expected_checksum": str(expected_check_digit(text[:12])),
    }
    try:
        m = parse_mpan(text)
    except MpanError:
        return {**out, "dno_name": f"unknown distributor {text[:2]}", "is_valid": False}
    return {**out, "dno_name": m.distributor.name, "is_valid": m.check_digit_valid,
            **{k: v for k, v in m.to_dict().items() if k != "core"}}


def format_mpan_display(core: str | int) -> str:
    """Seed name: the core as printed on bills, 'S 14 0556 6778 899' (2-4-4-3 digits; the
    seed grouped it 2-3-4-2-2)."""
    return f"S {parse_mpan(core).formatted()}"
