"""WorkOS webhook signature: `WorkOS-Signature: t=<unix ms>, v1=<hex HMAC-SHA256>`."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_ingress.verification import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
    VerificationError,
)
from webhook_ingress.workos import HEADER, sign, verify

# Known-answer vector (cross-checked with `openssl dgst -sha256 -hmac`).
SECRET = "sk_test_webhook_secret"
TIMESTAMP_MS = 1700000000000
NOW = 1700000000.0
TOLERANCE = 180.0
BODY = (
    b'{"object":"event","id":"event_01TEST","event":"dsync.user.deleted",'
    b'"data":{},"created_at":"2023-11-14T22:13:20.000Z"}'
)
DIGEST = "f810cb494e8e65ffac5e5e48f8ea413d0a7d07c3bfdc44e0bce91e7d76f24f8b"
EXPECTED_HEADER = f"t={TIMESTAMP_MS}, v1={DIGEST}"


def _verify(
    header: str,
    body: bytes = BODY,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    now: float = NOW,
    tolerance: float = TOLERANCE,
) -> None:
    verify(secrets, {"workos-signature": header}, body, now=now, tolerance=tolerance)


def test_header_name_is_lower_case() -> None:
    assert HEADER == "workos-signature"


def test_body_has_no_trailing_newline() -> None:
    assert not BODY.endswith(b"\n")
    assert BODY.endswith(b"}")


def test_sign_matches_known_answer_vector() -> None:
    assert sign(SECRET, BODY, TIMESTAMP_MS) == EXPECTED_HEADER


def test_known_answer_vector_is_accepted() -> None:
    verified = verify(
        [SECRET], {"workos-signature": EXPECTED_HEADER}, BODY, now=NOW, tolerance=TOLERANCE
    )
    assert verified.body == BODY
    assert verified.timestamp == 1700000000.0


def test_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b"event_01TEST", b"event_01TESU")
    assert tampered != BODY
    with pytest.raises(SignatureMismatch):
        _verify(EXPECTED_HEADER, tampered)


def test_body_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        _verify(EXPECTED_HEADER, BODY + b"\n")


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        _verify(EXPECTED_HEADER, secrets=("sk_test_other_secret",))


def test_no_configured_secret_rejects_everything() -> None:
    with pytest.raises(SignatureMismatch):
        _verify(EXPECTED_HEADER, secrets=())


def test_rotation_accepts_signature_from_second_secret() -> None:
    verified = verify(
        ["sk_test_new_secret", SECRET],
        {"workos-signature": EXPECTED_HEADER},
        BODY,
        now=NOW,
        tolerance=TOLERANCE,
    )
    assert verified.body == BODY


def test_timestamp_is_part_of_signed_payload() -> None:
    forged = f"t={TIMESTAMP_MS + 1}, v1={DIGEST}"
    with pytest.raises(SignatureMismatch):
        _verify(forged)


def test_missing_header_is_rejected() -> None:
    with pytest.raises(MissingSignature):
        verify([SECRET], {}, BODY, now=NOW, tolerance=TOLERANCE)


def test_empty_header_is_treated_as_missing() -> None:
    with pytest.raises(MissingSignature):
        _verify("")


def test_mixed_case_key_in_plain_dict_is_not_found() -> None:
    # The caller must pass a case-insensitive mapping or lower-cased keys.
    with pytest.raises(MissingSignature):
        verify([SECRET], {"WorkOS-Signature": EXPECTED_HEADER}, BODY, now=NOW, tolerance=TOLERANCE)


def test_header_without_space_after_comma_is_accepted() -> None:
    verified = verify(
        [SECRET],
        {"workos-signature": f"t={TIMESTAMP_MS},v1={DIGEST}"},
        BODY,
        now=NOW,
        tolerance=TOLERANCE,
    )
    assert verified.timestamp == NOW


def test_uppercase_hex_digest_is_accepted() -> None:
    verified = verify(
        [SECRET],
        {"workos-signature": f"t={TIMESTAMP_MS}, v1={DIGEST.upper()}"},
        BODY,
        now=NOW,
        tolerance=TOLERANCE,
    )
    assert verified.body == BODY


def test_any_of_several_v1_values_may_match() -> None:
    header = f"t={TIMESTAMP_MS}, v1={'0' * 64}, v1={DIGEST}"
    verified = verify([SECRET], {"workos-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)
    assert verified.body == BODY


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(f"t=abc, v1={DIGEST}", id="non-numeric-timestamp"),
        pytest.param(f"t={TIMESTAMP_MS}", id="timestamp-only"),
        pytest.param(f"v1={DIGEST}", id="digest-only"),
        pytest.param(f"t={TIMESTAMP_MS}, v1=zz", id="non-hex-digest"),
        pytest.param(f"t={TIMESTAMP_MS}, v1={DIGEST[:63]}", id="63-hex-chars"),
        pytest.param(f"t={TIMESTAMP_MS}, v1={DIGEST}0", id="65-hex-chars"),
        pytest.param(f"t={TIMESTAMP_MS}, v1={DIGEST[:-1]}é", id="non-ascii"),
        pytest.param(f"t=\uff11\uff17\uff10\uff10, v1={DIGEST}", id="non-ascii-digits"),
        pytest.param(f"t={TIMESTAMP_MS}, v1={DIGEST}, x={'a' * 4096}", id="over-4096-chars"),
        pytest.param(f"t={TIMESTAMP_MS}, t={TIMESTAMP_MS}, v1={DIGEST}", id="duplicated-t"),
        pytest.param(f"t=-{TIMESTAMP_MS}, v1={DIGEST}", id="negative-timestamp"),
        pytest.param(f"t={'9' * 17}, v1={DIGEST}", id="17-digit-timestamp"),
        pytest.param(f"t={TIMESTAMP_MS}, v1={DIGEST}, ", id="trailing-comma"),
    ],
)
def test_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(MalformedSignature):
        _verify(header)


def test_header_of_exactly_4096_chars_is_not_rejected_for_length() -> None:
    prefix = f"t={TIMESTAMP_MS}, v1={DIGEST}, x="
    header = prefix + "a" * (4096 - len(prefix))
    assert len(header) == 4096
    verified = verify([SECRET], {"workos-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)
    assert verified.body == BODY


def _signed_at(timestamp_ms: int) -> str:
    return sign(SECRET, BODY, timestamp_ms)


def test_timestamp_181_seconds_in_the_past_is_rejected() -> None:
    with pytest.raises(TimestampOutOfTolerance):
        _verify(_signed_at(TIMESTAMP_MS - 181_000))


def test_timestamp_181_seconds_in_the_future_is_rejected() -> None:
    with pytest.raises(TimestampOutOfTolerance):
        _verify(_signed_at(TIMESTAMP_MS + 181_000))


@pytest.mark.parametrize("offset_ms", [-180_000, 180_000])
def test_timestamp_exactly_at_tolerance_is_accepted(offset_ms: int) -> None:
    header = _signed_at(TIMESTAMP_MS + offset_ms)
    verified = verify([SECRET], {"workos-signature": header}, BODY, now=NOW, tolerance=TOLERANCE)
    assert verified.timestamp == NOW + offset_ms / 1000


def test_timestamp_in_seconds_instead_of_milliseconds_is_rejected() -> None:
    with pytest.raises(TimestampOutOfTolerance):
        _verify(_signed_at(TIMESTAMP_MS // 1000))


_HEX_CHARS = "0123456789abcdefABCDEF"
_header_parts = st.one_of(
    st.text(max_size=80),
    st.builds(lambda digits: f"t={digits}", st.text("0123456789", max_size=20)),
    st.builds(lambda hexes: f"v1={hexes}", st.text(_HEX_CHARS, min_size=60, max_size=68)),
    st.sampled_from([f"t={TIMESTAMP_MS}", f" v1={DIGEST}", "=", "", " ", "t=", "v1="]),
)
_near_valid_headers = st.builds(
    lambda parts, sep: sep.join(parts),
    st.lists(_header_parts, max_size=5),
    st.sampled_from([",", ", ", " ,"]),
)


@given(
    header=st.one_of(st.text(), _near_valid_headers),
    body=st.binary(),
    now=st.floats(min_value=0, max_value=1e12, allow_nan=False),
)
def test_arbitrary_input_only_raises_verification_errors(
    header: str, body: bytes, now: float
) -> None:
    # Anything but a VerificationError (ValueError, UnicodeError, ...) fails the test.
    with contextlib.suppress(VerificationError):
        verify([SECRET], {"workos-signature": header}, body, now=now, tolerance=TOLERANCE)
