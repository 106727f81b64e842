"""LLFCs for an area with no DNO workbook, from Elexon MDD 377's Line Loss Factor Class table.

A DNO's LLFC is mapped to a tariff only when its MDD description names one unambiguously:
every word of the description (after expanding the usual abbreviations) is a word of tariff
names, and exactly one of the area-year's tariffs has all of them. Everything else is listed
unmapped, with the reason. Nothing is guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

MDD_FILE = "Line_Loss_Factor_Class_377.csv"
COLUMNS = ("llfc", "description", "effective_from", "effective_to", "tariff_name", "reason")

# Abbreviations in MDD descriptions -> the tariff-name words (applied to lower-cased text).
_EXPAND: tuple[tuple[str, str], ...] = (
    (r"\bw/", "with "),
    (r"\bnon[\s_-]*dom(?:estic)?\b", "nondomestic"),
    (r"\bdom\b", "domestic"),
    (r"\bagg\b", "aggregated"),
    (r"\blvs\b", "lvsub"),
    (r"\blv[\s_-]*sub\b", "lvsub"),
    (r"\bgen\b", "generation"),
    (r"\bres(?:idual)?\s*b(?:and)?\s*(\d)\b", r"band\1"),
    (r"\bband[\s_]*(\d)\b", r"band\1"),
    (r"\bband[\s_]*zr\b", "noresidual"),
    (r"\bnr\b", "noresidual"),
    (r"\bno\s+residual\b", "noresidual"),
    (r"\bno\s+rpc?(?:\s+charge)?\b", "norp"),
    (r"\bmpan\b", ""),
)
_STOP = {"and", "or", "the"}


def words(text: str) -> frozenset[str]:
    """The distinguishing words of a tariff name or an MDD description."""
    out = text.lower().replace("_", " ")
    for pattern, repl in _EXPAND:
        out = re.sub(pattern, repl, out)
    return frozenset(w for w in re.split(r"[^a-z0-9]+", out) if w and w not in _STOP)


def _date(text: str) -> dt.date | None:
    return dt.datetime.strptime(text, "%d/%m/%Y").date() if text else None


def read_mdd(path: Path) -> dict[str, list[dict[str, str]]]:
    """MDD's LLFC table, by market participant ID (the distributor's MPID)."""
    out: dict[str, list[dict[str, str]]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["Market Participant ID"], []).append(row)
    return out


def in_force(rows: list[dict[str, str]], year: int) -> list[dict[str, str]]:
    """Per LLFC, the record in force on 1 April of the charging year, else the first to start
    within it; LLFCs not in force at any time in the year are left out."""
    start, end = dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    chosen: dict[str, dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: _date(r["Effective From Settlement Date (LLFC)"])):
        begins = _date(row["Effective From Settlement Date (LLFC)"])
        ends = _date(row["Effective To Settlement Date (LLFC)"])
        if begins > end or (ends is not None and ends < start):
            continue
        code = row["Line Loss Factor Class ID"]
        if code not in chosen or begins <= start:
            chosen[code] = row
    return [chosen[c] for c in sorted(chosen)]


def map_llfcs(rows: list[dict[str, str]], tariff_names: list[str]) -> list[dict[str, str]]:
    """One record per LLFC: its description and the tariff it names, or why none."""
    named = [(n, words(n)) for n in tariff_names]
    vocabulary = frozenset().union(*(w for _, w in named))
    out = []
    for row in rows:
        text = row["Line Loss Factor Class Description"].strip()
        mine = words(text)
        stray = sorted(mine - vocabulary)
        fits = [n for n, w in named if mine and mine <= w]
        tariff, reason = "", ""
        if not mine:
            reason = "no description"
        elif stray:
            reason = f"words that name no published tariff: {', '.join(stray)}"
        elif len(fits) == 1:
            tariff = fits[0]
        elif fits:
            reason = f"fits {len(fits)} tariffs: {'; '.join(fits)}"
        else:
            reason = "no published tariff has all of its words"
        out.append({
            "llfc": row["Line Loss Factor Class ID"], "description": text,
            "effective_from": row["Effective From Settlement Date (LLFC)"],
            "effective_to": row["Effective To Settlement Date (LLFC)"],
            "tariff_name": tariff, "reason": reason,
        })
    return out


def mdd_csv(records: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()
