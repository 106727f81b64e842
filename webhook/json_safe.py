"""Plain JSON values for the webhook's answers: `core.plain.json_safe` (NaN and infinities
become null, numpy scalars Python numbers, dataclasses dicts of their fields)."""

from __future__ import annotations

from bess_duos.core.plain import json_safe

__all__ = ["json_safe"]
