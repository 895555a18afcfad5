"""The `t=<unix ms>,<key>=<hex>` signature header family: HMAC-SHA256 keyed by the
secret's UTF-8 bytes over `"{t}." + raw body`, hex encoded. WorkOS names the signature
`v1`; Ory Polis names it `s`. Pure functions: the caller passes `now`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webhook_ingress.verification import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
    Verified,
)

_MAX_HEADER = 4096
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Scheme:
    headers: tuple[str, ...]  # lower-case names, tried in order
    signature_key: str

    def sign(self, secret: str, body: bytes, timestamp_ms: int) -> str:
        """The header value the provider would send for this body at this time."""
        digest = _digest(secret.encode(), str(timestamp_ms), body)
        return f"t={timestamp_ms}, {self.signature_key}={digest}"

    def verify(
        self,
        secrets: Sequence[str],
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
        tolerance: float,
    ) -> Verified:
        """Check the signature against every secret (rotation); raise a VerificationError.
        `headers` must be case-insensitive or lower-cased. Tolerance applies both ways."""
        raw = next((headers[name] for name in self.headers if headers.get(name)), None)
        if raw is None:
            raise MissingSignature
        timestamp_ms, candidates = self._parse(raw)
        if abs(now - timestamp_ms / 1000) > tolerance:
            raise TimestampOutOfTolerance
        for secret in secrets:
            expected = _digest(secret.encode(), str(timestamp_ms), body)
            if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
                return Verified(body=body, timestamp=timestamp_ms / 1000)
        raise SignatureMismatch

    def _parse(self, raw: str) -> tuple[int, list[str]]:
        """Lenient: with or without spaces, several signatures allowed, any hex case."""
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
            elif key == self.signature_key:
                value = value.lower()
                if len(value) != 64 or not _HEX.issuperset(value):
                    raise MalformedSignature
                candidates.append(value)
        if timestamp is None or not candidates:
            raise MalformedSignature
        return timestamp, candidates


def _digest(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
