"""JSON answers of the webhook: plain JSON values and one error shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from flask import Response, g, jsonify


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def error(code: int, message: str, **extra: Any) -> tuple[Response, int]:
    """`{"error": message, "request_id": ..., **extra}` with status `code`."""
    body = {"error": message, "request_id": g.get("request_id", ""), **extra}
    return jsonify(json_safe(body)), code


def bad_input(fields: dict[str, str]) -> tuple[Response, int]:
    """A 400 naming each bad field and what to do."""
    return error(400, "bad input", fields=fields)
