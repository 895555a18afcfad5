"""The worker's admin HTTP port: `/metrics` (Prometheus), `/healthz` and `/diagnostics`
(the JSON of `dsync status`, behind a bearer token)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dsync.metrics import WorkerMetrics, exposition
from dsync.servers import HostedServer
from dsync.settings import Settings

Diagnostics = Callable[[], Awaitable[dict[str, Any]]]


def admin_app(
    metrics: WorkerMetrics,
    *,
    diagnostics: Diagnostics | None = None,
    token: SecretStr | None = None,
) -> Starlette:
    """`/diagnostics` answers 404 unless both a token and a source are given."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def diagnose(request: Request) -> Response:
        if token is None or diagnostics is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if not _authorized(request.headers.get("authorization"), token):
            return JSONResponse(
                {"error": "unauthorized"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return JSONResponse(await diagnostics())

    return Starlette(
        routes=[
            Route("/metrics", exposition(metrics.registry), methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/diagnostics", diagnose, methods=["GET"]),
        ]
    )


def _authorized(header: str | None, token: SecretStr) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def admin_server(
    settings: Settings, metrics: WorkerMetrics, diagnose: Diagnostics
) -> HostedServer | None:
    if settings.worker_admin_port == 0:
        return None
    config = uvicorn.Config(
        admin_app(metrics, diagnostics=diagnose, token=settings.diagnostics_token),
        host=settings.worker_admin_host,
        port=settings.worker_admin_port,
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    return HostedServer(config)


async def wait_started(server: HostedServer, serving: asyncio.Task[None]) -> None:
    """Fail loudly (e.g. port taken) before consuming anything."""
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("the worker's admin server stopped while starting")
        await asyncio.sleep(0.02)
