"""Signature verification errors shared by every provider. No HTTP types here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas.routed import Delivery


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
class Verified(Delivery):
    """Proof that `body` was signed by a holder of one of the secrets at `timestamp`."""


class Verify(Protocol):
    """A provider's `verify` (module `webhook_ingress.<source>`). Pure."""

    def __call__(
        self,
        secrets: Sequence[str],
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
        tolerance: float,
    ) -> Verified:
        """Return proof of origin or raise a VerificationError; never anything else."""
