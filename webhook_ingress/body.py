"""Read a request body from the ASGI stream without ever holding more than the cap, or
waiting longer than the body timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.types import Receive


class BodyTooLarge(Exception):
    """The body is larger than the configured cap. Maps to 413."""


class BodyTimeout(Exception):
    """The body did not arrive whole within the body timeout. Maps to 408 (and a close)."""


class BodyUnreadable(Exception):
    """The client sent a bad Content-Length or went away mid-body. Maps to 400."""


async def read_bounded(
    headers: Mapping[str, str], receive: Receive, limit: int, within: float
) -> bytes:
    """The raw body; refused early on a large Content-Length, never read past `limit`,
    and given up after `within` seconds (a sender dripping its body holds a connection
    and a task for as long as it likes otherwise). `headers` has lower-case names."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyUnreadable("invalid Content-Length")
        if int(declared) > limit:
            raise BodyTooLarge
    try:
        async with asyncio.timeout(within):
            return await _read(receive, limit)
    except TimeoutError:
        raise BodyTimeout from None


async def _read(receive: Receive, limit: int) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyUnreadable("client disconnected")
        chunk: bytes = message.get("body", b"")
        if chunk:
            # The usual request is one chunk: no copy then.
            body = body + chunk if body else chunk
            if len(body) > limit:
                raise BodyTooLarge
        if not message.get("more_body", False):
            return body
