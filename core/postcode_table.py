"""The offline postcode → DNO area table (`config/postcode_areas.csv`), read with pandas.

One row per postcode district (``B1``) and, for districts split between areas, per sector
(``B1 1``): the majority GSP group, its share of the key's postcodes, the count, and the
runner-up with its share. A postcode is answered by its sector row if there is one, else by
its district row; a row whose majority share is under 90% is *uncertain*. Built from NESO's
licence-area polygons and OS Code-Point Open by `core/postcode_table_build.py`; no geometry
is needed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from bess_duos.core.paths import config_dir

__all__ = [
    "COLUMNS",
    "TABLE_FILE",
    "UNCERTAIN_BELOW",
    "PostcodeAreaTable",
    "TableRow",
    "area_table",
]

TABLE_FILE = "postcode_areas.csv"
COLUMNS = ("key", "gsp_group_id", "share", "postcodes", "runner_up", "runner_up_share")
UNCERTAIN_BELOW = 0.9  # a majority share under this is "uncertain"


@dataclass(frozen=True)
class TableRow:
    """One row of the table: the key (district or sector) and what it says."""

    key: str
    gsp_group_id: str
    share: float
    postcodes: int
    runner_up: str  # "" when every postcode of the key is in one area
    runner_up_share: float

    @property
    def level(self) -> str:
        """``sector`` (``B1 1``) or ``district`` (``B1``)."""
        return "sector" if " " in self.key else "district"

    @property
    def uncertain(self) -> bool:
        """True if the majority share is under 90%."""
        return self.share < UNCERTAIN_BELOW

    @property
    def candidates(self) -> tuple[str, ...]:
        """The majority area, then the runner-up if any."""
        return (self.gsp_group_id, self.runner_up) if self.runner_up else (self.gsp_group_id,)

    @property
    def shares(self) -> tuple[float, ...]:
        """The shares of `candidates`."""
        return (self.share, self.runner_up_share) if self.runner_up else (self.share,)


class PostcodeAreaTable:
    """The table, indexed by key; answers one postcode or a whole column of them."""

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"postcode area table lacks column(s) {missing}; rebuild it with "
                             "`bess-duos postcode build`")
        frame = frame.loc[:, list(COLUMNS)].copy()
        frame["runner_up"] = frame["runner_up"].fillna("").astype(str)
        frame["runner_up_share"] = frame["runner_up_share"].fillna(0.0).astype(float)
        frame["uncertain"] = frame["share"] < UNCERTAIN_BELOW
        frame["level"] = np.where(frame["key"].str.contains(" ", regex=False), "sector",
                                  "district")
        self.frame = frame.reset_index(drop=True)
        self._index = pd.Index(self.frame["key"])
        districts = self.frame.loc[self.frame["level"] == "district", "key"]
        self.districts: frozenset[str] = frozenset(districts)

    @classmethod
    def read(cls, path: Path) -> PostcodeAreaTable:
        """Read the CSV (``#`` lines are its header notes)."""
        frame = pd.read_csv(path, comment="#", dtype={"key": str, "gsp_group_id": str,
                                                      "runner_up": str},
                            keep_default_na=False, na_values={"runner_up_share": [""]})
        return cls(frame)

    def row(self, district: str, sector: str) -> TableRow | None:
        """The sector's row if the table has one, else the district's, else None."""
        for key in (sector, district):
            pos = self._index.get_indexer([key])[0]
            if pos >= 0:
                r = self.frame.iloc[pos]
                return TableRow(r["key"], r["gsp_group_id"], float(r["share"]),
                                int(r["postcodes"]), r["runner_up"], float(r["runner_up_share"]))
        return None

    def district_split(self, district: str) -> bool:
        """True if the district's postcodes fall in more than one area."""
        row = self.row(district, district)
        return bool(row and row.runner_up)

    def lookup_keys(self, districts: pd.Series, sectors: pd.Series) -> pd.DataFrame:
        """Vectorised `row`: one output row per input, sector key first, then district.

        Columns: key, level, gsp_group_id, share, postcodes, runner_up, runner_up_share,
        uncertain, found. A key not in the table gives found=False, uncertain=True.
        """
        s_pos = self._index.get_indexer(pd.Index(sectors.fillna("")))
        d_pos = self._index.get_indexer(pd.Index(districts.fillna("")))
        pos = np.where(s_pos >= 0, s_pos, d_pos)
        found = pos >= 0
        picked = self.frame.take(np.where(found, pos, 0)).reset_index(drop=True)
        picked["found"] = found
        for column, empty in (("key", ""), ("level", ""), ("gsp_group_id", ""), ("runner_up", "")):
            picked.loc[~found, column] = empty
        picked.loc[~found, ["share", "runner_up_share"]] = np.nan
        picked.loc[~found, "postcodes"] = 0
        picked.loc[~found, "uncertain"] = True
        picked.index = districts.index
        return picked


@lru_cache(maxsize=4)
def _read(path: Path, mtime: float) -> PostcodeAreaTable:
    return PostcodeAreaTable.read(path)


def area_table(path: Path | str | None = None) -> PostcodeAreaTable:
    """The shipped table (or the one at `path`), read once per file version."""
    path = Path(path) if path else config_dir() / TABLE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"postcode area table missing: {path}; rebuild it with "
                                "`bess-duos postcode build` (needs the `build` extra)")
    return _read(path, path.stat().st_mtime)
