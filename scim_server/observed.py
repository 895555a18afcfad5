"""Counting the SCIM server's answers (dsync_scim_requests_total), as ASGI middleware
inside Starlette's error handling: a bug that escapes every handler is counted as the 500
Starlette's outer layer then sends."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsync.source_metrics import ScimMetrics

SCIM_PATH = "/scim/v2/directories/"


class CountedAnswers:
    """Counts every answer under SCIM_PATH by method, resource and status; probes and
    /metrics are not SCIM traffic and are not counted."""

    def __init__(self, app: ASGIApp, metrics: ScimMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(SCIM_PATH):
            await self._app(scope, receive, send)
            return
        method, resource = scope["method"], resource_of(path)
        started = False

        async def counted(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                self._metrics.answered(method, resource, message["status"])
            await send(message)

        try:
            await self._app(scope, receive, counted)
        except Exception:
            if not started:
                self._metrics.answered(method, resource, 500)
            raise


def resource_of(path: str) -> str:
    """`Users` for /scim/v2/directories/{id}/Users/{rid}; the metric bounds the rest."""
    parts = path[len(SCIM_PATH) :].split("/")
    return parts[1] if len(parts) > 1 else ""
