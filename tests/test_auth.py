"""Request signing: HMAC over timestamp + "." + body, the ±300 s window, replays, the secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from bess_duos.webhook.auth import (
    SECRET_ENV,
    AuthError,
    MissingSecretError,
    ReplayCache,
    RequestVerifier,
    secret_from_env,
    sign,
    signed_headers,
)

SECRET = "s3cret-for-tests"
BODY = b'{"mpan": "1405566778899"}'
NOW = 1_800_000_000


def verifier(clock_now: float = NOW) -> RequestVerifier:
    return RequestVerifier(SECRET, clock=lambda: clock_now)


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert signed_headers(SECRET, BODY, timestamp=NOW) == {
        "X-Timestamp": "1800000000",
        "X-Signature": expected,
    }


def test_good_signature_passes_once_then_is_a_replay() -> None:
    check = verifier()
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    check.verify(headers["X-Timestamp"], headers["X-Signature"], BODY)
    with pytest.raises(AuthError, match="replay"):
        check.verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


def test_uppercase_hex_is_the_same_signature_and_still_a_replay() -> None:
    check = verifier()
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    check.verify(headers["X-Timestamp"], headers["X-Signature"].upper(), BODY)
    with pytest.raises(AuthError, match="replay"):
        check.verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_timestamp_outside_window_is_refused(skew: int) -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW + skew)
    with pytest.raises(AuthError, match="300 s"):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_at_window_edges_is_accepted(skew: int) -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW + skew)
    verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


def test_tampered_body_wrong_secret_and_missing_headers_are_refused() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY + b" ")
    other = signed_headers("another-secret", BODY, timestamp=NOW)
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(other["X-Timestamp"], other["X-Signature"], BODY)
    with pytest.raises(AuthError, match="missing"):
        verifier().verify(None, headers["X-Signature"], BODY)
    with pytest.raises(AuthError, match="whole seconds"):
        verifier().verify("1.8e9", headers["X-Signature"], BODY)


def test_signature_for_other_timestamp_does_not_verify() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(str(NOW + 1), headers["X-Signature"], BODY)


def test_failed_attempt_does_not_burn_the_signature() -> None:
    check = verifier()
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    with pytest.raises(AuthError):
        check.verify(headers["X-Timestamp"], headers["X-Signature"], BODY + b"x")
    check.verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


def test_replay_cache_forgets_after_ttl_and_prunes() -> None:
    cache = ReplayCache(ttl=10)
    assert cache.add_if_new("a", now=0)
    assert not cache.add_if_new("a", now=9)
    assert cache.add_if_new("a", now=11)
    for i in range(1100):
        cache.add_if_new(f"sig{i}", now=100)
    assert cache.add_if_new("late", now=200)
    assert len(cache) == 1


def test_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(MissingSecretError, match="--insecure-dev"):
        secret_from_env()
    assert secret_from_env(insecure_dev=True) is None
    monkeypatch.setenv(SECRET_ENV, "")
    with pytest.raises(MissingSecretError):
        secret_from_env()
    monkeypatch.setenv(SECRET_ENV, "abc")
    assert secret_from_env() == "abc"
    with pytest.raises(MissingSecretError):
        RequestVerifier("")
