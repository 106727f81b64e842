"""Plain JSON values in one pass: NaN and infinities become null, numpy scalars Python numbers,
tuples lists, dict keys text, and a dataclass the dict of its fields (what
`json_safe(dataclasses.asdict(obj))` gives, without copying every leaf first)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

_PLAIN = frozenset({str, int, bool, type(None)})  # passed through as they are
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, by class


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, numpy scalars Python numbers; dict keys
    become text, tuples lists, dataclasses dicts of their fields. One pass: plain leaves
    (finite floats too: `v - v == 0.0` is false for NaN and infinities) are kept without a
    call of their own."""
    kind = type(value)
    if kind is dict:
        return {k if type(k) is str else str(k):
                v if type(v) in _PLAIN or (type(v) is float and v - v == 0.0) else json_safe(v)
                for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN or (type(v) is float and v - v == 0.0) else json_safe(v)
                for v in value]
    if kind in _PLAIN:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    return _other(value)


def fields_of(obj: Any) -> dict[str, Any]:
    """A dataclass instance's fields by name, as `json_safe` values (in field order)."""
    return json_safe({name: getattr(obj, name) for name in _field_names(type(obj))})


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def _other(value: Any) -> Any:
    """Subclasses, numpy scalars and dataclasses: as `json_safe` treats their base types."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return fields_of(value)
    return value
