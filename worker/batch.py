"""Apply one partition's batch in one transaction: fence, dedupe, fold, write, store offset.

No Kafka types here. The caller owns the transaction; everything below happens inside it,
so a crash at any point either commits the whole batch with its offset or nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dsync.logs import Log
from worker import repository as repo
from worker.access import AccessSummary, Causes, disabled_directories, sync_access
from worker.changes import Changes, Outcome, keys_of
from worker.commands import Command
from worker.decode import Accepted, Decoded, Rejected
from worker.errors import InvalidEvent
from worker.fence import fence
from worker.rows import AppliedEvent
from worker.scim_step import decide_scim_writes
from worker.store import Conn

_log = Log("worker.batch")


@dataclass(frozen=True, slots=True)
class Stream:
    """Which consumer group reads which topic: the key of the offsets stored in PostgreSQL."""

    group: str
    topic: str


@dataclass(frozen=True, slots=True)
class Report:
    """What happened to one event, for metrics and the latency budget."""

    provider: str | None
    event_type: str | None
    outcome: Outcome
    received_at: datetime | None
    directory_id: str | None = None
    event_id: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    outcomes: Counter[Outcome]
    reports: list[Report]
    access: AccessSummary = field(default_factory=AccessSummary)


@dataclass(frozen=True, slots=True)
class BatchResult:
    outcomes: Counter[Outcome]
    next_offsets: dict[int, int]  # partition -> next offset to apply
    reports: list[Report] = field(default_factory=list)
    access: AccessSummary = field(default_factory=AccessSummary)
    first_offsets: dict[int, int] = field(default_factory=dict)  # of the records applied

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
            self.reports + other.reports,
            self.access + other.access,
            firsts,
        )


async def apply_batch(
    conn: Conn, stream: Stream, batches: Mapping[int, Sequence[Decoded]]
) -> BatchResult:
    """Fenced apply of one poll, every partition in one transaction (its fixed costs are
    paid once, not once per partition). Per partition, `items` are in offset order; which
    of them may be applied is `worker.fence`'s decision (records applied already, held
    partitions and gaps are left out). Stores each partition's next offset in the same
    transaction."""
    fenced = await fence(conn, stream.group, stream.topic, batches)
    if not fenced.todo:
        return BatchResult(Counter(), fenced.next_offsets)
    applied = await apply_items(conn, fenced.todo, dedupe=True)
    for partition in fenced.first_offsets:
        await repo.store_offset(
            conn, stream.group, stream.topic, partition, fenced.next_offsets[partition]
        )
    return BatchResult(
        applied.outcomes,
        fenced.next_offsets,
        applied.reports,
        applied.access,
        fenced.first_offsets,
    )


async def apply_items(
    conn: Conn,
    todo: Sequence[Decoded],
    *,
    dedupe: bool,
    exclusive: bool = False,
    access: bool = True,
) -> Applied:
    """Fold `todo` into the tables. Without `dedupe` the event-id inbox is not consulted
    (replay): the merge rules alone make re-applying harmless. `exclusive`: nothing else
    writes meanwhile (rebuild), so the per-directory locks are skipped. Without `access`
    the access model is left alone (rebuild brings it in line once, at the end: replayed
    intermediate states must not revoke credentials issued since)."""
    if dedupe:
        fresh, duplicates = await _dedupe(conn, todo)
    else:
        fresh, duplicates = [item for item in todo if isinstance(item, Accepted)], []
    fresh = await decide_scim_writes(conn, fresh)  # refused SCIM writes lose their commands
    outcomes: Counter[Outcome] = Counter()
    reports = [_report(item, "duplicate") for item in duplicates]
    if duplicates:
        outcomes["duplicate"] += len(duplicates)
    commands = [c for item in fresh for c in item.commands or ()]
    changes = await _load(conn, commands, lock=not exclusive)
    # An operator disabled sync for these directories: their events change nothing.
    disabled = await disabled_directories(conn, (_directory_of(i) for i in fresh))
    causes = Causes()
    applied: list[AppliedEvent] = []
    rejected = [item for item in todo if isinstance(item, Rejected)]
    letters = [_letter(item, item.reason) for item in rejected]
    reports += [_report(item, "dead_lettered") for item in rejected]
    if letters:
        outcomes["dead_lettered"] += len(letters)
    for item in fresh:
        outcome: Outcome
        try:
            skip = _directory_of(item) in disabled
            outcome = "ignored" if skip else changes.apply(item.commands)
        except InvalidEvent as exc:
            letters.append(_letter(item, str(exc)))
            outcome = "dead_lettered"
        if access and outcome == "applied":
            causes.record(item.envelope, item.commands or ())
        outcomes[outcome] += 1
        reports.append(_report(item, outcome))
        if outcome != "dead_lettered":
            applied.append(_applied(item, outcome))

    await _save(conn, changes)
    summary = await sync_access(conn, changes, causes) if access else AccessSummary()
    # Once per event id: a replay (no dedupe) may meet the same event twice in a batch.
    await repo.record_events(conn, list({(a.source, a.event_id): a for a in applied}.values()))
    await repo.dead_letter(conn, letters)
    for letter in letters:
        _log.warning(
            "worker.event_dead_lettered",
            event_id=letter.event_id,
            directory_id=letter.directory_id,
            reason=letter.reason,
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
        )
    return Applied(outcomes, reports, summary)


async def _load(conn: Conn, commands: list[Command], *, lock: bool) -> Changes:
    keys = keys_of(commands)
    if lock:
        await repo.lock_directories(conn, keys.directories)
    return Changes(
        directories=await repo.load_directories(conn, keys.directories),
        users=await repo.load_users(conn, keys.users),
        groups=await repo.load_groups(conn, keys.groups),
        memberships=await repo.load_memberships(conn, keys.memberships),
        pending=await repo.load_pending_deletions(conn, keys.users, keys.groups),
    )


async def _save(conn: Conn, changes: Changes) -> None:
    await repo.save_directories(conn, changes.changed_directories())
    await repo.save_users(conn, changes.changed_users())
    await repo.save_groups(conn, changes.changed_groups())
    await repo.save_memberships(conn, changes.changed_memberships())
    await repo.save_pending_deletions(conn, changes.changed_pending())
    for directory in changes.deleted_directories.values():
        await repo.cascade_directory_deletion(conn, directory)


async def _dedupe(conn: Conn, todo: Sequence[Decoded]) -> tuple[list[Accepted], list[Accepted]]:
    """Drop events already in the inbox or repeated within the batch."""
    accepted = [item for item in todo if isinstance(item, Accepted)]
    seen: set[tuple[str, str]] = set()
    for source in {item.envelope.source for item in accepted}:
        ids = [item.envelope.event_id for item in accepted if item.envelope.source == source]
        seen.update((source, event_id) for event_id in await repo.seen_events(conn, source, ids))
    fresh: list[Accepted] = []
    duplicates: list[Accepted] = []
    for item in accepted:
        key = (item.envelope.source, item.envelope.event_id)
        if key in seen:
            duplicates.append(item)
            continue
        seen.add(key)
        fresh.append(item)
    return fresh, duplicates


def _directory_of(item: Accepted) -> tuple[str, str]:
    """The (provider, directory id) an event belongs to, as the ingress routed it."""
    return item.envelope.source, item.envelope.directory_id or ""


def dead_letter_all(items: Sequence[Decoded], reason: str) -> list[Rejected]:
    """The same items as rejections, for when the database refuses them."""
    return [Rejected(item.record, item.envelope, reason) for item in items]


def _report(item: Decoded, outcome: Outcome) -> Report:
    envelope = item.envelope
    if envelope is None:
        return Report(None, None, outcome, None)
    return Report(
        envelope.source,
        envelope.event_type,
        outcome,
        envelope.received_at,
        envelope.directory_id,
        envelope.event_id,
        envelope.occurred_at,
    )


def _applied(item: Accepted, outcome: Outcome) -> AppliedEvent:
    envelope, record = item.envelope, item.record
    return AppliedEvent(
        source=envelope.source,
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        directory_id=envelope.directory_id,
        outcome=outcome,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        received_at=envelope.received_at,
        occurred_at=envelope.occurred_at,
    )


def _letter(item: Decoded, reason: str) -> repo.DeadLetter:
    envelope, record = item.envelope, item.record
    return repo.DeadLetter(
        source=envelope.source if envelope else None,
        event_id=envelope.event_id if envelope else None,
        event_type=envelope.event_type if envelope else None,
        directory_id=envelope.directory_id if envelope else None,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason,
        headers=record.headers,
        body=record.value,
    )
