"""What `dsync status` prints and `GET /diagnostics` serves: per directory and provider,
the last webhook received and event applied, counts, sync latency over the last five
minutes, dead letters and the latency-budget state; and the consumer group's lag.

Read-only: `directory_status` and `consumer_lag` are the core; `collect` and
`read_status` wire them to the store and the broker. The table `dsync status` prints is
drawn in dsync/shell/status.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiokafka.errors import KafkaError

from dsync.settings import Settings
from schemas.base import utc_text
from sql import query
from worker import holds, topic_bounds
from worker import repository as repo
from worker.holds import Hold
from worker.reconciliations import (
    Reconciliation,
    UnfinishedReconciliation,
    last_reconciliations,
    unfinished_reconciliations,
)
from worker.store import Store, TxConn

WINDOW = timedelta(minutes=5)
_BROKER_TIMEOUT = 10.0

EndOffsets = Callable[[], Awaitable[dict[int, int]]]

State = Literal["healthy", "degraded"]


@dataclass(frozen=True, slots=True)
class DirectoryStatus:
    directory_id: str | None  # None: events that name no directory
    provider: str | None
    last_received_at: datetime | None  # latest receive time of an event in the inbox
    last_applied_at: datetime | None
    events_total: int  # events in the inbox (applied, stale, ignored), ever
    applied: int  # these four: within the window
    stale: int
    ignored: int
    dead_lettered: int
    p50_seconds: float | None  # sync latency of applied events within the window
    p99_seconds: float | None
    dead_letters: int  # ever
    dead_letters_not_redriven: int
    degraded_since: datetime | None
    last_breach_event_id: str | None
    last_breach_seconds: float | None

    @property
    def state(self) -> State:
        return "healthy" if self.degraded_since is None else "degraded"


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    end_offset: int
    next_offset: int | None  # None: the group has stored no offset for it yet
    lag: int


@dataclass(frozen=True, slots=True)
class Status:
    generated_at: datetime
    latency_budget_seconds: float
    directories: Sequence[DirectoryStatus]
    group: str
    topic: str
    lag: Sequence[PartitionLag] | None  # None: the broker could not be asked
    lag_error: str | None = None
    held: Sequence[Hold] = ()  # partitions that apply nothing until an operator decides
    reconciliations: Sequence[Reconciliation] = ()  # the last run per directory
    unfinished: Sequence[UnfinishedReconciliation] = ()  # running or stopped runs

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": _iso(self.generated_at),
            "window_seconds": int(WINDOW.total_seconds()),
            "latency_budget_seconds": self.latency_budget_seconds,
            "directories": [_directory_json(d) for d in self.directories],
            "consumer_lag": {
                "group": self.group,
                "topic": self.topic,
                "total": None if self.lag is None else sum(p.lag for p in self.lag),
                "partitions": None
                if self.lag is None
                else [
                    {
                        "partition": p.partition,
                        "end_offset": p.end_offset,
                        "next_offset": p.next_offset,
                        "lag": p.lag,
                    }
                    for p in self.lag
                ],
                "error": self.lag_error,
            },
            "held_partitions": [_hold_json(h) for h in self.held],
            "reconciliations": [r.to_json() for r in self.reconciliations],
            "reconciliations_unfinished": [r.to_json() for r in self.unfinished],
        }


async def directory_status(conn: TxConn, now: datetime) -> list[DirectoryStatus]:
    """Degraded directories first, then by directory id and provider."""
    rows = await conn.fetch(query("directory_status"), now - WINDOW)
    return [DirectoryStatus(**dict(row)) for row in rows]


async def read_status(settings: Settings) -> Status:
    """`dsync status`: its own connection and a short-lived consumer outside the group.
    Without a broker address, everything but the lag (shown as unknown)."""
    store = await Store.open(settings.require_database_url(), size=1)
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.events_topic
    ends: EndOffsets | None = None
    if bootstrap:
        ends = lambda: topic_bounds.end_offsets(bootstrap, topic)  # noqa: E731
    try:
        return await collect(store, ends, settings, datetime.now(UTC))
    finally:
        await store.close()


async def collect(
    store: Store, end_offsets: EndOffsets | None, settings: Settings, now: datetime
) -> Status:
    """Everything in one read; an unreachable (or unnamed: `end_offsets` None) broker
    leaves the lag out, not the rest."""
    group, topic = settings.worker_group_id, settings.events_topic
    async with store.transaction() as conn:
        directories = await directory_status(conn, now)
        stored = await repo.stored_offsets(conn, group, topic)
        held = [row.active for row in await holds.rows(conn, group, topic) if row.active]
        runs = await last_reconciliations(conn)
        unfinished = await unfinished_reconciliations(conn)
    budget = settings.sync_latency_budget_seconds
    if end_offsets is None:
        unnamed = "no broker address (set DSYNC_KAFKA_BOOTSTRAP_SERVERS)"
        return Status(now, budget, directories, group, topic, None, unnamed, held, runs, unfinished)
    lag: list[PartitionLag] | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(_BROKER_TIMEOUT):
            lag = consumer_lag(await end_offsets(), stored)
    except (KafkaError, OSError, TimeoutError) as exc:
        error = f"broker: {type(exc).__name__}"
    return Status(now, budget, directories, group, topic, lag, error, held, runs, unfinished)


def consumer_lag(end_offsets: Mapping[int, int], stored: Mapping[int, int]) -> list[PartitionLag]:
    """Lag of the group per partition: its end offset minus the next offset the group
    stored in PostgreSQL (the truth; Kafka's committed offsets may trail it). A partition
    the group never stored an offset for lags by all it holds (it starts at the beginning;
    retention may make the true figure smaller)."""
    return [
        PartitionLag(p, end, stored.get(p), max(end - stored.get(p, 0), 0))
        for p, end in sorted(end_offsets.items())
    ]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else utc_text(moment)


def _directory_json(d: DirectoryStatus) -> dict[str, Any]:
    return {
        "directory_id": d.directory_id,
        "provider": d.provider,
        "state": d.state,
        "degraded_since": _iso(d.degraded_since),
        "last_breach": None
        if d.last_breach_event_id is None
        else {"event_id": d.last_breach_event_id, "latency_seconds": d.last_breach_seconds},
        "last_webhook_received_at": _iso(d.last_received_at),
        "last_event_applied_at": _iso(d.last_applied_at),
        "events_total": d.events_total,
        "window": {
            "applied": d.applied,
            "stale": d.stale,
            "ignored": d.ignored,
            "dead_lettered": d.dead_lettered,
            "sync_latency_p50_seconds": d.p50_seconds,
            "sync_latency_p99_seconds": d.p99_seconds,
        },
        "dead_letters": d.dead_letters,
        "dead_letters_not_redriven": d.dead_letters_not_redriven,
    }


def _hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "partition": hold.partition,
        "reason": hold.reason,
        "stored_offset": hold.stored_offset,
        "log_start": hold.log_start,
        "log_end": hold.log_end,
        **hold.detail,
    }
