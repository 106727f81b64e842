"""Request signing for the webhook: HMAC-SHA256 over method, path, key id, timestamp and body.

A caller sends three headers:

- `X-Timestamp`: Unix time in whole seconds, as decimal text (at most 12 ASCII digits);
- `X-Key-Id`: which key signed: absent or empty for the master key (ops), or
  `sheet:<spreadsheet id>` for that spreadsheet's own key (the BESS sheet's Apps Script);
- `X-Signature`: lowercase hex HMAC-SHA256 of `string_to_sign(...)`:
  ``"bess-duos-v2\\n" + timestamp + "\\n" + METHOD + "\\n" + path + "\\n" + key id + "\\n" + body``.

A sheet's key is `sheet_key(master, spreadsheet_id)`, handed out by `bess-duos sheet-key ID`:
it signs only for that spreadsheet, so a key copied out of one sheet cannot write another
(`webhook.routes` checks the body's spreadsheet against the key). The master key never
leaves the server's environment.

The server rejects a timestamp more than 300 s old or more than 30 s ahead of its clock, a
signature it has already accepted (a replay), a master secret shorter than 32 bytes (at
start), and any mismatch, comparing in constant time (`hmac.compare_digest`). Accepted
signatures are kept for the window plus the skew, after which their timestamps are stale.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bess_duos.core.settings import MIN_SECRET_BYTES, Settings, current

SECRET_ENV = "BESS_DUOS_WEBHOOK_SECRET"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"
KEY_HEADER = "X-Key-Id"
WINDOW_SECONDS = 300
FUTURE_SKEW_SECONDS = 30
SCHEME = b"bess-duos-v2"
SHEET_KEY_PREFIX = "sheet:"
# A spreadsheet key: the part of its URL between /d/ and /edit (match it whole: fullmatch).
SPREADSHEET_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class AuthError(Exception):
    """A request that fails authentication; `reason` is safe to return to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingSecretError(RuntimeError):
    """No usable webhook secret configured and `--insecure-dev` not given: refuse to start."""


def parse_timestamp(text: str | None) -> int | None:
    """`X-Timestamp` as whole seconds, or None unless it is 1 to 12 ASCII digits."""
    stamp = (text or "").strip()
    if 0 < len(stamp) <= 12 and stamp.isascii() and stamp.isdigit():
        return int(stamp)
    return None


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sheet_key(master: str | bytes, spreadsheet_id: str) -> str:
    """The signing key of one spreadsheet, derived from the master secret (hex)."""
    if not SPREADSHEET_ID.fullmatch(spreadsheet_id):
        raise ValueError("spreadsheet id: give the part of the sheet's URL between /d/ and /edit")
    message = b"bess-duos sheet key v1\n" + spreadsheet_id.encode()
    return hmac.new(_key(master), message, hashlib.sha256).hexdigest()


def string_to_sign(timestamp: str | int, method: str, path: str, key_id: str, body: bytes) -> bytes:
    """The bytes a signature covers."""
    head = b"\n".join([SCHEME, str(timestamp).encode(), method.upper().encode(),
                       path.encode(), key_id.encode()])
    return head + b"\n" + body


def sign(secret: str | bytes, timestamp: str | int, body: bytes, *, method: str = "POST",
         path: str = "/lookup", key_id: str = "") -> str:
    """Hex HMAC-SHA256 of the request with `secret` (what a client sends)."""
    message = string_to_sign(timestamp, method, path, key_id, body)
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str | bytes,
    body: bytes,
    *,
    timestamp: int | None = None,
    method: str = "POST",
    path: str = "/lookup",
    spreadsheet_id: str | None = None,
) -> dict[str, str]:
    """The auth headers for `body`, signed now (or at `timestamp`).

    With `spreadsheet_id`, `secret` is the master and the request is signed with that
    spreadsheet's derived key (as the sheet's Apps Script does with the key it holds).
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {TIMESTAMP_HEADER: stamp}
    key_id = ""
    if spreadsheet_id is not None:
        key_id = SHEET_KEY_PREFIX + spreadsheet_id
        secret = sheet_key(secret, spreadsheet_id)
        headers[KEY_HEADER] = key_id
    headers[SIGNATURE_HEADER] = sign(secret, stamp, body, method=method, path=path, key_id=key_id)
    return headers


def check_secret(secret: str) -> str:
    """`secret` if long enough to be a key, else `MissingSecretError` saying what to set."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise MissingSecretError(
            f"{SECRET_ENV} is {len(secret.encode())} bytes: use at least {MIN_SECRET_BYTES} "
            "random bytes (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return secret


