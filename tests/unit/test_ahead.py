"""read_ahead: order kept, the next item produced while the caller works, and the source
closed when the caller stops early or fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from worker.ahead import read_ahead


class Source:
    """Yields 0..n-1 and records what happened to it."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.started: list[int] = []
        self.closed = False

    async def items(self) -> AsyncGenerator[int, None]:
        try:
            for i in range(self.n):
                self.started.append(i)
                await asyncio.sleep(0)
                if i == self.fail_at:
                    raise ValueError(f"bad item {i}")
                yield i
        finally:
            self.closed = True


async def collect(items: AsyncIterator[int], got: list[int]) -> None:
    async for i in items:
        got.append(i)


async def fail_on_first(items: AsyncIterator[int]) -> None:
    async for _ in items:
        raise KeyError("the caller's own failure")


async def test_items_arrive_in_order_and_all_of_them() -> None:
    source = Source(50)
    assert [i async for i in read_ahead(source.items())] == list(range(50))
    assert source.closed


async def test_the_next_item_is_produced_while_the_caller_works() -> None:
    source = Source(5)
    seen_ahead: list[list[int]] = []
    async for _ in read_ahead(source.items()):
        await asyncio.sleep(0.01)  # the caller's own work (a database round trip)
        seen_ahead.append(list(source.started))
    # While item i was in hand, item i+1 had already been started.
    assert seen_ahead[:4] == [[0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]]


async def test_stopping_early_closes_the_source() -> None:
    source = Source(100)
    got: list[int] = []
    async with asyncio.timeout(5):
        gen = read_ahead(source.items())
        async for i in gen:
            got.append(i)
            if i == 3:
                break
        await gen.aclose()
    assert got == [0, 1, 2, 3]
    assert source.closed
    assert max(source.started) <= 5  # nothing read far beyond what was asked


async def test_an_error_of_the_source_reaches_the_caller_in_order() -> None:
    source = Source(10, fail_at=4)
    got: list[int] = []
    with pytest.raises(ValueError, match="bad item 4"):
        await collect(read_ahead(source.items()), got)
    assert got == [0, 1, 2, 3]
    assert source.closed


async def test_an_error_of_the_caller_wins_and_closes_the_source() -> None:
    source = Source(10, fail_at=1)  # the item read ahead fails too
    gen = read_ahead(source.items())
    with pytest.raises(KeyError):
        await fail_on_first(gen)
    await gen.aclose()
    assert source.closed
