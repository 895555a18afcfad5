"""What an operator decides for a held partition (worker/holds.py): `dsync offsets
show|reset|resume`, whose command line is dsync/shell/offsets.py.

- `show`: per partition, the offset stored in PostgreSQL, the log's start and end, and
  its hold, if any.
- `reset --partition P --to earliest|latest|OFFSET --yes`: stores a new next offset for
  the partition and releases its hold, in one transaction; the workers resume it from there
  without a restart. `earliest` re-applies what the log holds (the event-id inbox and the
  merge rules make that harmless), `latest` skips it: either way it is a decision, recorded.
- `resume --partition P --yes`: for a `dead_letter_cap` hold only: the held records are
  accepted as they are (the invalid ones are dead-lettered without the cap) and the
  partition goes on.

Both changes are written to the audit log, with the actor (DSYNC_ACTOR, else the OS user),
under the reserved organization id `dsync:operations`: the audit chain is per
organization, and a stream belongs to none.
"""

from __future__ import annotations

from typing import Any

from dsync.logs import Log
from dsync.settings import Settings
from sql import query
from worker import holds
from worker import repository as repo
from worker.store import Store, TxConn
from worker.topic_bounds import log_bounds

_log = Log("worker.offsets")


class Refused(Exception):
    """The command would do something it must not: nothing was changed."""


def target_offset(to: str, log_start: int, log_end: int) -> int:
    """Pure: `earliest`, `latest` or an offset within the log."""
    if to == "earliest":
        return log_start
    if to == "latest":
        return log_end
    try:
        offset = int(to)
    except ValueError:
        raise Refused(f"--to must be earliest, latest or an offset, not {to!r}") from None
    if not log_start <= offset <= log_end:
        raise Refused(f"offset {offset} is outside the log ({log_start} to {log_end})")
    return offset


async def show(store: Store, settings: Settings) -> list[dict[str, Any]]:
    group, topic = settings.worker_group_id, settings.events_topic
    bounds = await log_bounds(settings.require_bootstrap_servers(), topic)
    async with store.transaction() as conn:
        stored = await repo.stored_offsets(conn, group, topic)
        rows = {r.partition: r for r in await holds.rows(conn, group, topic)}
    shown = []
    for partition in sorted(set(bounds) | set(stored) | set(rows)):
        start, end = bounds.get(partition, (None, None))
        row = rows.get(partition)
        hold = row.active if row is not None else None
        shown.append(
            {
                "topic": topic,
                "partition": partition,
                "stored_offset": stored.get(partition),
                "log_start": start,
                "log_end": end,
                "hold": None if hold is None else {"reason": hold.reason, **hold.detail},
            }
        )
    return shown


async def reset(
    store: Store, settings: Settings, partition: int, to: str, who: str
) -> dict[str, Any]:
    """Store the next offset `to` names and release the hold, audited as `who`'s."""
    group, topic = settings.worker_group_id, settings.events_topic
    bounds = await log_bounds(settings.require_bootstrap_servers(), topic)
    if partition not in bounds:
        raise Refused(f"topic {topic} has no partition {partition} (run `dsync topics`?)")
    start, end = bounds[partition]
    offset = target_offset(to, start, end)
    async with store.transaction() as conn:
        previous = await conn.fetchval(query("set_offset"), group, topic, partition, offset)
        released = await holds.release(conn, group, topic, partition, who, None)
        await holds.mark_reset(conn, group, topic, partition, offset, who)
        done = {
            "consumer_group": group,
            "topic": topic,
            "partition": partition,
            "previous_offset": previous,
            "offset": offset,
            "log_start": start,
            "log_end": end,
            "released_hold": released.reason if released else None,
        }
        await _audit(conn, "stream.offset_reset", done, f"offsets reset --to {to}", who)
    _log.info("offsets.reset", actor=who, **done)
    return done


async def resume(store: Store, settings: Settings, partition: int, who: str) -> dict[str, Any]:
    """Accept the batch a dead-letter-cap hold keeps, audited as `who`'s."""
    group, topic = settings.worker_group_id, settings.events_topic
    async with store.transaction() as conn:
        rows = [r for r in await holds.rows(conn, group, topic) if r.partition == partition]
        hold = rows[0].active if rows else None
        if hold is None:
            raise Refused(f"partition {partition} of {topic} is not held")
        if hold.reason != "dead_letter_cap":
            raise Refused(
                f"partition {partition} is held for {hold.reason}: decide where it goes on "
                "with `dsync offsets reset`"
            )
        through = int(hold.detail["last_offset"])
        await holds.release(conn, group, topic, partition, who, through)
        done = {
            "consumer_group": group,
            "topic": topic,
            "partition": partition,
            "accepted_from": hold.stored_offset,
            "accepted_through": through,
            "released_hold": hold.reason,
        }
        await _audit(conn, "stream.hold_released", done, "offsets resume", who)
    _log.info("offsets.resumed", actor=who, **done)
    return done


async def _audit(
    conn: TxConn, action: str, details: dict[str, Any], command: str, who: str
) -> None:
    cause = {"command": command, "actor": who}
    await conn.execute(query("audit_operation"), action, details, cause)
