"""Many postcodes → DNO areas at once: the offline table as a column operation, then the
online lookup only for the rows the table leaves uncertain (or does not know).

`table_areas(texts)` normalises, validates and looks up a whole column with pandas (no
per-row Python for the postcodes the table answers); `settle_online(frame, lookup)` asks an
`AreaLookup` about the uncertain and unknown rows, once per distinct postcode.
"""

from __future__ import annotations

import pandas as pd
from bess_duos.core.area_resolver import (
    AreaLookup,
    AreaLookupError,
    ServiceUnavailableError,
    UnknownDistrictError,
)
from bess_duos.core.distributors import all_distributors
from bess_duos.core.postcode_table import PostcodeAreaTable, area_table
from bess_duos.core.postcodes import PostcodeError, normalise_postcodes, parse_postcode

__all__ = ["OUTPUT_COLUMNS", "settle_online", "table_areas"]

OUTPUT_COLUMNS = ("input", "postcode", "status", "gsp_group_id", "distributor_id", "decided_by",
                  "key", "share", "runner_up", "runner_up_share", "message")


def _distributor_ids() -> dict[str, int]:
    return {d.gsp_group_id: d.distributor_id for d in all_distributors() if not d.is_idno}


def table_areas(texts: pd.Series, table: PostcodeAreaTable | None = None) -> pd.DataFrame:
    """One row per input: the table's area, how it decided (``table:sector`` or
    ``table:district``), the share and runner-up, and a status: ``ok``, ``uncertain`` (share
    under 90%), ``invalid`` (with the reason) or ``unknown_district``."""
    table = table or area_table()
    parsed = normalise_postcodes(texts)
    found = table.lookup_keys(parsed["district"], parsed["sector"])
    out = pd.DataFrame({
        "input": texts.fillna("").astype(str),
        "postcode": parsed["postcode"],
        "status": "ok",
        "gsp_group_id": found["gsp_group_id"],
        "distributor_id": found["gsp_group_id"].map(_distributor_ids()).astype("Int64"),
        "decided_by": ("table:" + found["level"]).where(found["found"], ""),
        "key": found["key"],
        "share": found["share"],
        "runner_up": found["runner_up"],
        "runner_up_share": found["runner_up_share"].where(found["runner_up"] != ""),
        "message": "",
    }, index=texts.index)
    out.loc[found["uncertain"], "status"] = "uncertain"
    missing = ~found["found"].to_numpy()
    out.loc[missing, "status"] = "unknown_district"
    # Why each unanswered input failed: parse_postcode once per distinct text (a few rows).
    reasons: dict[str, str] = {}
    for text in pd.unique(out.loc[missing, "input"]):
        try:
            pc = parse_postcode(text)
        except PostcodeError as exc:
            reasons[text] = str(exc)
        else:
            reasons[text] = f"unknown district {pc.district}: not in OS Code-Point Open"
    reason = out.loc[missing, "input"].map(reasons)
    out.loc[missing, "message"] = reason
    out.loc[reason.index[~reason.str.startswith("unknown district")], "status"] = "invalid"
    return out.loc[:, list(OUTPUT_COLUMNS)]


def settle_online(frame: pd.DataFrame, lookup: AreaLookup, *, online: bool = True) -> int:
    """Ask `lookup` about the ``uncertain`` and ``unknown_district`` rows of `frame` (in place),
    once per postcode; after a service is found unavailable, only the cache. Returns how many
    rows it settled."""
    todo = frame["status"].isin(["uncertain", "unknown_district"])
    ids = _distributor_ids()
    settled = 0
    for postcode in pd.unique(frame.loc[todo, "postcode"]):
        rows = todo & (frame["postcode"] == postcode)
        try:
            result = lookup.lookup(postcode, online=online)
        except ServiceUnavailableError as exc:
            online = False
            frame.loc[rows, "message"] = str(exc)
            continue
        except UnknownDistrictError:
            continue
        except AreaLookupError as exc:
            frame.loc[rows, ["status", "message"]] = ["not_found", str(exc)]
            continue
        if result.uncertain:
            continue
        frame.loc[rows, ["status", "gsp_group_id", "distributor_id", "decided_by", "message"]] = [
            "ok", result.gsp_group_id, ids[result.gsp_group_id], result.source,
            "; ".join(result.warnings),
        ]
        settled += int(rows.sum())
    return settled
