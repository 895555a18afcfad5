"""The steps of the worker's chain (worker/chain.py says which run when). Each one is an
`async (conn, batch) -> None` that reads and fills in the batch (worker/batch.py) inside
the caller's transaction, and costs no round trip when it has nothing to do. A step
settles items in place and never replaces one: `batch.items` is what the run reports.
No Kafka types here; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dsync.logs import Log
from worker import fence as fencing
from worker import repository as repo
from worker.access import disabled_directories, sync_access
from worker.batch import Batch, Stream
from worker.errors import InvalidEvent
from worker.item import Accepted
from worker.latency_budget import assess
from worker.store import TxConn
from worker.tables import TableSlice

_log = Log("worker.batch")

Step = Callable[[TxConn, Batch], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Fence:
    """Let in only what this transaction may apply (worker/fence.py): the offset rows are
    locked first; records applied already, held partitions and gaps are left out."""

    stream: Stream

    async def __call__(self, conn: TxConn, batch: Batch) -> None:
        fenced = await fencing.fence(conn, self.stream.group, self.stream.topic, batch.polled)
        batch.items = fenced.todo
        batch.next_offsets = fenced.next_offsets
        batch.first_offsets = fenced.first_offsets


async def set_aside_rejected(conn: TxConn, batch: Batch) -> None:
    """Items decoding rejected are dead-lettered; the accepted ones go on, unsettled."""
    batch.fresh = []
    for item in batch.items:
        if isinstance(item, Accepted):
            item.outcome = None  # a part of a refused batch may have been settled before
            batch.fresh.append(item)
        else:
            item.settle("dead_lettered", item.reason)


async def dedupe(conn: TxConn, batch: Batch) -> None:
    """Events already in the event-id inbox, or repeated within the batch, are duplicates."""
    seen: set[tuple[str, str]] = set()
    for source in {item.envelope.source for item in batch.fresh}:
        ids = [item.envelope.event_id for item in batch.fresh if item.envelope.source == source]
        seen.update((source, event_id) for event_id in await repo.seen_events(conn, source, ids))
    fresh: list[Accepted] = []
    for item in batch.fresh:
        key = item.inbox_key
        if key in seen:
            item.settle("duplicate")
            continue
        seen.add(key)
        fresh.append(item)
    batch.fresh = fresh


async def lock_directories(conn: TxConn, batch: Batch) -> None:
    """Serialise writers of the same directories (rebuild, alone on the tables, skips it)."""
    await repo.lock_directories(conn, batch.keys.directories)


async def load_tables(conn: TxConn, batch: Batch) -> None:
    """The slice of the directory tables the fresh items' commands touch."""
    keys = batch.keys
    batch.tables = TableSlice(
        directories=await repo.load_directories(conn, keys.directories),
        users=await repo.load_users(conn, keys.users),
        groups=await repo.load_groups(conn, keys.groups),
        memberships=await repo.load_memberships(conn, keys.memberships),
        pending=await repo.load_pending_deletions(conn, keys.users, keys.groups),
    )


async def skip_disabled(conn: TxConn, batch: Batch) -> None:
    """An operator disabled sync for these directories: their events change nothing."""
    disabled = await disabled_directories(conn, (item.directory for item in batch.fresh))
    if disabled:
        for item in batch.fresh:
            if item.directory in disabled:
                item.settle("ignored")


async def fold(conn: TxConn, batch: Batch) -> None:
    """Fold each unsettled fresh item into the slice, all or nothing per event; an event
    that can never apply (InvalidEvent) is dead-lettered and changes nothing."""
    tables = batch.tables
    for item in batch.fresh:
        if item.outcome is not None:
            continue
        try:
            item.settle(tables.apply(item.commands))
        except InvalidEvent as exc:
            item.settle("dead_lettered", str(exc))


async def write(conn: TxConn, batch: Batch) -> None:
    """The rows the batch changed, then the cascades of the directories it deleted."""
    tables = batch.tables
    await repo.save_directories(conn, tables.changed_directories())
    await repo.save_users(conn, tables.changed_users())
    await repo.save_groups(conn, tables.changed_groups())
    await repo.save_memberships(conn, tables.changed_memberships())
    await repo.save_pending_deletions(conn, tables.changed_pending())
    for directory in tables.deleted_directories.values():
        await repo.cascade_directory_deletion(conn, directory)


async def sync_batch_access(conn: TxConn, batch: Batch) -> None:
    """The access model follows the rows written (worker/access.py), each change
    attributed to the event that last changed its object."""
    for item in batch.fresh:
        if item.outcome == "applied":
            batch.causes.record(item.envelope, item.commands or ())
    batch.access = await sync_access(conn, batch.tables, batch.causes)


async def record(conn: TxConn, batch: Batch) -> None:
    """The inbox rows of the events folded in (once per event id: without dedupe one may
    come twice), and the dead letters, queued for the dead-letter topic."""
    rows = {i.inbox_key: i for i in batch.fresh if i.outcome != "dead_lettered"}
    await repo.record_events(conn, [item.inbox_row() for item in rows.values()])
    letters = [item.dead_letter() for item in batch.items if item.outcome == "dead_lettered"]
    await repo.dead_letter(conn, letters)
    for letter in letters:
        _log.warning(
            "worker.event_dead_lettered",
            event_id=letter.event_id,
            directory_id=letter.directory_id,
            reason=letter.reason,
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
        )


@dataclass(frozen=True, slots=True)
class StoreOffsets:
    """Each partition's next offset, in the transaction that applied its records."""

    stream: Stream

    async def __call__(self, conn: TxConn, batch: Batch) -> None:
        for partition in batch.first_offsets:
            offset = batch.next_offsets[partition]
            await repo.store_offset(conn, self.stream.group, self.stream.topic, partition, offset)


@dataclass(frozen=True, slots=True)
class RecordLatencyBudget:
    """Degraded flags change in the batch's own transaction, so they always describe
    committed batches. Live sync only: replay and rebuild re-apply old events."""

    budget_seconds: float

    async def __call__(self, conn: TxConn, batch: Batch) -> None:
        verdicts = assess(batch.items, datetime.now(UTC), self.budget_seconds)
        batch.degraded = await repo.record_health(conn, verdicts)
