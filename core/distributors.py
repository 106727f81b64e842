"""GB electricity distributors: the 14 DNO licence areas (IDs 10-23) and the IDNOs (24 and up).

Data: `config/distributors.csv`, built from Elexon MDD 377 by `core.distributors_import`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bess_duos.core.paths import config_dir

IDNO_NO_AREA = (
    "IDNO: operates in every GSP group, so it has no single area; use the postcode or GSP group"
)


@dataclass(frozen=True)
class Distributor:
    """One distributor: a DNO with its GSP group, or an IDNO (no single area: GSP fields None)."""

    distributor_id: int
    name: str
    short_code: str  # brand code, e.g. "NGED-WM"; for IDNOs their MPID
    mpid: str  # market participant ID, e.g. "MIDE"
    gsp_group_id: str | None  # "_E" for DNO areas; None for IDNOs
    gsp_group_name: str | None  # MDD 377 GSP group name, e.g. "Midlands"
    is_idno: bool
    example_llfcs: tuple[str, ...] = field(default=(), compare=False)  # current HH LLFCs (MDD)
    note: str = field(default="", compare=False)

    @property
    def area(self) -> str:
        """The GSP group as `"_E Midlands"`, or the IDNO no-single-area statement."""
        if self.is_idno:
            return IDNO_NO_AREA
        return f"{self.gsp_group_id} {self.gsp_group_name}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly fields (the sheet's C6:H6 order first), with `area`."""
        return {
            "distributor_id": self.distributor_id,
            "name": self.name,
            "short_code": self.short_code,
            "mpid": self.mpid,
            "gsp_group_id": self.gsp_group_id,
            "gsp_group_name": self.gsp_group_name,
            "is_idno": self.is_idno,
            "area": self.area,
        }


class UnknownDistributorError(ValueError):
    """No distributor has that ID, MPID or short code."""


def _load(path: Path) -> tuple[Distributor, ...]:
    with open(path, encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    out = []
    for row in csv.DictReader(lines):
        is_idno = row["is_idno"] == "True"
        out.append(Distributor(
            distributor_id=int(row["distributor_id"]),
            name=row["name"],
            short_code=row["short_code"],
            mpid=row["mpid"],
            gsp_group_id=None if is_idno else row["gsp_group_id"],
            gsp_group_name=None if is_idno else row["gsp_group_name"],
            is_idno=is_idno,
            example_llfcs=tuple(row["example_hh_llfcs"].split()),
            note=row["note"],
        ))
    return tuple(out)


_Tables = tuple[tuple["Distributor", ...], dict[str, "Distributor"], frozenset[int]]


@lru_cache(maxsize=4)
def _tables(path: Path) -> _Tables:
    """(the rows, the rows by ID, MPID and short code, the IDs)."""
    rows = _load(path)
    index: dict[str, Distributor] = {}
    for d in rows:
        for key in (str(d.distributor_id), d.mpid.upper(), d.short_code.upper()):
            index.setdefault(key, d)
    return rows, index, frozenset(d.distributor_id for d in rows)


def _current() -> _Tables:
    return _tables(_csv_path(config_dir()))


@lru_cache(maxsize=4)
def _csv_path(config: Path) -> Path:
    return config / "distributors.csv"


def all_distributors() -> list[Distributor]:
    """Every distributor in `config/distributors.csv`, in ID order."""
    return list(_current()[0])


def distributor_ids() -> frozenset[int]:
    """The set of distributor IDs in use (the first two digits of a valid MPAN core)."""
    return _current()[2]


def get_distributor(key: int | str) -> Distributor:
    """Look up by ID (14 or "14"), MPID ("MIDE") or short code ("NGED-WM"), case-insensitive."""
    text = _index_key(key)
    found = _current()[1].get(text)
    if found is None:
        raise UnknownDistributorError(
            f"unknown distributor {key!r}: give an ID (10-23 DNO areas, 24+ IDNOs), an MPID such "
            "as MIDE or a short code such as NGED-WM; `bess-duos dno list` shows them all"
        )
    return found


def _index_key(key: int | str) -> str:
    """`key` as the index of `_tables` spells it: an ID without leading zeros, else upper case."""
    if type(key) is int:  # the common case (an MPAN's distributor ID): its digits as they are
        return str(key)
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise UnknownDistributorError(
            f"distributor key must be an ID, MPID or short code, not {key!r}"
        )
    text = str(key).strip().upper()
    return str(int(text)) if text.isdigit() else text


def dno_for_gsp_group(gsp_group_id: str) -> Distributor:
    """The DNO (ID 10-23) of a GSP group; accepts "_E", "E" or "e"."""
    text = str(gsp_group_id).strip().upper()
    gid = text if text.startswith("_") else "_" + text
    for d in _current()[0]:
        if not d.is_idno and d.gsp_group_id == gid:
            return d
    known = ", ".join(sorted(d.gsp_group_id or "" for d in _current()[0] if not d.is_idno))
    raise UnknownDistributorError(f"unknown GSP group {gsp_group_id!r}: expected one of {known}")
