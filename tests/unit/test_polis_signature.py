"""Ory Polis webhook signature: `t=<unix ms>,s=<hex HMAC-SHA256 over "<t>." + body>`."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from webhook_ingress.polis import sign, verify
from webhook_ingress.verification import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
)

SECRET = "polis_test_webhook_secret"
TIMESTAMP_MS = 1700000000123
NOW = TIMESTAMP_MS / 1000
TOLERANCE = 180.0
BODY = (
    b'{"event":"user.created","tenant":"acme","product":"dsync",'
    b'"directory_id":"dir_01","data":{"id":"user_01","email":"ada@example.com","active":true}}'
)
HEADER_NAMES = ("ory-polis-signature", "boxyhq-signature", "ory-signature")


def _expected_digest(secret: str, timestamp_ms: int, body: bytes) -> str:
    signed = f"{timestamp_ms}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def test_sign_matches_independent_hmac_computation() -> None:
    digest = _expected_digest(SECRET, TIMESTAMP_MS, BODY)
    assert sign(SECRET, BODY, TIMESTAMP_MS) == f"t={TIMESTAMP_MS}, s={digest}"


def test_round_trip_returns_body_and_signature_time_in_seconds() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS)
    verified = verify([SECRET], {"ory-polis-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)
    assert verified.body == BODY
    assert verified.timestamp == TIMESTAMP_MS / 1000


@pytest.mark.parametrize("name", HEADER_NAMES)
def test_each_header_name_is_accepted(name: str) -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS)
    verified = verify([SECRET], {name: header}, BODY, now=NOW, tolerance=TOLERANCE)
    assert verified.body == BODY


def test_header_exactly_as_polis_writes_it_without_space_is_accepted() -> None:
    header = f"t={TIMESTAMP_MS},s={_expected_digest(SECRET, TIMESTAMP_MS, BODY)}"
    verified = verify([SECRET], {"boxyhq-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)
    assert verified.body == BODY


def test_rotation_accepts_signature_from_second_secret() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS)
    verified = verify(
        ["polis_new_secret", SECRET],
        {"ory-polis-signature": header},
        BODY,
        now=NOW,
        tolerance=TOLERANCE,
    )
    assert verified.body == BODY


def test_workos_style_v1_key_instead_of_s_is_malformed() -> None:
    header = f"t={TIMESTAMP_MS}, v1={_expected_digest(SECRET, TIMESTAMP_MS, BODY)}"
    with pytest.raises(MalformedSignature):
        verify([SECRET], {"ory-polis-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)


def test_tampered_body_is_rejected() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS)
    tampered = BODY.replace(b"user_01", b"user_02")
    assert tampered != BODY
    with pytest.raises(SignatureMismatch):
        verify([SECRET], {"ory-polis-signature": header}, tampered, now=NOW, tolerance=TOLERANCE)


def test_wrong_secret_is_rejected() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS)
    with pytest.raises(SignatureMismatch):
        verify(
            ["polis_other_secret"],
            {"ory-polis-signature": header},
            BODY,
            now=NOW,
            tolerance=TOLERANCE,
        )


def test_stale_signature_is_rejected() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS - 181_000)
    with pytest.raises(TimestampOutOfTolerance):
        verify([SECRET], {"ory-polis-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)


def test_timestamp_in_seconds_instead_of_milliseconds_is_rejected() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS // 1000)
    with pytest.raises(TimestampOutOfTolerance):
        verify([SECRET], {"ory-polis-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)


def test_missing_header_is_rejected() -> None:
    header = sign(SECRET, BODY, TIMESTAMP_MS)
    with pytest.raises(MissingSignature):
        verify([SECRET], {"workos-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)
