"""The SCIM step of a batch: decide each SCIM write in the applying transaction, store the
SCIM view of the resources, record the outcomes and NOTIFY the waiting SCIM processes.

Runs before the batch folds its commands in: a refused write keeps its inbox entry
(outcome `ignored`) but loses its commands, so nothing of it is applied. The first
decision on an event id is final: a replay (rebuild, `dsync replay`) finds it and decides
the same way, at the same time. A batch costs a handful of statements, whatever its size:
one load, decisions in memory (worker.scim_decisions.Ledger), one save, one record. The
caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.scim import ScimWrite, parse_write
from sql import query
from worker import repository as repo
from worker.columns import binding
from worker.decode import Accepted
from worker.mappers.scim import commands_of
from worker.rows import SCIM_OUTCOMES, SCIM_RESOURCES
from worker.scim_decisions import Ledger, Outcome, Resource, Verdict
from worker.store import Conn


@dataclass(frozen=True, slots=True)
class _Decision:
    event_id: str
    write: ScimWrite
    verdict: Verdict
    at: datetime


async def decide_scim_writes(conn: Conn, items: Sequence[Accepted]) -> list[Accepted]:
    """`items` in order, each refused SCIM write without its commands."""
    writes = {i: parse_write(item.envelope.body) for i, item in enumerate(items) if _is_scim(item)}
    if not writes:
        return list(items)
    await repo.lock_directories(conn, {("scim", w.directory_id) for w in writes.values()})
    priors = await _priors(conn, [items[i].envelope.event_id for i in writes])
    ledger = await _ledger(conn, list(writes.values()))
    decided: dict[int, _Decision] = {}
    for i, write in writes.items():
        event_id = items[i].envelope.event_id
        verdict, at = priors.get(event_id) or ledger.decide(write)
        decided[i] = _Decision(event_id, write, verdict, at)
    await _save(conn, list(ledger.changed.values()))
    await _record(conn, list(decided.values()))
    return [_applied(item, decided.get(i)) for i, item in enumerate(items)]


def _is_scim(item: Accepted) -> bool:
    return item.envelope.source == "scim" and item.commands is not None


def _applied(item: Accepted, decision: _Decision | None) -> Accepted:
    if decision is None:
        return item
    if not decision.verdict.accepted:
        return replace(item, commands=None)
    if decision.at == decision.write.at:
        return item
    return replace(
        item, commands=commands_of(decision.write.model_copy(update={"at": decision.at}))
    )


async def _priors(conn: Conn, event_ids: list[str]) -> dict[str, tuple[Verdict, datetime]]:
    rows = await conn.fetch(query("scim_outcomes_of"), event_ids)
    return {
        row["event_id"]: (
            Verdict(row["status"], row["scim_type"], row["detail"]),
            row["applied_at"],
        )
        for row in rows
        if row["applied_at"] is not None
    }


async def _ledger(conn: Conn, writes: list[ScimWrite]) -> Ledger:
    targets = sorted({w.resource_id for w in writes})
    found = {r["id"]: _resource(r) for r in await conn.fetch(query("scim_resources_of"), targets)}
    named = [(w.directory_id, w.kind, name.lower()) for w in writes if (name := w.name())]
    if named:
        columns = [list(column) for column in zip(*named, strict=True)]
        for row in await conn.fetch(query("scim_name_holders"), *columns):
            found.setdefault(row["id"], _resource(row))
    members = sorted({m for w in writes for m in w.add_members})
    users = {
        (r["directory_id"], r["id"]) for r in await conn.fetch(query("scim_live_users"), members)
    }
    return Ledger(found, {}, users)


def _resource(row: object) -> Resource:
    return Resource(**dict(row))  # type: ignore[call-overload]


async def _save(conn: Conn, changed: list[Resource]) -> None:
    if changed:
        bound = binding(SCIM_RESOURCES)
        await conn.execute(bound.sql, *bound.arrays(changed))


async def _record(conn: Conn, decisions: list[_Decision]) -> None:
    rows = [
        Outcome(
            event_id=d.event_id,
            directory_id=d.write.directory_id,
            status=d.verdict.status,
            resource_id=d.write.resource_id,
            scim_type=d.verdict.scim_type,
            detail=d.verdict.detail,
            applied_at=d.at,
        )
        for d in decisions
    ]
    bound = binding(SCIM_OUTCOMES)
    await conn.fetchval(bound.sql, *bound.arrays(rows))
