"""`GET /readyz`: 200 only while an event could be stored, at a bounded cost to the broker."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# A probe answer is at most this old. Load balancers and Kubernetes probe every few
# seconds, so a second of staleness changes nothing for them, and however many probes
# arrive (several balancers, a scanner) the broker sees one metadata request a second.
READY_CACHE_SECONDS = 1.0


class SharedCheck(Generic[T]):
    """Answers with the result of `check`, run at most once per `ttl` seconds: callers
    within `ttl` of the last result get it again, and callers while a check is running
    wait for that one. `check` must bound its own duration (the producer's readiness
    check gives up at the ack timeout)."""

    def __init__(
        self, check: Callable[[], Awaitable[T]], ttl: float, clock: Callable[[], float]
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._clock = clock
        self._last: tuple[float, T] | None = None
        self._running: asyncio.Task[T] | None = None

    async def __call__(self) -> T:
        last = self._last
        if last is not None and self._clock() - last[0] < self._ttl:
            return last[1]
        if self._running is None:
            # Shared by every waiting probe: not any one request's log context, and not
            # cancelled with the request that started it.
            self._running = asyncio.get_running_loop().create_task(
                self._refresh(), context=contextvars.Context()
            )
        return await asyncio.shield(self._running)

    async def _refresh(self) -> T:
        try:
            answer = await self._check()
            self._last = (self._clock(), answer)
            return answer
        finally:
            self._running = None


def shared_check(check: Callable[[], Awaitable[T]]) -> SharedCheck[T]:
    """The readiness check as the ingress runs it."""
    return SharedCheck(check, READY_CACHE_SECONDS, time.monotonic)
