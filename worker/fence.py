"""Which records of a poll one transaction may apply: the offset check of `apply_batch`.

Per partition, in the batch's transaction: the offset row is locked (serialising every
consumer of the partition), records below the stored offset are dropped (applied already),
a held partition is left out whole, and records that start after the stored offset (a gap:
offsets missing from the log) hold the partition instead of being applied, so nothing is
skipped silently. No Kafka types here; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dsync.logs import Log
from worker import holds
from worker import repository as repo
from worker.decode import Decoded
from worker.holds import Hold
from worker.store import TxConn

_log = Log("worker.fence")


@dataclass(frozen=True, slots=True)
class Fenced:
    todo: list[Decoded] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)  # of the partitions let in
    first_offsets: dict[int, int] = field(default_factory=dict)  # of the partitions advanced


async def fence(
    conn: TxConn, group: str, topic: str, batches: Mapping[int, Sequence[Decoded]]
) -> Fenced:
    """Offset rows are locked in partition order, before anything else."""
    fenced = Fenced()
    stored: dict[int, int] = {}
    for partition in sorted(batches):
        stored[partition] = await repo.lock_offset(conn, group, topic, partition)
    held = await holds.held(conn, group, topic, sorted(batches)) if batches else set()
    for partition in sorted(set(batches) - held):
        offset = stored[partition]
        fresh = [item for item in batches[partition] if item.record.offset >= offset]
        if offset >= 0 and fresh and fresh[0].record.offset > offset:
            await _hold_gap(conn, group, topic, partition, offset, fresh[0].record.offset)
            continue
        fenced.next_offsets[partition] = fresh[-1].record.offset + 1 if fresh else offset
        if fresh:
            fenced.todo.extend(fresh)
            fenced.first_offsets[partition] = fresh[0].record.offset
    return fenced


async def _hold_gap(
    conn: TxConn, group: str, topic: str, partition: int, stored: int, got: int
) -> None:
    hold = Hold(partition, "offset_gap", stored, detail={"first_offset_read": got})
    if await holds.place(conn, group, topic, hold):
        _log.error(
            "worker.partition_held",
            reason=hold.reason,
            topic=topic,
            partition=partition,
            stored_offset=stored,
            first_offset_read=got,
        )
