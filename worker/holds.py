"""Holds: a partition of a stream that must not go on until an operator decides.

A hold is a row in `dsync_internal.partition_holds`, keyed like the stored offsets
(consumer group, topic, partition). Every worker leaves a held partition out of its
batches (in the batch's transaction, so no race lets one through) and pauses it, while the
other partitions go on; `dsync offsets reset` or `dsync offsets resume` releases it, and the
workers resume it from the offset stored in PostgreSQL. The reasons are a closed set:

- `offset_beyond_end`: the stored offset is past the partition's end (the topic was
  recreated, or the broker lost records it had acknowledged);
- `offset_before_start`: the partition starts after the stored offset (retention or a
  deletion removed records never applied);
- `partition_missing`: an offset is stored for a partition the topic no longer has;
- `offset_gap`: the records read start after the stored offset;
- `dead_letter_cap`: a batch of the partition would dead-letter more than
  DSYNC_DEAD_LETTER_MAX_SHARE of its events (a bad deploy, a flood of invalid events).

The caller owns the transaction of every function here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sql import query
from worker.store import TxConn

HoldReason = Literal[
    "offset_beyond_end",
    "offset_before_start",
    "partition_missing",
    "offset_gap",
    "dead_letter_cap",
]
HOLD_REASONS: tuple[HoldReason, ...] = get_args(HoldReason)
MISMATCHES: frozenset[HoldReason] = frozenset(HOLD_REASONS) - {"dead_letter_cap"}


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a partition was held and what the worker saw then."""

    partition: int
    reason: HoldReason
    stored_offset: int
    log_start: int | None = None
    log_end: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HoldRow:
    """A partition's row: its hold (active, or the last one released; None when only an
    offset reset made the row) and when an operator last released it."""

    partition: int
    hold: Hold | None
    released_at: datetime | None
    released_by: str | None
    cap_waived_through: int | None

    @property
    def active(self) -> Hold | None:
        return self.hold if self.released_at is None else None


def mismatch(partition: int, stored: int, log_start: int, log_end: int) -> Hold | None:
    """Pure: does the stored offset (the next to apply) fit the partition's log?
    `stored` equal to `log_end` means caught up; equal to `log_start`, nothing applied yet
    of what the log holds."""
    if stored > log_end:
        return Hold(partition, "offset_beyond_end", stored, log_start, log_end)
    if stored < log_start:
        return Hold(partition, "offset_before_start", stored, log_start, log_end)
    return None


async def place(conn: TxConn, group: str, topic: str, hold: Hold) -> bool:
    """Hold the partition; False when it was held already (by this or another worker)."""
    placed = await conn.fetchval(
        query("place_hold"),
        group,
        topic,
        hold.partition,
        hold.reason,
        hold.stored_offset,
        hold.log_start,
        hold.log_end,
        hold.detail,
    )
    return placed is not None


async def rows(conn: TxConn, group: str, topic: str) -> list[HoldRow]:
    """Every hold row of the stream, released ones included."""
    return [_row(r) for r in await conn.fetch(query("stream_holds"), group, topic)]


async def held(conn: TxConn, group: str, topic: str, partitions: Sequence[int]) -> set[int]:
    """Which of `partitions` are held now."""
    found = await conn.fetch(query("held_partitions"), group, topic, list(partitions))
    return {int(r["partition"]) for r in found}


async def mark_reset(
    conn: TxConn, group: str, topic: str, partition: int, offset: int, actor: str
) -> None:
    """Record an offset reset as a release, so the workers move to the new offset even
    when the partition was not held."""
    await conn.execute(query("mark_reset"), group, topic, partition, offset, actor)


async def release(
    conn: TxConn, group: str, topic: str, partition: int, actor: str, waive_through: int | None
) -> Hold | None:
    """Release the partition's hold (None: it was not held). `waive_through`: the last
    offset whose dead letters no longer count against the cap."""
    row = await conn.fetchrow(query("release_hold"), group, topic, partition, actor, waive_through)
    if row is None:
        return None
    return Hold(
        partition,
        row["reason"],
        row["stored_offset"],
        row["log_start"],
        row["log_end"],
        _json(row["detail"]),
    )


def _row(r: Any) -> HoldRow:
    partition = int(r["partition"])
    hold = None
    if r["reason"] is not None:
        hold = Hold(
            partition,
            r["reason"],
            int(r["stored_offset"]),
            r["log_start"],
            r["log_end"],
            _json(r["detail"]),
        )
    return HoldRow(partition, hold, r["released_at"], r["released_by"], r["cap_waived_through"])


def _json(value: Any) -> dict[str, Any]:
    """jsonb arrives decoded on the worker's connections, as text on a plain one."""
    return dict(json.loads(value) if isinstance(value, str) else value)
