"""Every way a webhook request can fail, mapped to one HTTP answer in one place."""

from __future__ import annotations

from starlette.responses import JSONResponse

from dsync.metrics import IngressOutcome
from schemas.errors import InvalidPayload
from webhook_ingress.body import BodyTimeout, BodyTooLarge, BodyUnreadable
from webhook_ingress.publisher import PublishError
from webhook_ingress.verification import TimestampOutOfTolerance, VerificationError


class ProviderNotConfigured(Exception):
    """No secret is configured for this provider, so nothing it sends can be verified."""


Answer = tuple[int, IngressOutcome]  # the HTTP status and the metric outcome of a failure

# Checked in order; the first matching class wins.
_MAP: tuple[tuple[type[Exception], Answer], ...] = (
    (TimestampOutOfTolerance, (401, "stale_timestamp")),
    (VerificationError, (401, "bad_signature")),
    (BodyTooLarge, (413, "too_large")),
    (BodyTimeout, (408, "body_timeout")),
    (BodyUnreadable, (400, "malformed")),
    (InvalidPayload, (400, "malformed")),
    (ProviderNotConfigured, (404, "provider_not_configured")),
    (PublishError, (503, "broker_unavailable")),
)
UNEXPECTED: Answer = (503, "internal_error")

_DETAIL = {
    "stale_timestamp": "signature timestamp is outside the allowed tolerance",
    "bad_signature": "signature is missing, malformed or does not match",
    "too_large": "request body exceeds the size limit",
    "body_timeout": "request body was not received in time",
    "malformed": "request body is not a usable event",
    "provider_not_configured": "no webhook secret is configured for this provider",
    "broker_unavailable": "event could not be stored; retry later",
    "internal_error": "event could not be stored; retry later",
}


_HEADERS = {
    503: {"Retry-After": "5"},
    # The rest of a body that came too slowly is not worth waiting for.
    408: {"Connection": "close"},
}


def classify(exc: Exception) -> Answer:
    for cls, outcome in _MAP:
        if isinstance(exc, cls):
            return outcome
    return UNEXPECTED


_MAX_REASON = 300


def reason(exc: Exception) -> str | None:
    """The sender's short reason for a body it must not send again as is, or None (the
    code's fixed detail). InvalidPayload messages name fields and rules, never values."""
    if isinstance(exc, InvalidPayload):
        return str(exc)[:_MAX_REASON] or None
    return None


def error_response(answer: Answer, detail: str | None = None) -> JSONResponse:
    status, code = answer
    headers = _HEADERS.get(status)
    body = {"error": code, "detail": detail or _DETAIL[code]}
    return JSONResponse(body, status_code=status, headers=headers)
