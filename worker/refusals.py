"""A batch the database refuses for good (SQLSTATE 22xxx/23xxx): find the refused events
by splitting the batch in halves, so k refused events among n cost about 2·k·log2(n)
transactions instead of n (one per event).

Each half is applied in its own transaction; a half that commits is done, a half that is
refused is split again, and a single refused event is dead-lettered. Halves are applied
left before right and keep each partition's offset order, so every transaction stores a
partition's offset past records that are all settled: the outcome is the one of applying
each event alone, in order (the merge rules make the grouping irrelevant).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

from worker.batch import BatchResult
from worker.decode import Decoded
from worker.errors import PermanentDbError

Batches = Mapping[int, Sequence[Decoded]]
Item = tuple[int, Decoded]  # partition, record
Attempt = Callable[[Batches], Awaitable[BatchResult]]  # one transaction; may be refused
Refuse = Callable[[int, Decoded, PermanentDbError], Awaitable[BatchResult]]


async def bisect(
    batches: Batches, refused: PermanentDbError, attempt: Attempt, refuse: Refuse
) -> BatchResult:
    """`batches` was refused as a whole (`refused`): settle it in halves."""
    items = [(partition, item) for partition in sorted(batches) for item in batches[partition]]
    return await _split(items, refused, attempt, refuse)


async def _split(
    items: list[Item], refused: PermanentDbError, attempt: Attempt, refuse: Refuse
) -> BatchResult:
    if len(items) == 1:
        partition, item = items[0]
        return await refuse(partition, item, refused)
    half = len(items) // 2
    total = BatchResult(Counter(), {})
    for part in (items[:half], items[half:]):
        try:
            total += await attempt(_grouped(part))
        except PermanentDbError as exc:
            total += await _split(part, exc, attempt, refuse)
    return total


def _grouped(items: list[Item]) -> dict[int, list[Decoded]]:
    batches: dict[int, list[Decoded]] = {}
    for partition, item in items:
        batches.setdefault(partition, []).append(item)
    return batches
