"""Request signing: HMAC over scheme, timestamp, method, path, key id and body; the window
(300 s old, 30 s ahead), replays, per-sheet keys, the secret's length."""

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
    parse_timestamp,
    secret_from_env,
    sheet_key,
    sign,
    signed_headers,
)

SECRET = "s3cret-for-tests-0123456789abcdef"
BODY = b'{"mpan": "1405566778899"}'
NOW = 1_800_000_000


def verifier(clock_now: float = NOW) -> RequestVerifier:
    return RequestVerifier(SECRET, clock=lambda: clock_now)


def test_sign_is_hmac_sha256_of_the_documented_string() -> None:
    message = b"bess-duos-v2\n1800000000\nPOST\n/lookup\n\n" + BODY
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert signed_headers(SECRET, BODY, timestamp=NOW) == {
        "X-Timestamp": "1800000000",
        "X-Signature": expected,
    }


def test_the_signature_covers_method_and_path() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW, path="/mpan/validate")
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY, path="/lookup")
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY,
                          method="PUT", path="/mpan/validate")
    signer = verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY,
                               path="/mpan/validate")
    assert signer.is_master


def test_a_sheet_key_is_derived_from_the_master_and_names_its_sheet() -> None:
    sid = "1AbC-bess_sheet_test"
    key = sheet_key(SECRET, sid)
    assert key == hmac.new(SECRET.encode(), b"bess-duos sheet key v1\n" + sid.encode(),
                           hashlib.sha256).hexdigest()
    headers = signed_headers(SECRET, BODY, timestamp=NOW, spreadsheet_id=sid)
    assert headers["X-Key-Id"] == f"sheet:{sid}"
    # what the sheet's script sends: signed with the derived key it holds
    assert headers["X-Signature"] == sign(key, NOW, BODY, key_id=f"sheet:{sid}")
    signer = verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY,
                               key_id=headers["X-Key-Id"])
    assert signer.spreadsheet_id == sid and not signer.is_master
    # the same signature claimed for another sheet, or for the master key, fails
    for key_id in ("sheet:another-sheet", ""):
        with pytest.raises(AuthError, match="does not match"):
            verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY,
                              key_id=key_id)
    with pytest.raises(AuthError, match="sheet:<spreadsheet id>"):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY, key_id="x")


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


@pytest.mark.parametrize(("skew", "says"), [(-301, "300 s old"), (31, "30 s ahead"),
                                             (301, "30 s ahead"), (10_000, "30 s ahead")])
def test_timestamp_outside_window_is_refused(skew: int, says: str) -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW + skew)
    with pytest.raises(AuthError, match=says):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


@pytest.mark.parametrize("skew", [-300, 0, 30])
def test_timestamp_at_window_edges_is_accepted(skew: int) -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW + skew)
    verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY)


@pytest.mark.parametrize("stamp", ["²", "1800000000²", "1" * 5000, "", " ", "-1", "1e9"])
def test_odd_timestamps_are_refused_as_auth_errors(stamp: str) -> None:
    with pytest.raises(AuthError):
        verifier().verify(stamp, "0" * 64, BODY)
    assert parse_timestamp(stamp) is None


def test_tampered_body_wrong_secret_and_missing_headers_are_refused() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    with pytest.raises(AuthError, match="does not match"):
        verifier().verify(headers["X-Timestamp"], headers["X-Signature"], BODY + b" ")
    other = signed_headers("another-secret-0123456789abcdefghij", BODY, timestamp=NOW)
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
    monkeypatch.setenv(SECRET_ENV, "a" * 31)  # any secret under 32 bytes is refused at start
    with pytest.raises(MissingSecretError, match="at least 32"):
        secret_from_env()
    monkeypatch.setenv(SECRET_ENV, "a" * 32)
    assert secret_from_env() == "a" * 32
    with pytest.raises(MissingSecretError):
        RequestVerifier("")


def test_sheet_key_command_prints_the_derived_key(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from bess_duos.webhook.cli import main

    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert main(["sheet-key", "1AbC-bess_sheet_test"]) == 0
    assert capsys.readouterr().out.strip() == sheet_key(SECRET, "1AbC-bess_sheet_test")
    assert main(["sheet-key", "../other"]) == 2
    assert "error: SPREADSHEET_ID ../other:" in capsys.readouterr().err
    monkeypatch.delenv(SECRET_ENV)
    assert main(["sheet-key", "1AbC-bess_sheet_test"]) == 2
    assert "BESS_DUOS_WEBHOOK_SECRET is not set" in capsys.readouterr().err
