"""WorkOS webhook signatures: `WorkOS-Signature: t=<unix ms>, v1=<hex>`.

The signature is HMAC-SHA256 keyed by the endpoint secret (its UTF-8 bytes) over
`"{t}." + raw body`, hex encoded. Pure functions: the caller passes `now`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from webhook_ingress.verification import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
    Verified,
)

HEADER = "workos-signature"
_MAX_HEADER = 4096
_HEX = frozenset("0123456789abcdef")


def sign(secret: str, body: bytes, timestamp_ms: int) -> str:
    """The header value WorkOS would send for this body at this time."""
    return f"t={timestamp_ms}, v1={_digest(secret.encode(), str(timestamp_ms), body)}"


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float,
) -> Verified:
    """Check the signature against every secret (rotation); raise a VerificationError.

    `headers` must be case-insensitive or lower-cased. Tolerance applies both ways.
    """
    raw = headers.get(HEADER)
    if not raw:
        raise MissingSignature
    timestamp_ms, candidates = _parse_header(raw)
    if abs(now - timestamp_ms / 1000) > tolerance:
        raise TimestampOutOfTolerance
    for secret in secrets:
        expected = _digest(secret.encode(), str(timestamp_ms), body)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return Verified(body=body, timestamp=timestamp_ms / 1000)
    raise SignatureMismatch


def _digest(key: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return mac.hexdigest()


def _parse_header(raw: str) -> tuple[int, list[str]]:
    """Lenient: `t=..,v1=..` with or without spaces, several v1 values allowed."""
    if len(raw) > _MAX_HEADER or not raw.isascii():
        raise MalformedSignature
    timestamp: int | None = None
    candidates: list[str] = []
    for part in raw.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature
        if key == "t":
            if not value.isdigit() or len(value) > 16 or timestamp is not None:
                raise MalformedSignature
            timestamp = int(value)
        elif key == "v1":
            value = value.lower()
            if len(value) != 64 or not _HEX.issuperset(value):
                raise MalformedSignature
            candidates.append(value)
    if timestamp is None or not candidates:
        raise MalformedSignature
    return timestamp, candidates
