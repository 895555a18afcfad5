"""Signature verification errors shared by every provider. No HTTP types here."""

from __future__ import annotations

from dataclasses import dataclass


class VerificationError(Exception):
    """The request is not provably from the provider. Maps to 401."""

    reason = "invalid signature"


class MissingSignature(VerificationError):
    reason = "missing signature header"


class MalformedSignature(VerificationError):
    reason = "malformed signature header"


class TimestampOutOfTolerance(VerificationError):
    reason = "signature timestamp outside tolerance"


class SignatureMismatch(VerificationError):
    reason = "signature does not match"


@dataclass(frozen=True, slots=True)
class Verified:
    """Proof that `body` was signed by a holder of one of the secrets at `timestamp`."""

    body: bytes
    timestamp: float
