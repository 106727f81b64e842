"""JSON answers of the webhook: plain JSON values and one error shape."""

from __future__ import annotations

import json
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


def lookup_answer(body_json: bytes, written: Any) -> tuple[Response, int]:
    """A lookup's 200: its body (`compute.encoded`) with `written` added as its last key: the
    bytes the app's `jsonify` sends for the body with `written` in it."""
    tail = json.dumps(written, separators=(",", ":")).encode()
    data = body_json[:-1] + b',"written":' + tail + b"}\n"
    return Response(data, mimetype="application/json"), 200
