"""The request-id middleware: one id per request, in its log context and its response."""

from __future__ import annotations

import asyncio
import re

import pytest
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook_ingress.request_context import RequestContext, request_id_from

GENERATED = re.compile(r"[0-9a-f]{32}")


def echo_bound_ids(both_inside: asyncio.Barrier | None = None) -> ASGIApp:
    """An endpoint that binds an event id (as the ingress does), waits until the other
    request is in flight too, then answers with the request id it sees bound."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        structlog.contextvars.bind_contextvars(event_id="event_1")
        if both_inside is not None:
            await both_inside.wait()
        bound = structlog.contextvars.get_contextvars()["request_id"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": bound.encode()})

    return app


async def call(app: ASGIApp, request_id: bytes | None = None) -> tuple[str | None, str]:
    """One GET through `app`: the X-Request-Id answered and the body."""
    headers = [] if request_id is None else [(b"x-request-id", request_id)]
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    answered = dict(sent[0]["headers"]).get(b"x-request-id")
    return (answered.decode() if answered else None), sent[1]["body"].decode()


async def test_a_supplied_sane_id_is_bound_and_echoed() -> None:
    answered, bound = await call(RequestContext(echo_bound_ids()), b"lb-7f3a.9_Z-1")

    assert answered == bound == "lb-7f3a.9_Z-1"


async def test_without_an_id_one_is_generated_bound_and_answered() -> None:
    answered, bound = await call(RequestContext(echo_bound_ids()))

    assert answered == bound
    assert GENERATED.fullmatch(bound)


@pytest.mark.parametrize(
    "supplied",
    [
        b"x" * 129,
        b"abc\nforged-log-line",
        b"two words",
        b"",
        b'{"admin":true}',
    ],
)
async def test_an_insane_id_is_replaced_not_echoed(supplied: bytes) -> None:
    answered, bound = await call(RequestContext(echo_bound_ids()), supplied)

    assert answered == bound
    assert GENERATED.fullmatch(bound)


def test_the_longest_sane_id_is_kept() -> None:
    assert request_id_from("a" * 128) == "a" * 128
    assert request_id_from("a" * 129) != "a" * 129


async def test_two_concurrent_requests_keep_their_own_ids() -> None:
    app = RequestContext(echo_bound_ids(asyncio.Barrier(2)))

    first, second = await asyncio.gather(call(app, b"first"), call(app, b"second"))

    assert first == ("first", "first")
    assert second == ("second", "second")


async def test_nothing_bound_by_a_request_outlives_it() -> None:
    structlog.contextvars.bind_contextvars(request_id="outer", worker="w1")
    try:
        await call(RequestContext(echo_bound_ids()), b"inner")

        assert structlog.contextvars.get_contextvars() == {"request_id": "outer", "worker": "w1"}
    finally:
        structlog.contextvars.clear_contextvars()


async def test_lifespan_passes_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        seen.extend(structlog.contextvars.get_contextvars())

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(_message: Message) -> None:
        raise AssertionError("not called")

    await RequestContext(app)({"type": "lifespan"}, receive, send)

    assert seen == ["lifespan"]
