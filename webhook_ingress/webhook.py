"""`POST /webhooks/<provider>`: verify, hand to Kafka, answer. It never touches Postgres.

A bare ASGI app rather than a Starlette route: this is the only path that carries load,
and Starlette's request and response objects, router and exception middleware were a
fifth of the ingress's CPU per webhook (py-spy, B1). Every failure still maps to one
4xx/503 answer in `errors.py`; nothing here answers 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from dsync.logs import Log, describe_bug
from dsync.metrics import IngressMetrics
from dsync.settings import Settings
from schemas.envelope import EventEnvelope, to_envelopes
from webhook_ingress.body import read_bounded
from webhook_ingress.errors import ProviderNotConfigured, classify, error_response, reason
from webhook_ingress.providers import Provider
from webhook_ingress.publisher import Publisher

_log = Log("webhook_ingress")

Clock = Callable[[], float]

_JSON = (b"content-type", b"application/json")
_NOT_ALLOWED = b'{"error":"method_not_allowed","detail":"use POST"}'


class WebhookEndpoint:
    """One provider's webhook URL."""

    def __init__(
        self,
        provider: Provider,
        publisher: Publisher,
        settings: Settings,
        clock: Clock,
        counters: IngressMetrics,
    ) -> None:
        self._provider = provider
        self._publisher = publisher
        self._limit = settings.max_body_bytes
        self._body_timeout = settings.body_timeout_seconds
        self._tolerance = settings.signature_tolerance_seconds
        self._clock = clock
        self._counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _answer(send, 405, _NOT_ALLOWED, (b"allow", b"POST"))
            return
        try:
            envelopes = await self._accept(scope, receive)
        except Exception as exc:
            await self._refuse(exc)(scope, receive, send)
            return
        await _answer(send, 200, _accepted(envelopes))

    async def _accept(self, scope: Scope, receive: Receive) -> list[EventEnvelope]:
        provider = self._provider
        if not provider.secrets:
            raise ProviderNotConfigured
        headers = _headers(scope)
        body = await read_bounded(headers, receive, self._limit, self._body_timeout)
        now = self._clock()
        verified = provider.verify(
            provider.secrets, headers, body, now=now, tolerance=self._tolerance
        )
        received_at = datetime.fromtimestamp(now, UTC)
        accepted = to_envelopes(provider.source, provider.route(verified, headers), received_at)
        _bind_ids(accepted)
        handed = time.perf_counter()
        await self._publisher.publish(accepted)
        self._counters.broker_ack.observe(time.perf_counter() - handed)
        # The events topic is the record of what was accepted (and the metrics count it);
        # at the default level (info) the log records only what was refused.
        for envelope in accepted:
            self._counters.request(provider.source, envelope.event_type, "accepted")
            _log.debug(
                "webhook.accepted",
                source=provider.source,
                event_id=envelope.event_id,
                event_type=envelope.event_type,
                directory_id=envelope.directory_id,
            )
        return accepted

    def _refuse(self, exc: Exception) -> JSONResponse:
        source = self._provider.source
        outcome = classify(exc)
        self._counters.request(source, None, outcome[1])
        if outcome[1] == "internal_error":
            # Type and place only: exception messages may quote personal data.
            _log.error("webhook.unexpected_error", source=source, **describe_bug(exc))
        elif outcome[0] == 503:
            _log.error("webhook.publish_failed", source=source, error=str(exc))
        else:
            _log.info("webhook.rejected", source=source, outcome=outcome[1], reason=reason(exc))
        return error_response(outcome, reason(exc))


def _headers(scope: Scope) -> dict[str, str]:
    """Lower-case names (as ASGI gives them); the first of repeated headers wins."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


async def _answer(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bind_ids(envelopes: Sequence[EventEnvelope]) -> None:
    """From here on (publish failure included), the request's log lines name what it
    carried. The request-context middleware unbinds them when the request ends."""
    if len(envelopes) == 1:
        [only] = envelopes
        if only.directory_id is None:
            structlog.contextvars.bind_contextvars(event_id=only.event_id)
        else:
            structlog.contextvars.bind_contextvars(
                event_id=only.event_id, directory_id=only.directory_id
            )
        return
    ids: dict[str, str] = {}
    directories = {e.directory_id for e in envelopes if e.directory_id is not None}
    if len(directories) == 1:
        ids["directory_id"] = directories.pop()
    structlog.contextvars.bind_contextvars(**ids)


def _accepted(envelopes: Sequence[EventEnvelope]) -> bytes:
    """One event: its id (the historical shape); a batch (Polis): every id."""
    answer: dict[str, object] = {"status": "accepted"}
    if len(envelopes) == 1:
        answer["event_id"] = envelopes[0].event_id
    else:
        answer["event_ids"] = [e.event_id for e in envelopes]
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
