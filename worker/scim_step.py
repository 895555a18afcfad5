"""The SCIM step of a batch: decide each SCIM write in the applying transaction, store the
SCIM view of the resource, record the outcome and NOTIFY the waiting SCIM process.

Runs before the batch folds its commands in: a refused write keeps its inbox entry
(outcome `ignored`) but loses its commands, so nothing of it is applied. The first
decision on an event id is final: a replay (rebuild, `dsync replay`) finds it and decides
the same way. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from schemas.scim import ScimWrite, parse_write
from sql import query
from worker import repository as repo
from worker.decode import Accepted
from worker.mappers.scim import commands_of
from worker.scim_decisions import Stored, Verdict, judge
from worker.store import Conn

_TICK = timedelta(microseconds=1)  # PostgreSQL's timestamp resolution


async def decide_scim_writes(conn: Conn, items: Sequence[Accepted]) -> list[Accepted]:
    """`items` in order, each refused SCIM write without its commands."""
    directories = {("scim", i.envelope.directory_id or "") for i in items if _is_scim(i)}
    if not directories:
        return list(items)
    await repo.lock_directories(conn, directories)
    return [await _decided(conn, item) if _is_scim(item) else item for item in items]


def _is_scim(item: Accepted) -> bool:
    return item.envelope.source == "scim" and item.commands is not None


async def _decided(conn: Conn, item: Accepted) -> Accepted:
    write = parse_write(item.envelope.body)  # the mapper parsed it already: cannot fail
    event_id = item.envelope.event_id
    prior = await conn.fetchrow(query("scim_outcome"), event_id)
    if prior is not None:
        verdict = Verdict(prior["status"], prior["scim_type"], prior["detail"])
        at = prior["applied_at"] or write.at
    else:
        verdict, at = await _judged(conn, write)
        if verdict.accepted:
            await _store(conn, write, at)
    await conn.fetchval(
        query("scim_record_outcome"),
        event_id,
        write.directory_id,
        verdict.status,
        write.resource_id,
        verdict.scim_type,
        verdict.detail,
        at,
    )
    if not verdict.accepted:
        return replace(item, commands=None)
    if at == write.at:
        return item
    return replace(item, commands=commands_of(write.model_copy(update={"at": at})))


async def _judged(conn: Conn, write: ScimWrite) -> tuple[Verdict, datetime]:
    """The verdict, and the time to apply the write at: its own, or just after the
    resource's last change (another SCIM process's clock may run ahead of this one's, and
    the merge rules keep the newest by time)."""
    row = await conn.fetchrow(query("scim_stored"), write.resource_id)
    stored = None
    at = write.at
    if row is not None:
        stored = Stored(row["directory_id"], row["kind"], row["version"], row["deleted"])
        at = max(at, row["updated_at"] + _TICK)
    name = write.name()
    taken = name is not None and bool(
        await conn.fetchval(
            query("scim_name_taken"), write.directory_id, write.kind, name, write.resource_id
        )
    )
    unknown = 0
    if write.add_members:
        unknown = int(
            await conn.fetchval(query("scim_unknown_users"), write.directory_id, write.add_members)
        )
    return judge(write, stored, name_taken=taken, unknown=unknown), at


async def _store(conn: Conn, write: ScimWrite, at: datetime) -> None:
    resource = write.resource  # the pool encodes jsonb
    if write.action == "create":
        external = (write.resource or {}).get("externalId")
        await conn.execute(
            query("scim_insert_resource"),
            write.resource_id,
            write.directory_id,
            write.kind,
            write.name() or "",
            external if isinstance(external, str) else None,
            resource,
            at,
        )
    elif write.action == "replace":
        await conn.execute(
            query("scim_update_resource"), write.resource_id, write.name(), resource, at
        )
    else:
        await conn.execute(query("scim_delete_resource"), write.resource_id, at)
