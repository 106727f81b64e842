"""Cross-publisher check of residual-band kVA thresholds, run once every workbook is read.

Two findings, each written next to the area-year's bands as `residual_bands/YYYY/DD_check.yaml`
(and listed in the import report) so that the resolver can show both bands:
- publishers of one area-year (the DNO and IDNOs, or several IDNOs) publish different
  thresholds;
- an area-year repeats an older year's thresholds while the same area's previous year and the
  same DNO group's other areas that year have another set (a sheet left stale).
"""

from __future__ import annotations

from typing import Any

import yaml
from bess_duos.core.distributors import get_distributor
from bess_duos.core.tariff_import.importer import ImportedWorkbook
from bess_duos.core.tariff_import.residual import voltage_of

Thresholds = tuple[tuple[str, str, str], ...]  # (applies_to, band, upper), LV and HV kVA rows


def _upper(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value).strip()


def thresholds(imported: ImportedWorkbook) -> Thresholds:
    """The LV and HV kVA band upper thresholds a workbook publishes (empty if none)."""
    return tuple(sorted(
        (voltage_of(b.category), b.band, _upper(b.upper)) for b in imported.residual
        if b.units == "kVA" and voltage_of(b.category) in ("LV", "HV")
    ))


def _as_rows(found: Thresholds) -> list[dict[str, str]]:
    return [{"applies_to": v, "band": b, "upper": u} for v, b, u in found]


def _brief(found: Thresholds) -> str:
    by = {v: "/".join(u for w, _, u in found if w == v and u != "∞") for v, _, _ in found}
    return ", ".join(f"{v} {t} kVA" for v, t in sorted(by.items()))


def _group(area: int) -> str:
    return get_distributor(area).short_code.split("-")[0]


def check_residual(
    used: dict[tuple[int, int], ImportedWorkbook],
    publishers: dict[tuple[int, int], list[ImportedWorkbook]],
) -> dict[tuple[int, int], dict[str, Any]]:
    """(year, area) -> finding, for the area-years whose shipped thresholds are in doubt.

    `used`: the workbook whose bands were shipped per area-year; `publishers`: every workbook
    with a residual sheet for that area-year (DNO and IDNOs).
    """
    sets = {key: thresholds(book) for key, book in used.items()}
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for (year, area), shipped in sorted(sets.items()):
        if not shipped:
            continue
        alternatives: list[dict[str, Any]] = []
        others: dict[Thresholds, list[str]] = {}
        for book in publishers.get((year, area), []):
            found = thresholds(book)
            if found and found != shipped:
                others.setdefault(found, []).append(book.workbook)
        for found, names in others.items():
            alternatives.append({
                "source": f"{', '.join(names)} (another publisher of area {area} {year})",
                "reason": "the publishers of this area-year disagree",
                "thresholds": _as_rows(found),
            })
        older = [y for (y, a), t in sets.items() if a == area and y < year and t == shipped]
        previous = sets.get((year - 1, area))
        peers = {a: t for (y, a), t in sets.items()
                 if y == year and a != area and t and _group(a) == _group(area)}
        peer_sets = set(peers.values())
        if older and previous and previous != shipped and len(peer_sets) == 1 \
                and shipped not in peer_sets:
            (peer,) = peer_sets
            names = ", ".join(f"area {a} ({used[(year, a)].workbook})" for a in sorted(peers))
            alternatives.append({
                "source": f"{names}, the same DNO group ({_group(area)}) in {year}",
                "reason": (f"area {area}'s {year} sheet repeats its {older[-1]} thresholds "
                           f"({_brief(shipped)}) while its own {year - 1} sheet and its DNO "
                           f"group's other areas in {year} have {_brief(peer)}"),
                "thresholds": _as_rows(peer),
            })
        if alternatives:
            out[(year, area)] = {
                "distributor_id": area, "year": year,
                "published": {"source": used[(year, area)].workbook,
                              "thresholds": _as_rows(shipped)},
                "alternatives": alternatives,
            }
    return out


def check_yaml(finding: dict[str, Any]) -> str:
    doc = {"note": "written by `bess-duos tariffs import-all`: the shipped thresholds are in "
                   "doubt; the resolver reports the band under each set", **finding}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
