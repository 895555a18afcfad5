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
from collections.abc import Sequence

from worker.batch import BatchResult, Polled
from worker.chain import Run
from worker.errors import PermanentDbError
from worker.item import Decoded

Part = tuple[int, Decoded]  # partition, record


class SplitOnRefusal:
    """Wraps `whole` (the capped chain): a batch it is refused is settled in halves by
    `part` (the bare chain, a transaction each), a single refused event dead-lettered by
    `part` too. Counts the transactions spent finding the refused events."""

    def __init__(self, whole: Run, part: Run) -> None:
        self._whole = whole
        self._part = part
        self.transactions = 0

    async def __call__(self, polled: Polled) -> BatchResult:
        try:
            return await self._whole(polled)
        except PermanentDbError as exc:
            self.transactions += 1
            parts = [(p, item) for p in sorted(polled) for item in polled[p]]
            return await self._split(parts, exc)

    async def _split(self, parts: list[Part], refused: PermanentDbError) -> BatchResult:
        if len(parts) == 1:
            return await self._refuse(*parts[0], refused)
        half = len(parts) // 2
        total = BatchResult(Counter(), {})
        for part in (parts[:half], parts[half:]):
            try:
                self.transactions += 1
                total += await self._part(_grouped(part))
            except PermanentDbError as exc:
                total += await self._split(part, exc)
        return total

    async def _refuse(self, partition: int, item: Decoded, exc: PermanentDbError) -> BatchResult:
        """The one event the database refused: dead-lettered, in its own transaction."""
        self.transactions += 1
        return await self._part({partition: [item.refused(f"database refused the event ({exc})")]})


def _grouped(parts: Sequence[Part]) -> dict[int, list[Decoded]]:
    polled: dict[int, list[Decoded]] = {}
    for partition, item in parts:
        polled.setdefault(partition, []).append(item)
    return polled
