"""Request signing for the webhook: HMAC-SHA256 over `timestamp + "." + body`.

A caller (the sheet's Apps Script) sends two headers:

- `X-Timestamp`: Unix time in whole seconds, as decimal text;
- `X-Signature`: lowercase hex HMAC-SHA256 of `X-Timestamp + "." + raw request body`, keyed
  with the shared secret from the environment variable `BESS_DUOS_WEBHOOK_SECRET`.

The server rejects a timestamp more than 300 s from its clock, a signature it has already
accepted (a replay), and any mismatch, comparing in constant time (`hmac.compare_digest`).
The replay cache lives in the process; accepted signatures are kept for twice the window,
after which their timestamps are stale anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable

SECRET_ENV = "BESS_DUOS_WEBHOOK_SECRET"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"
WINDOW_SECONDS = 300


class AuthError(Exception):
    """A request that fails authentication; `reason` is safe to return to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingSecretError(RuntimeError):
    """No webhook secret configured and `--insecure-dev` not given: refuse to start."""


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `timestamp + "." + body` with `secret` (what a client sends)."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = str(timestamp).encode() + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str | bytes, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The two auth headers for `body`, signed now (or at `timestamp`)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}


def secret_from_env(*, insecure_dev: bool = False) -> str | None:
    """The webhook secret from the environment.

    Returns None only when `insecure_dev` is set; otherwise a missing or empty secret
    raises `MissingSecretError` (the server must not start unauthenticated by accident).
    """
    secret = os.environ.get(SECRET_ENV, "")
    if secret:
        return secret
    if insecure_dev:
        return None
    raise MissingSecretError(
        f"{SECRET_ENV} is not set: set it to a long random string shared with the Apps Script, "
        "or start with --insecure-dev for local development only"
    )


class ReplayCache:
    """Signatures already accepted, each kept until `ttl` seconds after it was seen."""

    def __init__(self, ttl: float = 2 * WINDOW_SECONDS) -> None:
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


class RequestVerifier:
    """Checks the signature headers of one request against the shared secret."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        window_seconds: int = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        if not secret:
            raise MissingSecretError("the webhook secret is empty")
        self._key = secret.encode() if isinstance(secret, str) else secret
        self._window = window_seconds
        self._clock = clock
        self._replays = replay_cache or ReplayCache(ttl=2 * window_seconds)

    def verify(self, timestamp: str | None, signature: str | None, body: bytes) -> None:
        """Raise `AuthError` unless the headers sign `body` freshly and for the first time."""
        if not timestamp or not signature:
            raise AuthError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
        stamp = timestamp.strip()
        if not stamp.isdigit():
            raise AuthError(f"{TIMESTAMP_HEADER} must be Unix time in whole seconds")
        now = self._clock()
        if abs(now - int(stamp)) > self._window:
            raise AuthError(
                f"{TIMESTAMP_HEADER} is more than {self._window} s from the server clock"
            )
        expected = sign(self._key, stamp, body)
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise AuthError(f"{SIGNATURE_HEADER} does not match the request body")
        if not self._replays.add_if_new(expected, now):
            raise AuthError("this signature has already been used (replay)")
