"""The SCIM ASGI app: one per process (`create_app`), its lifespan owning the database
pool, the LISTEN connection and the producer. Per directory, under
/scim/v2/directories/{directory_id}/: Users, Groups (and their /.search), /.search over
both, ServiceProviderConfig, ResourceTypes, Schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from dsync.logs import Log, describe_bug
from dsync.metrics import exposition
from dsync.producer import KafkaProducer, Producer
from dsync.settings import Settings
from dsync.source_metrics import ScimMetrics
from scim_server.commits import CommitWaiter
from scim_server.context import Scim
from scim_server.discovery import Discovery
from scim_server.errors import ScimError, error_response
from scim_server.groups import Groups
from scim_server.health import ScimReadiness, healthz, readiness, readiness_response
from scim_server.observed import CountedAnswers
from scim_server.search import Searches
from scim_server.store import Store
from scim_server.users import Users
from scim_server.writes import Writer

_log = Log("scim_server")
PREFIX = "/scim/v2/directories/{directory_id}"


class _Late:
    """The parts the lifespan creates, for routes built before it runs."""

    scim: Scim
    ready: Callable[[], Awaitable[ScimReadiness]]


def create_app(
    settings: Settings,
    *,
    producer: Producer | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    metrics: ScimMetrics | None = None,
) -> Starlette:
    """Build the SCIM server. `producer`, `clock` and `metrics` are injectable for tests."""
    late = _Late()
    counters = metrics or ScimMetrics()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        url = settings.require_database_url()
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=settings.database_pool_size, init=_jsonb
        )
        waiter = CommitWaiter(url, pool)
        await waiter.start()
        owned = producer or KafkaProducer(
            settings.require_bootstrap_servers(),
            ack_timeout=settings.broker_ack_timeout_seconds,
            idempotent=settings.kafka_idempotent_producer,
        )
        timeout = settings.scim_commit_timeout_seconds
        writer = Writer(owned, settings.events_topic, waiter, timeout=timeout, metrics=counters)
        base = settings.scim_base_url()
        late.scim = Scim(Store(pool), writer, base, settings.max_body_bytes, clock)
        bound = settings.broker_ack_timeout_seconds
        late.ready = lambda: readiness(pool, owned, settings.events_topic, bound)
        _log.info("scim.started", topic=settings.events_topic)
        try:
            yield
        finally:
            await owned.close()
            await waiter.close()
            await pool.close()
            _log.info("scim.stopped")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", _readyz(late), methods=["GET"]),
            Route("/metrics", exposition(counters.registry), methods=["GET"]),
            Mount(PREFIX, routes=_routes(late)),
        ],
        lifespan=lifespan,
        middleware=[Middleware(CountedAnswers, metrics=counters)],
        exception_handlers={
            ScimError: _scim_error,
            HTTPException: _http_error,
            Exception: _bug,
        },
    )


def _routes(late: _Late) -> list[Route]:
    def on(kind: type, method: str) -> object:
        async def endpoint(request: Request) -> Response:
            handler = getattr(kind(late.scim), method)
            response: Response = await handler(request)
            return response

        return endpoint

    def route(path: str, kind: type, methods: dict[str, str]) -> list[Route]:
        return [Route(path, on(kind, m), methods=[verb]) for verb, m in methods.items()]  # type: ignore[arg-type]

    one = {"GET": "get", "PUT": "replace", "PATCH": "patch", "DELETE": "delete"}
    return [
        *route("/Users", Searches, {"GET": "users"}),
        *route("/Users", Users, {"POST": "create"}),
        *route("/Users/.search", Searches, {"POST": "users"}),
        *route("/Users/{rid}", Users, one),
        *route("/Groups", Searches, {"GET": "groups"}),
        *route("/Groups", Groups, {"POST": "create"}),
        *route("/Groups/.search", Searches, {"POST": "groups"}),
        *route("/Groups/{rid}", Groups, one),
        *route("/ServiceProviderConfig", Discovery, {"GET": "config"}),
        *route("/ResourceTypes", Discovery, {"GET": "resource_types"}),
        *route("/ResourceTypes/{name}", Discovery, {"GET": "resource_types"}),
        *route("/Schemas", Discovery, {"GET": "schemas"}),
        *route("/Schemas/{name}", Discovery, {"GET": "schemas"}),
        *route("/.search", Searches, {"POST": "everything"}),
    ]


async def _jsonb(conn: asyncpg.Connection) -> None:
    import json

    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _readyz(late: _Late) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(_request: Request) -> Response:
        return readiness_response(await late.ready())

    return readyz


async def _scim_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(ScimError(exc.status_code, exc.detail or "not found"))


async def _bug(_request: Request, exc: Exception) -> Response:
    _log.error("scim.request_failed", **describe_bug(exc))
    return error_response(ScimError(500, "internal error"))
