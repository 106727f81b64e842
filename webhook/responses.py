"""JSON answers of the webhook: plain JSON values and one error shape."""

from __future__ import annotations

from typing import Any

from bess_duos.core.plain import json_safe
from flask import Response, g, jsonify


def answer(code: int, body: dict[str, Any], *, retry_after: float | None = None
           ) -> tuple[Response, int]:
    """`body` with the request id, as plain JSON with status `code` (and `Retry-After`)."""
    response = jsonify(json_safe({**body, "request_id": g.get("request_id", "")}))
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response, code


def error(code: int, message: str, *, retry_after: float | None = None,
          **extra: Any) -> tuple[Response, int]:
    """`{"error": message, "request_id": ..., **extra}` with status `code`."""
    return answer(code, {"error": message, **extra}, retry_after=retry_after)


def bad_input(fields: dict[str, str]) -> tuple[Response, int]:
    """A 400 naming each bad field and what to do."""
    return error(400, "bad input", fields=fields)
