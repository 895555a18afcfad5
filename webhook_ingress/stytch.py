"""Stytch webhook signatures, which Stytch delivers through Svix: `svix-id`,
`svix-timestamp` (unix seconds), `svix-signature: v1,<base64> [v1,<base64> ...]`, or the
same under `webhook-*` names. Verification is the `svix` library's; this module only
checks our own tolerance first and turns whatever the library raises on garbage into our
error tree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from svix.webhooks import Webhook, WebhookVerificationError

from webhook_ingress.verification import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
    Verified,
)

_ID = ("svix-id", "webhook-id")
_TIMESTAMP = ("svix-timestamp", "webhook-timestamp")
_SIGNATURE = ("svix-signature", "webhook-signature")


def message_id(headers: Mapping[str, str]) -> str | None:
    return _first(headers, _ID)


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float,
) -> Verified:
    """Raise a VerificationError unless one of `secrets` signed `body`. The library also
    enforces its own fixed five-minute tolerance."""
    message = _first(headers, _ID)
    timestamp_text = _first(headers, _TIMESTAMP)
    signature = _first(headers, _SIGNATURE)
    if not (message and timestamp_text and signature):
        raise MissingSignature
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise MalformedSignature
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > tolerance:
        raise TimestampOutOfTolerance
    # Exactly the values checked above, whatever duplicates the request carried.
    plain = {"svix-id": message, "svix-timestamp": timestamp_text, "svix-signature": signature}
    for secret in secrets:
        try:
            Webhook(secret).verify(body, plain)
        except WebhookVerificationError:
            continue
        except Exception as exc:  # the library raises ValueError, UnicodeDecodeError, ...
            raise MalformedSignature from exc
        return Verified(body=body, timestamp=float(timestamp))
    raise SignatureMismatch


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((headers[name] for name in names if headers.get(name)), None)
