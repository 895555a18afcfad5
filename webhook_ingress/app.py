"""The ingress ASGI app: verify, hand to Kafka, answer. It never touches Postgres."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypedDict

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dsync.logs import Log, describe_bug
from dsync.metrics import IngressMetrics, exposition
from dsync.settings import Settings
from schemas.envelope import EventEnvelope
from webhook_ingress.body import read_bounded
from webhook_ingress.errors import ProviderNotConfigured, classify, error_response
from webhook_ingress.providers import Provider, configured
from webhook_ingress.publisher import KafkaPublisher, Publisher
from webhook_ingress.request_context import RequestContext

_log = Log("webhook_ingress")

Clock = Callable[[], float]
Endpoint = Callable[[Request], Awaitable[Response]]


class State(TypedDict):
    publisher: Publisher


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    clock: Clock = time.time,
    metrics: IngressMetrics | None = None,
) -> Starlette:
    """Build the ingress. `publisher`, `clock` and `metrics` are injectable for tests."""
    counters = metrics or IngressMetrics()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[State]:
        owned = publisher or KafkaPublisher(
            settings.require_bootstrap_servers(),
            settings.events_topic,
            ack_timeout=settings.broker_ack_timeout_seconds,
            idempotent=settings.kafka_idempotent_producer,
        )
        _log.info("ingress.started", topic=settings.events_topic)
        try:
            yield {"publisher": owned}
        finally:
            await owned.close()
            _log.info("ingress.stopped")

    def receiver(provider: Provider) -> Endpoint:
        async def receive(request: Request) -> Response:
            if not provider.secrets:
                raise ProviderNotConfigured
            body = await read_bounded(request, settings.max_body_bytes)
            verified = provider.verify(
                provider.secrets,
                request.headers,
                body,
                now=clock(),
                tolerance=settings.signature_tolerance_seconds,
            )
            received_at = datetime.fromtimestamp(clock(), UTC)
            envelopes = [
                EventEnvelope(
                    source=provider.source,
                    event_id=routed.event_id,
                    event_type=routed.event_type,
                    directory_id=routed.directory_id,
                    received_at=received_at,
                    body=routed.body,
                    occurred_at=routed.occurred_at,
                    key=routed.key,
                )
                for routed in provider.route(verified, request.headers)
            ]
            _bind_ids(envelopes)
            with counters.broker_ack.time():
                await request.state.publisher.publish(envelopes)
            for envelope in envelopes:
                counters.request(provider.source, envelope.event_type, "accepted")
                _log.info(
                    "webhook.accepted",
                    source=provider.source,
                    event_id=envelope.event_id,
                    event_type=envelope.event_type,
                    directory_id=envelope.directory_id,
                )
            return JSONResponse(_accepted(envelopes))

        return _guarded(provider.source, receive, counters)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await request.state.publisher.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "broker_unavailable"}, status_code=503)

    webhooks = [
        Route(f"/webhooks/{source}", receiver(provider), methods=["POST"])
        for source, provider in configured(settings).items()
    ]
    return Starlette(
        routes=[
            *webhooks,
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", exposition(counters.registry), methods=["GET"]),
        ],
        middleware=[Middleware(RequestContext)],
        lifespan=lifespan,
    )


def _bind_ids(envelopes: list[EventEnvelope]) -> None:
    """From here on (publish failure included), the request's log lines name what it
    carried. The request-context middleware unbinds them when the request ends."""
    ids: dict[str, str] = {}
    if len(envelopes) == 1:
        ids["event_id"] = envelopes[0].event_id
    directories = {e.directory_id for e in envelopes if e.directory_id is not None}
    if len(directories) == 1:
        ids["directory_id"] = directories.pop()
    structlog.contextvars.bind_contextvars(**ids)


def _accepted(envelopes: list[EventEnvelope]) -> dict[str, object]:
    """One event: its id (the historical shape); a batch (Polis): every id."""
    if len(envelopes) == 1:
        return {"status": "accepted", "event_id": envelopes[0].event_id}
    return {"status": "accepted", "event_ids": [e.event_id for e in envelopes]}


def _guarded(source: str, handler: Endpoint, counters: IngressMetrics) -> Endpoint:
    """Map every failure to a 4xx/503; the ingress never answers 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            outcome = classify(exc)
            counters.request(source, None, outcome[1])
            if outcome[1] == "internal_error":
                # Type and place only: exception messages may quote personal data.
                _log.error("webhook.unexpected_error", source=source, **describe_bug(exc))
            elif outcome[0] == 503:
                _log.error("webhook.publish_failed", source=source, error=str(exc))
            else:
                _log.info("webhook.rejected", source=source, outcome=outcome[1])
            return error_response(outcome)

    return endpoint
