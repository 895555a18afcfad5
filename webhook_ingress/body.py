"""Read a request body without ever holding more than the cap in memory."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request


class BodyTooLarge(Exception):
    """The body is larger than the configured cap. Maps to 413."""


class BodyUnreadable(Exception):
    """The client sent a bad Content-Length or went away mid-body. Maps to 400."""


async def read_bounded(request: Request, limit: int) -> bytes:
    """The raw body; refused early on a large Content-Length, and never read past `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyUnreadable("invalid Content-Length")
        if int(declared) > limit:
            raise BodyTooLarge
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > limit:
                raise BodyTooLarge
    except ClientDisconnect as exc:
        raise BodyUnreadable("client disconnected") from exc
    return bytes(buffer)
