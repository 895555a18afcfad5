"""Read ahead: the next item of an async source is produced while the caller works on the
one in hand, so a reader's fetching and decoding overlap the database's work on the
previous batch instead of taking turns with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(source: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """`source`'s items in order, one always being produced ahead. When the caller stops
    early (break or error), the item in production is abandoned and `source` is closed,
    so its context managers (a consumer, say) run their exits here, not at collection."""
    upcoming = asyncio.ensure_future(anext(source))
    try:
        while True:
            try:
                item = await upcoming
            except StopAsyncIteration:
                return
            upcoming = asyncio.ensure_future(anext(source))
            yield item
    finally:
        upcoming.cancel()
        await asyncio.wait([upcoming])
        if not upcoming.cancelled():
            upcoming.exception()  # retrieved: the caller's own error is the one to raise
        await source.aclose()
