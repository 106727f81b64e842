"""The status row's tariff details and the tariff's standing charges, for the sheet.

The status row shows what a reader needs to trust the numbers: the tariff's name (C4), its
charging year (D4), what was assumed because an input was blank (E4) and where the rates come
from (F4); row 9 shows the fixed, capacity, exceeded capacity and reactive charges. All of it is
in the lookup result already; `webhook.layout.result_fields` adds these to the sheet's fields,
so the webhook, the CLI and the Apps Script (`write: false`, which writes the cells from the
webhook's answer) all show the same values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bess_duos.core.valuation import year_label

if TYPE_CHECKING:
    from bess_duos.core.lookup import LookupResult

TARIFF_CHARGES = (
    "fixed_p_per_day",
    "capacity_p_per_kva_per_day",
    "exceeded_capacity_p_per_kva_per_day",
    "reactive_p_per_kvarh",
)


def assumptions(result: LookupResult) -> str:
    """What the lookup assumed for blank inputs, e.g. "LV assumed; residual band 1 assumed".

    The voltage is assumed when the resolver took the default because neither a voltage nor
    an LLFC it knew chose the tariff (`DuosTariff.voltage_assumed`). The residual band is
    assumed when no agreed capacity (kVA) was given.
    """
    tariff = result.tariff
    if tariff is None:
        return ""
    inputs = result.inputs
    said: list[str] = []
    if tariff.voltage_assumed:
        said.append(f"{tariff.voltage_level or 'LV'} assumed")
    band = str(tariff.residual_band or "")
    if inputs.kva is None and band and band.lower() != "none":
        said.append(f"residual band {band} assumed")
    return "; ".join(said)


def tariff_fields(result: LookupResult) -> dict[str, object]:
    """tariff_name, charging_year ("2026/27"), assumptions, tariff_source and the tariff's
    fixed, capacity, exceeded capacity and reactive charges (all None without a tariff)."""
    tariff = result.tariff
    out: dict[str, object] = {
        "tariff_name": tariff.tariff_name if tariff else None,
        "charging_year": year_label(tariff.year) if tariff and tariff.year else None,
        "assumptions": assumptions(result) or None,
        "tariff_source": tariff.source or None if tariff else None,
    }
    for name in TARIFF_CHARGES:
        out[name] = getattr(tariff, name) if tariff else None
    return out
