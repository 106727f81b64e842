"""Plain JSON values: NaN and infinities become null, numpy scalars Python numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_PLAIN = frozenset({str, int, bool, type(None)})  # passed through as they are


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, numpy scalars Python numbers; dict keys
    become text, tuples lists. One pass: plain leaves are kept without a call of their own."""
    kind = type(value)
    if kind is dict:
        return {k if type(k) is str else str(k):
                v if type(v) in _PLAIN else json_safe(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else json_safe(v) for v in value]
    if kind in _PLAIN:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    return _other(value)


def _other(value: Any) -> Any:
    """Subclasses and numpy scalars: as `json_safe` treats their base types."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
