"""JSON answers of the webhook: plain JSON values and one error shape."""

from __future__ import annotations

from typing import Any

from bess_duos.webhook.json_safe import json_safe
from flask import Response, g, jsonify


def error(code: int, message: str, **extra: Any) -> tuple[Response, int]:
    """`{"error": message, "request_id": ..., **extra}` with status `code`."""
    body = {"error": message, "request_id": g.get("request_id", ""), **extra}
    return jsonify(json_safe(body)), code


def bad_input(fields: dict[str, str]) -> tuple[Response, int]:
    """A 400 naming each bad field and what to do."""
    return error(400, "bad input", fields=fields)
