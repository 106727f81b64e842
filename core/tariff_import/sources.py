"""Find the charging-statement workbooks under reference-data: DNO files and IDNO zip members."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bess_duos.core.tariff_import.workbook import Workbook, read_workbook, read_zip_member

# GSP group letter -> DNO licence area (distributor ID) it lies in.
GSP_GROUP_AREA: dict[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16,
    "H": 20, "J": 19, "K": 21, "L": 22, "M": 23, "N": 18, "P": 17,
}
DNO_AREAS: tuple[int, ...] = tuple(range(10, 24))
_GSP = re.compile(r"(?:GSP\s*_?\s*|LMEL_)([A-P])(?=[\s_\-.])", re.IGNORECASE)
_YEAR = re.compile(r"20\d\d")


@dataclass(frozen=True)
class Source:
    """One workbook: a DNO file (`member` None) or one GSP group's member of an IDNO zip."""

    year: int
    distributor_id: int  # the DNO (10-23) or IDNO (24+) that publishes it
    area: int  # the DNO licence area its tariffs apply in
    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        return Path(self.member).name if self.member else self.path.name

    @property
    def is_idno(self) -> bool:
        return self.member is not None

    def read(self) -> Workbook:
        return read_zip_member(self.path, self.member) if self.member else read_workbook(self.path)


def gsp_letter(member: str) -> str | None:
    """'GSP_B ESP ...', 'GSP _A ...', 'GSP A - ...', 'LMEL_A_April2025.xlsx' -> the group letter."""
    match = _GSP.search(Path(member).name)
    return match.group(1).upper() if match else None


def zip_members(zip_path: Path, year: int) -> tuple[list[tuple[str, int]], list[str]]:
    """([(member, area)], [skipped member: why]) for the .xlsx members of an IDNO bundle.

    A member whose name states another first year (e.g. LMEL_F_April2026.xlsx in the 2025
    bundle) is skipped, as is one whose GSP group cannot be read from its name.
    """
    kept: list[tuple[str, int]] = []
    skipped: list[str] = []
    with zipfile.ZipFile(zip_path) as bundle:
        names = sorted(n for n in bundle.namelist() if n.lower().endswith(".xlsx"))
    for name in names:
        letter = gsp_letter(name)
        years = [int(y) for y in _YEAR.findall(Path(name).name)]
        if letter is None or letter not in GSP_GROUP_AREA:
            skipped.append(f"{name}: no GSP group letter in the name")
        elif years and years[0] != year:
            skipped.append(f"{name}: states year {years[0]}, not {year}")
        else:
            kept.append((name, GSP_GROUP_AREA[letter]))
    return kept, skipped


def find_sources(statements_dir: Path) -> tuple[list[Source], list[str]]:
    """Every workbook under dno-charging-statements/YEAR/DD/, sorted; and what was skipped."""
    sources: list[Source] = []
    skipped: list[str] = []
    for year_dir in sorted(p for p in statements_dir.iterdir() if p.name.isdigit()):
        year = int(year_dir.name)
        for dist_dir in sorted(p for p in year_dir.iterdir() if p.name.isdigit()):
            dist = int(dist_dir.name)
            for path in sorted(dist_dir.iterdir()):
                if path.suffix.lower() == ".xlsx" and dist in DNO_AREAS:
                    sources.append(Source(year, dist, dist, path))
                elif path.suffix.lower() == ".zip":
                    kept, why = zip_members(path, year)
                    sources += [Source(year, dist, area, path, m) for m, area in kept]
                    skipped += [f"{year}/{dist}/{path.name}: {w}" for w in why]
    return sources, skipped
