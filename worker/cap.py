"""The dead-letter cap: a partition whose batch would dead-letter more than
DSYNC_DEAD_LETTER_MAX_SHARE of at least DSYNC_DEAD_LETTER_MIN_BATCH events is more likely
a bad deploy or a flood than bad data. Its batch is rolled back and the partition is held
(worker/holds.py, reason `dead_letter_cap`) until an operator runs `dsync offsets resume`,
which accepts the held records as they are: they are dead-lettered and the partition goes
on. The other partitions go on meanwhile.

`capped` wraps a chain (worker/chain.py): the check runs in the chain's transaction, after
its last step, and a breach rolls the whole transaction back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sql import query
from worker.batch import BatchResult, Polled, Stream
from worker.chain import Chain, Run, apply_polled
from worker.errors import DeadLetterCapExceeded
from worker.holds import Hold
from worker.store import Store, TxConn

HoldPartition = Callable[[Hold], Awaitable[None]]  # holds a partition and stops fetching it


@dataclass(frozen=True, slots=True)
class Breach:
    partition: int
    dead: int
    total: int
    first_offset: int
    last_offset: int

    def hold(self) -> Hold:
        detail = {
            "dead_lettered": self.dead,
            "events": self.total,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
        }
        return Hold(self.partition, "dead_letter_cap", self.first_offset, detail=detail)


def over_cap(dead: int, total: int, max_share: float, min_batch: int) -> bool:
    """Pure: the rule itself."""
    return total >= min_batch and dead > total * max_share


async def breaches(
    conn: TxConn, stream: Stream, result: BatchResult, max_share: float, min_batch: int
) -> list[Breach]:
    """The partitions of an applied (not yet committed) batch over the cap. Records an
    operator accepted (`dsync offsets resume`) count neither as dead letters nor as events."""
    if not result.outcomes["dead_lettered"]:
        return []
    partitions = sorted(result.first_offsets)
    rows = await conn.fetch(
        query("dead_letters_in_ranges"),
        stream.group,
        stream.topic,
        partitions,
        [result.first_offsets[p] for p in partitions],
        [result.next_offsets[p] for p in partitions],
    )
    return [
        Breach(
            int(row["partition"]),
            int(row["dead"]),
            int(row["total"]),
            result.first_offsets[row["partition"]],
            result.next_offsets[row["partition"]] - 1,
        )
        for row in rows
        if over_cap(int(row["dead"]), int(row["total"]), max_share, min_batch)
    ]


@dataclass(frozen=True, slots=True)
class Cap:
    max_share: float
    min_batch: int


def capped(store: Store, chain: Chain, stream: Stream, cap: Cap, hold: HoldPartition) -> Run:
    """`chain` in a transaction of its own, checked against the cap before it commits. The
    partitions over it are held (`hold`), and the rest is run again without them (the fence
    leaves held partitions out)."""

    async def apply(polled: Polled) -> BatchResult:
        while True:
            try:
                async with store.transaction() as conn:
                    result = await apply_polled(conn, chain, polled)
                    over = await breaches(conn, stream, result, cap.max_share, cap.min_batch)
                    if over:
                        raise DeadLetterCapExceeded(over)  # rolls the whole batch back
                    return result
            except DeadLetterCapExceeded as exc:
                for breach in exc.breaches:
                    await hold(breach.hold())

    return apply
