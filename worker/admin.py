"""The worker's admin HTTP port: `/metrics` (Prometheus) and `/healthz`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dsync.metrics import WorkerMetrics, exposition


def admin_app(metrics: WorkerMetrics) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/metrics", exposition(metrics.registry), methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
