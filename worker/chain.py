"""The worker's batch as a chain of small steps, composed per use instead of switched by
flags. One item type flows through (worker/item.py); the steps read and fill in one batch
state (worker/batch.py) inside the caller's transaction (worker/steps.py).

The steps, in the order they run:

    fence               lock the partitions' offset rows; let in what is not applied yet,
                        leave out held partitions, hold a partition whose records skip ahead
    set_aside_rejected  what decoding rejected is dead-lettered
    dedupe              events already in the event-id inbox (or twice in the batch) are
                        duplicates
    decide_scim_writes  SCIM writes decided (uniqueness, versions) and their outcomes
                        recorded; a refused one loses its commands (worker/scim_step.py)
    lock_directories    serialise the writers of each directory
    load_tables         the slice of the directory tables the events touch
    skip_disabled       events of directories an operator disabled are ignored
    fold                each event folded into the slice by the merge rules (applied, stale,
                        ignored, or dead-lettered when it can never apply)
    write               the changed rows, then the cascades of deleted directories
    access              the access model follows the rows written
    record              the event-id inbox rows and the dead letters (with their outbox rows)
    store_offsets       each partition's next offset, in the same transaction
    latency_budget      the directories' degraded flags

The compositions:

    live sync  every step (`live_sync`): the worker's poll, one transaction per poll.
    replay     no fence, no inbox, no offsets, no latency budget (`REPLAY`): it reads the
               topic outside the consumer group and re-applies old events, which the merge
               rules alone make harmless.
    rebuild    replay without the directory locks (nothing else writes: one transaction
               over emptied tables) and without the access step (`REBUILD`): replayed
               intermediate states must not revoke credentials issued since; the access
               model is brought in line once, at the end.

What wraps the live-sync chain (worker/live_sync.py), innermost first:

    the dead-letter cap   (worker/cap.py) checks the applied chain in its transaction; a
                          partition over the cap is rolled back, held, and the rest is run
                          again without it
    split on refusal      (worker/refusals.py) a batch the database refuses for good is run
                          again in halves, the bare chain in a transaction each, until the
                          refused events are found and dead-lettered alone
    retry                 a transient failure runs the whole again after a backoff, without
                          committing anything
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from worker.batch import Batch, BatchResult, Polled, Stream
from worker.item import Decoded
from worker.scim_step import decide_scim_writes
from worker.steps import (
    Fence,
    RecordLatencyBudget,
    Step,
    StoreOffsets,
    dedupe,
    fold,
    load_tables,
    lock_directories,
    record,
    set_aside_rejected,
    skip_disabled,
    sync_batch_access,
    write,
)
from worker.store import Store, TxConn

Chain = tuple[Step, ...]
Run = Callable[[Polled], Awaitable[BatchResult]]  # a chain applied in a transaction of its own


def live_sync(stream: Stream, budget_seconds: float) -> Chain:
    return (
        Fence(stream),
        set_aside_rejected,
        dedupe,
        decide_scim_writes,
        lock_directories,
        load_tables,
        skip_disabled,
        fold,
        write,
        sync_batch_access,
        record,
        StoreOffsets(stream),
        RecordLatencyBudget(budget_seconds),
    )


REPLAY: Chain = (
    set_aside_rejected,
    decide_scim_writes,
    lock_directories,
    load_tables,
    skip_disabled,
    fold,
    write,
    sync_batch_access,
    record,
)
REBUILD: Chain = (
    set_aside_rejected,
    decide_scim_writes,
    load_tables,
    skip_disabled,
    fold,
    write,
    record,
)


async def run(conn: TxConn, chain: Chain, batch: Batch) -> BatchResult:
    """Every step in order, in the caller's transaction."""
    for step in chain:
        await step(conn, batch)
    return batch.result()


async def apply_polled(conn: TxConn, chain: Chain, polled: Polled) -> BatchResult:
    """A poll's records, by partition, through `chain` in the caller's transaction."""
    return await run(conn, chain, Batch.of_poll(polled))


async def apply_items(conn: TxConn, chain: Chain, items: Sequence[Decoded]) -> BatchResult:
    """Items read outside a consumer group, in the order read, in the caller's transaction."""
    return await run(conn, chain, Batch.of_items(items))


def in_transaction(store: Store, chain: Chain) -> Run:
    """`chain` as a run in a transaction of its own."""

    async def apply(polled: Polled) -> BatchResult:
        async with store.transaction() as conn:
            return await apply_polled(conn, chain, polled)

    return apply
