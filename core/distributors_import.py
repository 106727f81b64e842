"""Build `config/distributors.csv` from Elexon Market Domain Data (MDD) version 377.

Run: `python -m bess_duos.core.distributors_import [MDD_DIR] [OUT_CSV]` (defaults: the shared
reference data's `mdd-377/` and `config/distributors.csv`).

What comes from where:
- every distributor ID, MPID and effective dates: Market_Participant_Role_377.csv, role R
  ("Distributor Short Code" is the 2-digit distributor ID that starts an MPAN core);
- MDD participant names: Market_Participant_377.csv;
- GSP group names: GSP_Group_377.csv;
- example half-hourly LLFCs (for realistic generated MPANs): Line_Loss_Factor_Class_377.csv;
- the 14 DNO areas' current licensee names, brand short codes and GSP group IDs are not in
  these MDD files; they are the table `DNO_AREAS` below (the MDD participant name, which for
  several DNO MPIDs is a former supplier's name, is kept in its own column).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from bess_duos.core.paths import reference_data_dir, writable_config_dir

# distributor ID -> (brand short code, current licensee name, GSP group ID)
DNO_AREAS: dict[int, tuple[str, str, str]] = {
    10: ("UKPN-EPN", "Eastern Power Networks plc", "_A"),
    11: ("NGED-EM", "National Grid Electricity Distribution (East Midlands) plc", "_B"),
    12: ("UKPN-LPN", "London Power Networks plc", "_C"),
    13: ("SPEN-MANWEB", "SP Manweb plc", "_D"),
    14: ("NGED-WM", "National Grid Electricity Distribution (West Midlands) plc", "_E"),
    15: ("NPg-NE", "Northern Powergrid (Northeast) plc", "_F"),
    16: ("ENWL", "Electricity North West Limited", "_G"),
    17: ("SSEN-SHEPD", "Scottish Hydro Electric Power Distribution plc", "_P"),
    18: ("SPEN-SPD", "SP Distribution plc", "_N"),
    19: ("UKPN-SPN", "South Eastern Power Networks plc", "_J"),
    20: ("SSEN-SEPD", "Southern Electric Power Distribution plc", "_H"),
    21: ("NGED-SWales", "National Grid Electricity Distribution (South Wales) plc", "_K"),
    22: ("NGED-SW", "National Grid Electricity Distribution (South West) plc", "_L"),
    23: ("NPg-Yorks", "Northern Powergrid (Yorkshire) plc", "_M"),
}
DNO_MPIDS: dict[int, str] = {
    10: "EELC", 11: "EMEB", 12: "LOND", 13: "MANW", 14: "MIDE", 15: "NEEB", 16: "NORW",
    17: "HYDE", 18: "SPOW", 19: "SEEB", 20: "SOUT", 21: "SWAE", 22: "SWEB", 23: "YELG",
}
IDNO_AREA_NOTE = "IDNO: operates in any GSP group; no single area (use the postcode or GSP group)"
COLUMNS = [
    "distributor_id", "short_code", "mpid", "name", "gsp_group_id", "gsp_group_name", "is_idno",
    "mdd_participant_name", "mdd_role_r_address_1", "effective_from", "effective_to",
    "example_hh_llfcs", "note",
]
HEADER = (
    "# Distributors (MPAN core digits 1-2). Source: Elexon Market Domain Data 377 "
    "(Market_Participant_377.csv, Market_Participant_Role_377.csv role R 'Distributor Short Code', "
    "GSP_Group_377.csv, Line_Loss_Factor_Class_377.csv) via WessexWater/chellow-rates "
    "97a0aec83427ca4e5381e37d31a3d56f5e03db8d 2026/electricity/mdd/377/. DNO licensee names, "
    "short codes and GSP group IDs: core/distributors_import.py DNO_AREAS. "
    "Built by: python -m bess_duos.core.distributors_import\n"
)


def _read(mdd_dir: Path, stem: str) -> pd.DataFrame:
    return pd.read_csv(mdd_dir / f"{stem}_377.csv", dtype=str, keep_default_na=False)


def _example_llfcs(llfc: pd.DataFrame, mpid: str, n: int = 3) -> str:
    """Up to `n` current import LLFCs of `mpid` described as HH or site specific."""
    rows = llfc[(llfc["Market Participant ID"] == mpid)
                & (llfc["Effective To Settlement Date (LLFC)"] == "")
                & (llfc["MS Specific LLF Class Indicator"] == "A")]
    desc = rows["Line Loss Factor Class Description"]
    hh = rows[desc.str.contains(r"\bHH\b|half.?hourly|site specific", case=False, regex=True)
              & ~desc.str.contains(r"export|spare|unmetered|\bUMS\b|do not use|\bgen",
                                   case=False, regex=True)]
    ids = (hh if len(hh) else rows)["Line Loss Factor Class ID"].drop_duplicates()
    return " ".join(ids.str.zfill(3).head(n))


def build_distributors_table(mdd_dir: Path | None = None) -> pd.DataFrame:
    """Every role-R distributor in MDD 377, one row per distributor ID, in ID order."""
    mdd_dir = mdd_dir or reference_data_dir() / "mdd-377"
    roles = _read(mdd_dir, "Market_Participant_Role")
    names = _read(mdd_dir, "Market_Participant").set_index("Market Participant ID")
    gsp = _read(mdd_dir, "GSP_Group").set_index("Gsp Group ID")["GSP Group Name"]
    llfc = _read(mdd_dir, "Line_Loss_Factor_Class")
    dist = roles[(roles["Market Participant Role Code"] == "R")
                 & (roles["Distributor Short Code"] != "")].copy()
    dist["distributor_id"] = dist["Distributor Short Code"].astype(int)
    if dist["distributor_id"].duplicated().any():
        dups = dist.loc[dist["distributor_id"].duplicated(keep=False), "Market Participant ID"]
        raise ValueError(f"MDD role R has one distributor short code for several MPIDs: {dups}")
    rows = []
    for rec in dist.sort_values("distributor_id").to_dict("records"):
        did, mpid = rec["distributor_id"], rec["Market Participant ID"]
        mdd_name = names.loc[mpid, "Market Participant Name"] if mpid in names.index else ""
        is_idno = did >= 24
        if not is_idno:
            short, name, gsp_id = DNO_AREAS[did]
            if DNO_MPIDS[did] != mpid:
                raise ValueError(
                    f"MDD gives distributor {did} MPID {mpid}, expected {DNO_MPIDS[did]}"
                )
            gsp_name, note = gsp[gsp_id], "DNO licence area"
        else:
            short, name, gsp_id, gsp_name = mpid, mdd_name, "", ""
            note = IDNO_AREA_NOTE
            if did >= 97:
                note = "RECCo test participant (not a real network); " + IDNO_AREA_NOTE
            elif rec["Effective To Date (MPR)"]:
                note = f"role R ended {rec['Effective To Date (MPR)']}; " + IDNO_AREA_NOTE
        rows.append({
            "distributor_id": did, "short_code": short, "mpid": mpid, "name": name,
            "gsp_group_id": gsp_id, "gsp_group_name": gsp_name, "is_idno": is_idno,
            "mdd_participant_name": mdd_name, "mdd_role_r_address_1": rec["Address 1"],
            "effective_from": rec["Effective From Date (MPR)"],
            "effective_to": rec["Effective To Date (MPR)"],
            "example_hh_llfcs": _example_llfcs(llfc, mpid), "note": note,
        })
    missing = set(DNO_AREAS) - {r["distributor_id"] for r in rows}
    if missing:
        raise ValueError(f"MDD role R lacks DNO distributor IDs {sorted(missing)}")
    return pd.DataFrame(rows, columns=COLUMNS)


def write_distributors_csv(table: pd.DataFrame, out: Path | None = None) -> Path:
    """Write `table` with its source header line; returns the path."""
    out = out or writable_config_dir() / "distributors.csv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        table.to_csv(fh, index=False, lineterminator="\n")
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    src = Path(args[0]) if args else None
    dst = Path(args[1]) if len(args) > 1 else None
    print(write_distributors_csv(build_distributors_table(src), dst))
