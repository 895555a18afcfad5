"""One batch as it goes through the chain (worker/chain.py): what the steps read and fill
in (`Batch`), and what a run hands back (`BatchResult`). No Kafka types, no I/O.

A batch is the items of one transaction: a poll of several partitions (live sync), a
fetched slice of the topic (replay, rebuild) or a part of a refused batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from worker.access import AccessSummary, Causes
from worker.item import Accepted, Decoded, Outcome
from worker.tables import Keys, TableSlice, keys_of

Polled = Mapping[int, Sequence[Decoded]]  # partition -> its records, in offset order


@dataclass(frozen=True, slots=True)
class Stream:
    """Which consumer group reads which topic: the key of the offsets stored in PostgreSQL."""

    group: str
    topic: str


@dataclass(slots=True, eq=False)
class Batch:
    """The state one run of the chain builds up, step by step."""

    polled: Polled  # as fetched, by partition
    items: list[Decoded]  # those the run applies: every one settled when the run ends
    fresh: list[Accepted] = field(default_factory=list)  # those to fold into the tables
    tables: TableSlice = field(default_factory=lambda: TableSlice({}, {}, {}, {}))
    disabled: set[tuple[str, str]] = field(default_factory=set)  # (provider, directory id)
    causes: Causes = field(default_factory=Causes)
    access: AccessSummary = field(default_factory=AccessSummary)
    next_offsets: dict[int, int] = field(default_factory=dict)  # partition -> next to apply
    first_offsets: dict[int, int] = field(default_factory=dict)  # of the records applied
    degraded: int | None = None  # directories over the latency budget, once recorded
    _keys: Keys | None = None

    @classmethod
    def of_poll(cls, polled: Polled) -> Batch:
        return cls(polled, [item for partition in sorted(polled) for item in polled[partition]])

    @classmethod
    def of_items(cls, items: Sequence[Decoded]) -> Batch:
        """Items read outside a consumer group (replay): no partitions, no offsets."""
        return cls({}, list(items))

    @property
    def keys(self) -> Keys:
        """The rows the fresh items' commands touch (computed once, after dedupe)."""
        if self._keys is None:
            self._keys = keys_of(c for item in self.fresh for c in item.commands or ())
        return self._keys

    def result(self) -> BatchResult:
        outcomes: Counter[Outcome] = Counter()
        for item in self.items:
            if item.outcome is not None:
                outcomes[item.outcome] += 1
        return BatchResult(
            outcomes,
            self.next_offsets,
            self.items,
            self.access,
            self.first_offsets,
            self.degraded,
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one or more committed runs did: outcomes, offsets, the settled items (each
    item is its own report: worker.item)."""

    outcomes: Counter[Outcome]
    next_offsets: dict[int, int]  # partition -> next offset to apply
    items: list[Decoded] = field(default_factory=list)
    access: AccessSummary = field(default_factory=AccessSummary)
    first_offsets: dict[int, int] = field(default_factory=dict)  # of the records applied
    degraded: int | None = None  # the latest count of degraded directories, if recorded

    def __add__(self, other: BatchResult) -> BatchResult:
        offsets = dict(self.next_offsets)
        for partition, offset in other.next_offsets.items():
            offsets[partition] = max(offset, offsets.get(partition, offset))
        firsts = dict(other.first_offsets)
        for partition, offset in self.first_offsets.items():
            firsts[partition] = min(offset, firsts.get(partition, offset))
        return BatchResult(
            self.outcomes + other.outcomes,
            offsets,
            self.items + other.items,
            self.access + other.access,
            firsts,
            other.degraded if other.degraded is not None else self.degraded,
        )
