"""The ingress ASGI app: verify, hand to Kafka, answer. It never touches Postgres."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dsync.logs import Log, describe_bug
from dsync.metrics import IngressMetrics, exposition
from dsync.settings import Settings
from webhook_ingress.providers import configured
from webhook_ingress.publisher import KafkaPublisher, Publisher
from webhook_ingress.readiness import shared_check
from webhook_ingress.request_context import RequestContext
from webhook_ingress.webhook import Clock, WebhookEndpoint

_log = Log("webhook_ingress")


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    clock: Clock = time.time,
    metrics: IngressMetrics | None = None,
) -> ASGIApp:
    """Build the ingress. `publisher`, `clock` and `metrics` are injectable for tests."""
    counters = metrics or IngressMetrics()
    # The producer connects on first use, so the ingress starts while the broker is down.
    owned = publisher or KafkaPublisher(
        settings.require_bootstrap_servers(),
        settings.events_topic,
        ack_timeout=settings.broker_ack_timeout_seconds,
        idempotent=settings.kafka_idempotent_producer,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        _log.info("ingress.started", topic=settings.events_topic)
        try:
            yield
        finally:
            await owned.close()
            _log.info("ingress.stopped")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    readiness = shared_check(owned.readiness)

    async def readyz(_request: Request) -> Response:
        """200 only while a webhook could be stored: broker up and events topic present."""
        try:
            state = await readiness()
        except Exception as exc:  # not ready is the safe answer, and never a 500
            _log.error("readiness.check_failed", **describe_bug(exc))
            state = "broker_unavailable"
        return JSONResponse({"status": state}, status_code=200 if state == "ready" else 503)

    rest = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", exposition(counters.registry), methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    webhooks = {
        f"/webhooks/{source}": WebhookEndpoint(provider, owned, settings, clock, counters)
        for source, provider in configured(settings).items()
    }
    return RequestContext(Dispatch(webhooks, rest))


class Dispatch:
    """The webhook URLs go straight to their endpoint; everything else (health, metrics,
    lifespan) to the Starlette app."""

    def __init__(self, webhooks: Mapping[str, ASGIApp], rest: ASGIApp) -> None:
        self._webhooks = webhooks
        self._rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._webhooks.get(scope["path"]) if scope["type"] == "http" else None
        await (endpoint or self._rest)(scope, receive, send)
