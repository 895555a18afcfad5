"""The commit wait: a SCIM write answers only once the worker has decided and committed it.

The worker records each SCIM write's outcome keyed by event id and NOTIFYs
`dsync_scim_outcome` from the applying transaction (delivered at commit). One dedicated
connection per process LISTENs; a request registers its event id before producing, then
waits for the notification, with a deadline. A notification can be missed (the listening
connection dropped and came back), so the outcome table is also read every
`poll_seconds` while waiting: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import asyncpg

from dsync.logs import Log
from sql import query

CHANNEL = "dsync_scim_outcome"
_log = Log("scim_server.commits")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The worker's decision on one write (worker.scim_decisions.Verdict, as stored)."""

    status: int
    resource_id: str | None
    scim_type: str | None
    detail: str | None


class CommitWaiter:
    """Owns the LISTEN connection; `pool` reads outcomes."""

    def __init__(self, database_url: str, pool: asyncpg.Pool, *, poll_seconds: float = 1.0):
        self._url = database_url
        self._pool = pool
        self._poll = poll_seconds
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await self._listen()

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.remove_termination_listener(self._lost)  # our own close is no loss
            await listener.close()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._url)
        await conn.add_listener(CHANNEL, self._notified)
        conn.add_termination_listener(self._lost)
        self._listener = conn

    def _lost(self, _conn: object) -> None:
        _log.warning("scim.listener_lost")
        self._listener = None

    def _notified(self, _conn: object, _pid: int, _channel: str, event_id: object) -> None:
        future = self._waiting.get(str(event_id))
        if future is not None and not future.done():
            future.set_result(None)

    def expect(self, event_id: str) -> None:
        """Register before producing, so a fast commit's notification is not missed."""
        self._waiting[event_id] = asyncio.get_running_loop().create_future()

    def forget(self, event_id: str) -> None:
        self._waiting.pop(event_id, None)

    async def wait(self, event_id: str, deadline: float) -> Outcome | None:
        """The outcome once committed, or None when `deadline` seconds pass first."""
        future = self._waiting[event_id]
        try:
            async with asyncio.timeout(deadline):
                while True:
                    found = await self.outcome(event_id)
                    if found is not None:
                        return found
                    await self._reconnect_if_lost()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(future), self._poll)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(event_id, None)

    async def outcome(self, event_id: str) -> Outcome | None:
        row = await self._pool.fetchrow(query("scim_outcome"), event_id)
        if row is None:
            return None
        return Outcome(row["status"], row["resource_id"], row["scim_type"], row["detail"])

    async def _reconnect_if_lost(self) -> None:
        if self._listener is None:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._listen()
