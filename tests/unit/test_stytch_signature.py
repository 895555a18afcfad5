"""Stytch webhook signatures (Svix): `svix-id`, `svix-timestamp`, `svix-signature`.

The `svix` library enforces its own five-minute window against the real clock, so every
signature a test expects to verify is made now with the library's own signer."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers
from svix.webhooks import Webhook

from webhook_ingress.stytch import message_id, verify
from webhook_ingress.verification import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
    VerificationError,
)

# Official Svix test vector (docs.svix.com "Verifying payloads manually").
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = VECTOR_SECRET
OTHER_SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"
MSG_ID = "msg_2aTEST0000000000000000000"
BODY = (
    b'{"action":"DELETE","event_id":"webhook-event-test-1","id":"member-test-1",'
    b'"object_type":"member","source":"DASHBOARD","timestamp":"2024-01-02T03:04:05Z"}'
)
TOLERANCE = 300.0


def _sign(body: bytes, *, secret: str = SECRET, at: datetime, msg_id: str = MSG_ID) -> str:
    return Webhook(secret).sign(msg_id, at, body.decode())


def _signed_headers(
    body: bytes = BODY,
    *,
    secret: str = SECRET,
    at: datetime | None = None,
    msg_id: str = MSG_ID,
    prefix: str = "svix",
) -> dict[str, str]:
    moment = at if at is not None else datetime.now(UTC)
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(int(moment.timestamp())),
        f"{prefix}-signature": _sign(body, secret=secret, at=moment, msg_id=msg_id),
    }


# --- the official vector --------------------------------------------------------------


def test_library_signer_reproduces_official_vector_signature() -> None:
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    assert _sign(VECTOR_BODY, at=at, msg_id=VECTOR_ID) == VECTOR_SIGNATURE


def test_official_vector_signature_matches_independent_hmac_computation() -> None:
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    signed = f"{VECTOR_ID}.{VECTOR_TIMESTAMP}.".encode() + VECTOR_BODY
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    assert f"v1,{base64.b64encode(digest).decode()}" == VECTOR_SIGNATURE


def test_official_vector_secret_id_and_body_signed_now_verify() -> None:
    now = time.time()
    headers = _signed_headers(VECTOR_BODY, at=datetime.fromtimestamp(now, UTC), msg_id=VECTOR_ID)
    verified = verify([VECTOR_SECRET], headers, VECTOR_BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == VECTOR_BODY
    assert verified.timestamp == float(int(now))


# --- accepted -------------------------------------------------------------------------


def test_svix_headers_signed_now_are_accepted() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    verified = verify([SECRET], headers, BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == BODY
    assert verified.timestamp == float(headers["svix-timestamp"])


def test_webhook_prefixed_header_names_are_accepted() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC), prefix="webhook")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    verified = verify([SECRET], headers, BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == BODY


def test_message_id_reads_either_header_family() -> None:
    assert message_id({"svix-id": "msg_a"}) == "msg_a"
    assert message_id({"webhook-id": "msg_b"}) == "msg_b"
    assert message_id({}) is None


def test_lower_case_dict_headers_are_accepted() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    assert all(name == name.lower() for name in headers)
    verified = verify([SECRET], dict(headers), BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == BODY


def test_case_insensitive_starlette_headers_with_title_case_names_are_accepted() -> None:
    now = time.time()
    signed = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    title_case = Headers(
        {
            "Svix-Id": signed["svix-id"],
            "Svix-Timestamp": signed["svix-timestamp"],
            "Svix-Signature": signed["svix-signature"],
        }
    )
    verified = verify([SECRET], title_case, BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == BODY


def test_rotation_accepts_when_second_secret_signed() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    verified = verify([OTHER_SECRET, SECRET], headers, BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == BODY


def test_wrong_secret_alone_is_rejected() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    with pytest.raises(SignatureMismatch):
        verify([OTHER_SECRET], headers, BODY, now=now, tolerance=TOLERANCE)


def test_two_signatures_in_one_header_second_valid_is_accepted() -> None:
    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    headers = _signed_headers(at=at)
    stale_key_signature = _sign(BODY, secret=OTHER_SECRET, at=at)
    headers["svix-signature"] = f"{stale_key_signature} {headers['svix-signature']}"
    verified = verify([SECRET], headers, BODY, now=now, tolerance=TOLERANCE)
    assert verified.body == BODY


# --- rejected -------------------------------------------------------------------------


def test_tampered_body_is_rejected() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    tampered = BODY.replace(b"member-test-1", b"member-test-2")
    assert tampered != BODY
    with pytest.raises(SignatureMismatch):
        verify([SECRET], headers, tampered, now=now, tolerance=TOLERANCE)


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    del headers[missing]
    with pytest.raises(MissingSignature):
        verify([SECRET], headers, BODY, now=now, tolerance=TOLERANCE)


@pytest.mark.parametrize("timestamp", ["abc", "1700000000.5", "-1700000000", " 1700000000"])
def test_non_numeric_timestamp_is_malformed(timestamp: str) -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    headers["svix-timestamp"] = timestamp
    with pytest.raises(MalformedSignature):
        verify([SECRET], headers, BODY, now=now, tolerance=TOLERANCE)


def test_timestamp_outside_our_tolerance_is_rejected() -> None:
    # Within the library's five minutes, outside our 60 seconds.
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC) - timedelta(seconds=120))
    with pytest.raises(TimestampOutOfTolerance):
        verify([SECRET], headers, BODY, now=now, tolerance=60)


def test_timestamp_in_the_future_beyond_tolerance_is_rejected() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC) + timedelta(seconds=120))
    with pytest.raises(TimestampOutOfTolerance):
        verify([SECRET], headers, BODY, now=now, tolerance=60)


def test_signature_without_comma_is_malformed_not_value_error() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    headers["svix-signature"] = "BAD_SIGNATURE"
    with pytest.raises(MalformedSignature):
        verify([SECRET], headers, BODY, now=now, tolerance=TOLERANCE)


def test_non_utf8_body_raises_verification_error_not_unicode_error() -> None:
    now = time.time()
    headers = _signed_headers(at=datetime.fromtimestamp(now, UTC))
    body = b"\xff\xfe" + BODY
    with pytest.raises(VerificationError):
        verify([SECRET], headers, body, now=now, tolerance=TOLERANCE)


_PREFIXES = st.sampled_from(["svix", "webhook"])
_signature_values = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda parts: " ".join(parts),
        st.lists(
            st.one_of(
                st.text(max_size=20),
                st.sampled_from(["v1,", "v1a,abc", ",", "v1,abc", "v1,!!!!", VECTOR_SIGNATURE]),
                st.builds(lambda s: f"v1,{s}", st.text(max_size=50)),
            ),
            max_size=4,
        ),
    ),
)


@given(
    prefix=_PREFIXES,
    msg_id=st.text(max_size=40),
    timestamp=st.one_of(st.text(max_size=20), st.just("NOW"), st.integers().map(str)),
    signature=_signature_values,
    body=st.binary(max_size=200),
)
def test_arbitrary_headers_and_body_only_raise_verification_errors(
    prefix: str, msg_id: str, timestamp: str, signature: str, body: bytes
) -> None:
    now = time.time()
    headers = {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(int(now)) if timestamp == "NOW" else timestamp,
        f"{prefix}-signature": signature,
    }
    # Anything but a VerificationError (ValueError, UnicodeError, ...) fails the test.
    with contextlib.suppress(VerificationError):
        verify([SECRET], headers, body, now=now, tolerance=TOLERANCE)


def test_duplicated_timestamp_header_cannot_bypass_our_tolerance() -> None:
    # Starlette's Headers.get returns the first value, dict(headers.items()) keeps the last:
    # the signed timestamp (120 s old) must be the one held to our 60 s tolerance, and the
    # Verified timestamp must never be an unsigned header value.
    now = time.time()
    signed_at = datetime.fromtimestamp(now, UTC) - timedelta(seconds=120)
    signed = _signed_headers(at=signed_at)
    headers = Headers(
        raw=[
            (b"svix-id", signed["svix-id"].encode()),
            (b"svix-timestamp", str(int(now)).encode()),
            (b"svix-timestamp", signed["svix-timestamp"].encode()),
            (b"svix-signature", signed["svix-signature"].encode()),
        ]
    )
    with pytest.raises(VerificationError):
        verify([SECRET], headers, BODY, now=now, tolerance=60)
