"""The bounded body reader: a cap on bytes and on time."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.types import Message, Receive

from webhook_ingress.body import BodyTimeout, BodyTooLarge, read_bounded


def dripping(chunks: list[bytes], pause: float) -> Receive:
    """A receive() that hands out `chunks` one per `pause` seconds, then waits forever."""
    pending = list(chunks)

    async def receive() -> Message:
        await asyncio.sleep(pause)
        if not pending:
            await asyncio.Event().wait()
        return {"type": "http.request", "body": pending.pop(0), "more_body": True}

    return receive


async def test_a_body_that_keeps_dripping_is_given_up_at_the_timeout() -> None:
    receive = dripping([b"x"] * 1000, pause=0.05)
    started = time.monotonic()

    with pytest.raises(BodyTimeout):
        await read_bounded({}, receive, 1024 * 1024, within=0.3)

    assert 0.3 <= time.monotonic() - started < 1.5


async def test_a_body_that_stops_coming_is_given_up_at_the_timeout() -> None:
    receive = dripping([b"x" * 10], pause=0.0)

    with pytest.raises(BodyTimeout):
        await read_bounded({}, receive, 1024 * 1024, within=0.2)


async def test_the_size_cap_still_wins_over_a_timeout() -> None:
    receive = dripping([b"x" * 600, b"x" * 600], pause=0.0)

    with pytest.raises(BodyTooLarge):
        await read_bounded({}, receive, 1024, within=10)


async def test_a_whole_body_in_time_is_returned() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b'{"id": 1}', "more_body": False}

    assert await read_bounded({}, receive, 1024, within=0.5) == b'{"id": 1}'