def secret_from_env(*, insecure_dev: bool = False,
                    settings: Settings | None = None) -> str | None:
    """The webhook secret from the settings (default: the environment's now).

    Returns None only when `insecure_dev` is set and no secret is; otherwise a missing or short
    secret raises `MissingSecretError` (the server must not start unauthenticated by accident).
    """
    secret = (settings or current()).webhook_secret
    if secret:
        return check_secret(secret)
    if insecure_dev:
        return None
    raise MissingSecretError(
        f"{SECRET_ENV} is not set: set it to at least {MIN_SECRET_BYTES} random bytes, kept "
        "on the server; give each sheet its own key (`bess-duos sheet-key ID`); or start "
        "with --insecure-dev for local development only"
    )


class ReplayCache:
    """Signatures already accepted, each kept until `ttl` seconds after it was seen."""

    def __init__(self, ttl: float = WINDOW_SECONDS + FUTURE_SKEW_SECONDS) -> None:
        self._ttl = ttl
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add_if_new(self, signature: str, now: float) -> bool:
        """Record `signature`; False if it was already recorded (a replay)."""
        with self._lock:
            if len(self._seen) > 1024:
                self._seen = {s: t for s, t in self._seen.items() if t > now}
            expires = self._seen.get(signature)
            if expires is not None and expires > now:
                return False
            self._seen[signature] = now + self._ttl
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


@dataclass(frozen=True)
class Signer:
    """Who signed a request: the master key (`spreadsheet_id` None) or one sheet's key."""

    spreadsheet_id: str | None = None

    @property
    def is_master(self) -> bool:
        """True for the master key (ops), which may address any allowed spreadsheet."""
        return self.spreadsheet_id is None


class RequestVerifier:
    """Checks the signature headers of one request against the master secret."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        window_seconds: int = WINDOW_SECONDS,
        future_skew_seconds: int = FUTURE_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        if not secret:
            raise MissingSecretError("the webhook secret is empty")
        self._master = _key(secret)
        self._window = window_seconds
        self._skew = future_skew_seconds
        self._clock = clock
        self._replays = replay_cache or ReplayCache(ttl=window_seconds + future_skew_seconds)

    def _signer(self, key_id: str) -> tuple[Signer, bytes]:
        if not key_id:
            return Signer(), self._master
        spreadsheet_id = key_id.removeprefix(SHEET_KEY_PREFIX)
        if spreadsheet_id == key_id or not SPREADSHEET_ID.fullmatch(spreadsheet_id):
            raise AuthError(f"{KEY_HEADER} must be empty or sheet:<spreadsheet id>")
        return Signer(spreadsheet_id), sheet_key(self._master, spreadsheet_id).encode()

    def verify(self, timestamp: str | None, signature: str | None, body: bytes, *,
               method: str = "POST", path: str = "/lookup", key_id: str | None = None) -> Signer:
        """Who signed `body`; `AuthError` unless the headers sign it freshly, once."""
        if not timestamp or not signature:
            raise AuthError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
        stamp = parse_timestamp(timestamp)
        if stamp is None:
            raise AuthError(f"{TIMESTAMP_HEADER} must be Unix time in whole seconds")
        now = self._clock()
        if now - stamp > self._window:
            raise AuthError(f"{TIMESTAMP_HEADER} is more than {self._window} s old: check the "
                            "caller's clock")
        if stamp - now > self._skew:
            raise AuthError(f"{TIMESTAMP_HEADER} is more than {self._skew} s ahead of the "
                            "server clock: check the caller's clock")
        signer, key = self._signer((key_id or "").strip())
        given = signature.strip().lower()
        if not _SIGNATURE.fullmatch(given):
            raise AuthError(f"{SIGNATURE_HEADER} must be 64 hex digits")
        expected = sign(key, str(stamp), body, method=method, path=path,
                        key_id=(key_id or "").strip())
        if not hmac.compare_digest(expected, given):
            raise AuthError(f"{SIGNATURE_HEADER} does not match the request")
        if not self._replays.add_if_new(expected, now):
            raise AuthError("this signature has already been used (replay)")
        return signer
