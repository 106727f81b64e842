"""Structured JSON logs for the webhook: one JSON object per line, with the request id.

Every record carries `time`, `level`, `logger`, `message`, the current `request_id` (from a
context variable the app sets per request) and any `extra=` fields. Secrets never reach the
log: MPANs (13 or 21 digits, with or without spaces) are masked to their first and last two
digits wherever they appear in the message or in an extra field, and fields named like
secrets (`secret`, `signature`, `token`, `authorization`, `password`) are replaced by `***`.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# A 13-digit core, optionally after an 8-digit top line, with single spaces or dashes allowed
# between groups (e.g. "00 845 121 14 0556 6778 899" or "1405566778899").
_MPAN_RE = re.compile(r"(?<![\d])(?:\d[ -]?){12}\d(?:[ -]?\d){0,8}(?![\d])")
_SECRET_KEYS = ("secret", "signature", "token", "authorization", "password", "private_key")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colours (werkzeug adds them)


def plain(text: str) -> str:
    """`text` without terminal colour codes, MPANs masked: what a log line may carry."""
    return mask_mpans(_ANSI_RE.sub("", text))


def mask_mpans(text: str) -> str:
    """Replace every MPAN-like run of digits by its first two digits, asterisks, last two."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) not in (13, 21):
            return match.group(0)
        return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]

    return _MPAN_RE.sub(mask, text)


def _clean(key: str, value: Any) -> Any:
    if any(word in key.lower() for word in _SECRET_KEYS):
        return "***"
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(key, v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_mpans(str(value))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line, masked (see the module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": plain(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                data[key] = _clean(key, value)
        if record.exc_info:
            data["exception"] = mask_mpans(self.formatException(record.exc_info))
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the root logger's records to `stream` (stderr) as JSON lines; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_bess_duos_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._bess_duos_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # numpy's and pandas' warnings become JSON lines too
