"""A request id for every HTTP request: on each of its log lines and in its response.

Pure ASGI (no BaseHTTPMiddleware): the endpoint runs in the same task and context as this
middleware, so what it binds is seen by every log line of the request, and the body stream
is passed through untouched.
"""

from __future__ import annotations

import itertools
import re
import secrets

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()

# What a load balancer or a sender puts there (uuids, trace ids). Anything else, such as a
# newline meant to forge a log line or a megabyte of padding, is replaced, not echoed.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")

# Generated ids: 16 random hex digits for this process, then a 16-digit counter. Unique
# across processes without a system call per request (uuid4 reads the kernel's entropy).
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def request_id_from(supplied: str | None) -> str:
    """The caller's id when it is a sane token, else a new one."""
    if supplied is not None and _SANE.fullmatch(supplied):
        return supplied
    return f"{_PREFIX}{next(_COUNTER):016x}"


def _supplied(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER_KEY:
            return str(value.decode("latin-1"))
    return None


class RequestContext:
    """Binds `request_id` in structlog's context for the request (and only for it) and
    answers it in the `X-Request-Id` response header. Keys the endpoint binds on top
    (event_id, directory_id) are unbound when the request ends."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = request_id_from(_supplied(scope))
        answered = (_HEADER_KEY, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), answered]
            await send(message)

        # Undo exactly what this request bound (not clear_contextvars()): whatever was bound
        # around us survives, and nothing of this request outlives it.
        outer = structlog.contextvars.get_contextvars().keys()
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self._app(scope, receive, send_with_id)
        finally:
            added = structlog.contextvars.get_contextvars().keys() - outer - tokens.keys()
            if added:
                structlog.contextvars.unbind_contextvars(*added)
            structlog.contextvars.reset_contextvars(**tokens)
