"""The transactional outbox relay.

Rows of `dsync_internal.outbox` are written in the same transaction as the change that
caused them (a dead letter, an access change) and published here after that commit: in id
order, by one relay at a time across every worker (a transaction-scoped advisory lock), and
deleted in the transaction that published them once the broker acknowledged. A failed
produce rolls back, so the rows stay and are published again later: at least once, and in
order per key (one key's rows are written by one partition's batches, one after another).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dsync.logs import Log
from dsync.producer import Message, ProduceError, Producer
from dsync.settings import Settings
from sql import query
from worker.errors import TransientError
from worker.store import Store, TxConn

_log = Log("worker.outbox")

# The advisory-lock key only the relay takes ("dsyncobx" read as a big-endian int64).
RELAY_LOCK_KEY = int.from_bytes(b"dsyncobx", "big")
RELAY_BATCH = 500
RELAY_INTERVAL_SECONDS = 1.0

# Which feed an outbox row is published to (its `stream` column): the change feed or the
# dead-letter topic. (worker.batch.Stream is a consumer group's topic: another thing.)
Feed = Literal["changes", "dead_letters"]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    stream: Feed
    key: str | None
    headers: dict[str, Any]
    value: bytes


def topic_for(stream: Feed, settings: Settings) -> str:
    topics: dict[Feed, str] = {
        "changes": settings.changes_topic,
        "dead_letters": settings.dead_letter_topic,
    }
    return topics[stream]


def kafka_headers(headers: Mapping[str, Any]) -> tuple[tuple[str, bytes], ...]:
    """jsonb headers -> Kafka headers. Values are strings; anything else (written by hand
    in SQL) travels as its JSON text rather than failing the relay."""
    return tuple(
        (name, (value if isinstance(value, str) else json.dumps(value)).encode())
        for name, value in headers.items()
    )


def message_of(row: OutboxRow, settings: Settings) -> Message:
    return Message(
        topic=topic_for(row.stream, settings),
        key=row.key.encode() if row.key is not None else None,
        value=row.value,
        headers=kafka_headers(row.headers),
    )


async def take(conn: TxConn, limit: int) -> list[OutboxRow] | None:
    """The oldest rows (the lock is ours until commit), or None when another relay holds
    the lock."""
    rows = await conn.fetch(query("outbox_take"), RELAY_LOCK_KEY, limit)
    if not rows[0]["held"]:
        return None
    return [
        OutboxRow(row["id"], row["stream"], row["key"], row["headers"], row["value"])
        for row in rows
        if row["id"] is not None
    ]


async def delete(conn: TxConn, ids: list[int]) -> None:
    await conn.execute(query("outbox_delete"), ids)


async def pending(store: Store) -> int:
    async with store.transaction() as conn:
        return int(await conn.fetchval(query("outbox_pending")))


async def relay_once(
    store: Store, producer: Producer, settings: Settings, *, limit: int = RELAY_BATCH
) -> int | None:
    """Publish up to `limit` rows and delete them, in one transaction; the number
    published, or None when another relay holds the lock. Raises ProduceError (rows kept)
    when the broker does not acknowledge."""
    async with store.transaction() as conn:
        rows = await take(conn, limit)
        if not rows:
            return rows if rows is None else 0
        await producer.send_all([message_of(row, settings) for row in rows])
        await delete(conn, [row.id for row in rows])
    return len(rows)


class Relay:
    """Owned by the worker's composition root: relays when poked (a round of batches
    committed) and every interval. Broker or database trouble is logged and retried on
    the next pass; it never stops the worker."""

    def __init__(
        self,
        store: Store,
        producer: Producer,
        settings: Settings,
        report_pending: Callable[[int], None],
        *,
        interval: float = RELAY_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self._producer = producer
        self._settings = settings
        self._report_pending = report_pending
        self._interval = interval
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Relay soon (must not block: called from the poll loop)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set (poke after setting it, to end promptly); then once more."""
        while not stop.is_set():
            await self.relay()
            try:
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
        await self.relay()

    async def relay(self) -> None:
        drained = False  # if so, nothing was left as of our last take: no need to count
        try:
            try:
                while (
                    published := await relay_once(self._store, self._producer, self._settings)
                ) == RELAY_BATCH:
                    pass
                drained = published is not None
            finally:
                self._report_pending(0 if drained else await pending(self._store))
        except (ProduceError, TransientError) as exc:
            _log.warning("outbox.relay_failed", error=str(exc))
