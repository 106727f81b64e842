"""The sheet's fields from a lookup's JSON answer: `fields` plus the tariff details.

The status row shows what a reader needs to trust the numbers: the tariff's name (C4), its
charging year (D4), what was assumed because an input was blank (E4) and where the rates come
from (F4); row 9 shows the fixed and capacity charges. All of it is already in the answer
(`LookupResult.to_dict()`); this module only picks it out, so the webhook, the CLI and the Apps
Script (`write: false`, which writes the cells itself) all show the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bess_duos.core.lookup import year_label

TARIFF_CHARGES = (
    "fixed_p_per_day",
    "capacity_p_per_kva_per_day",
    "exceeded_capacity_p_per_kva_per_day",
    "reactive_p_per_kvarh",
)


def assumptions(answer: Mapping[str, Any]) -> str:
    """What the lookup assumed for blank inputs, e.g. "LV assumed; residual band 1 assumed".

    The voltage is assumed when the voltage input was blank and no LLFC chose the tariff (no
    LLFC in the MPAN, or one the tariffs did not know, which the warnings then say). The
    residual band is assumed when no agreed capacity (kVA) was given.
    """
    tariff = answer.get("tariff") or {}
    if not tariff:
        return ""
    inputs = answer.get("inputs") or {}
    mpan = answer.get("mpan") or {}
    said: list[str] = []
    llfc_failed = any("LLFC" in str(w) for w in answer.get("warnings") or ())
    by_llfc = mpan.get("llfc") and not llfc_failed
    if inputs.get("voltage") is None and (
        not by_llfc or "no voltage given" in str(tariff.get("selection_note") or "")
    ):
        said.append(f"{tariff.get('voltage_level') or 'LV'} assumed")
    band = str(tariff.get("residual_band") or "")
    if inputs.get("kva") is None and band and band.lower() != "none":
        said.append(f"residual band {band} assumed")
    return "; ".join(said)


def sheet_fields(answer: Mapping[str, Any]) -> dict[str, object]:
    """`answer["fields"]` plus tariff_name, charging_year, assumptions, tariff_source and the
    tariff's fixed, capacity, exceeded capacity and reactive charges (None when no tariff)."""
    fields: dict[str, object] = dict(answer.get("fields") or {})
    tariff = answer.get("tariff") or {}
    fields["tariff_name"] = tariff.get("name")
    year = tariff.get("charging_year")
    fields["charging_year"] = year_label(year) if year else None
    fields["assumptions"] = assumptions(answer) or None
    fields["tariff_source"] = tariff.get("source")
    for name in TARIFF_CHARGES:
        fields[name] = tariff.get(name)
    return fields
