"""One reconciliation of one (provider, directory): list users, then groups with their
members, then diff the memberships, then confirm and report what vanished, then finish.

Checkpoints: after each page (its corrective events acknowledged by the broker first), the
run records the next page's cursor in PostgreSQL with the ids the page listed, so a run
stopped anywhere resumes at its last page (`open_run`) with the same `unchanged_since`;
a repeated page produces the same event ids, which the worker's inbox drops. Memory stays
bounded by a page: listed ids and members are spilled to PostgreSQL, and the membership
and vanished diffs are SQL anti-joins over them.

Time base: `unchanged_since` = the run's start minus CLOCK_MARGIN. Corrective events
never override what happened after it (worker.merge): upserts of objects that carry no
time and membership changes are dated at it, and "vanished" spares anything newer. The
margin absorbs clock skew between dsync and the provider (whose times fill `updated_at`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dsync.logs import Log
from dsync.producer import Producer
from reconcile import store
from reconcile.corrections import Correction
from reconcile.directories import DirectoryCheck
from reconcile.drift import Tally
from reconcile.listing import Kind, Listed, Object, Page, Provider
from reconcile.repairs import SEND_BATCH, Repairs, Report
from schemas.errors import InvalidPayload

CLOCK_MARGIN = timedelta(seconds=30)
MEMBER_READS = 8  # groups whose members are read at once
_log = Log("reconcile.run")


@dataclass(frozen=True, slots=True)
class Outcome:
    run_id: str
    directory_id: str
    tally: Tally


class Run:
    """`producer` None: a dry run (the drift is reported, nothing is produced)."""

    def __init__(
        self,
        provider: Provider,
        conn: store.Conn,
        producer: Producer | None,
        topic: str,
        report: Report = lambda _: None,
    ) -> None:
        self._provider, self._conn, self._producer = provider, conn, producer
        self._topic, self._report = topic, report
        self._directory = ""
        self._run_id = ""
        self._tally = Tally()
        self._since = datetime.now(UTC)
        self._repairs: Repairs  # set by `run`, once the run's identity is known

    async def run(self, directory_id: str, itself: DirectoryCheck | None = None) -> Outcome:
        """`itself`: the directory is compared with the provider's listing of directories
        first (reconcile.directories); one found gone there is not listed further."""
        provider, conn, dry = self._provider, self._conn, self._producer is None
        self._directory = directory_id
        await provider.prepare(directory_id)
        resumed = await store.open_run(conn, provider.name, directory_id, dry)
        if resumed is None:
            self._run_id, since = uuid.uuid4().hex, datetime.now(UTC) - CLOCK_MARGIN
            await store.start_run(conn, self._run_id, provider.name, directory_id, dry, since)
            phase, cursor = "users", None
        else:
            self._run_id, since, self._tally = (
                resumed.run_id,
                resumed.unchanged_since,
                resumed.tally,
            )
            phase, cursor = resumed.phase, resumed.cursor
        run = (directory_id, self._run_id, since)
        self._repairs = Repairs(
            provider, run, self._tally, self._producer, self._topic, self._report
        )
        self._since = since
        _log.info(
            "reconcile.started",
            run_id=self._run_id,
            provider=provider.name,
            directory_id=directory_id,
            phase=phase,
            resumed=resumed is not None,
        )
        if itself is not None and await self._itself(itself):
            phase = "gone"
        if phase == "users":
            await self._objects("users", cursor, then="groups")
            phase, cursor = "groups", None
        if phase == "groups":
            await self._objects("groups", cursor, then="memberships")
        if phase in ("groups", "memberships"):
            await self._memberships()
        if phase != "gone":
            await self._vanished()
        await store.finish(conn, self._run_id, self._tally)
        _log.info(
            "reconcile.finished",
            run_id=self._run_id,
            provider=provider.name,
            directory_id=directory_id,
            drift=dict(self._tally.found),
            repaired=dict(self._tally.repaired),
        )
        return Outcome(self._run_id, directory_id, self._tally)

    async def _itself(self, check: DirectoryCheck) -> bool:
        """The directory's own correction; True when it is gone at the provider (its
        deletion takes its users and groups with it). Counted once if a resumed run
        finds it again."""
        fixes, gone = await check.corrections(self._conn, self._directory, self._run_id)
        self._repairs.found_once(fixes)
        await self._repairs.send(fixes)
        return gone

    async def _objects(self, kind: Kind, cursor: str | None, *, then: str) -> None:
        """Page by page; the next page is read while this one is compared and repaired
        (it is used only after this page's checkpoint is stored)."""
        read = self._provider.users if kind == "users" else self._provider.groups
        pending: asyncio.Future[Page] = asyncio.ensure_future(read(cursor))
        try:
            while True:
                page = await pending
                if page.next_cursor is not None:
                    pending = asyncio.ensure_future(read(page.next_cursor))
                await self._page(kind, page, then)
                if page.next_cursor is None:
                    return
        finally:
            await _abandon(pending)

    async def _page(self, kind: Kind, page: Page, then: str) -> None:
        listed = [one for one in (self._read(kind, item) for item in page.items) if one]
        stored = await store.stored_rows(self._conn, kind, [one.id for one in listed])
        fixes = [self._repairs.upsert(one, stored.get(one.id)) for one in listed]
        await self._repairs.send([fix for fix in fixes if fix is not None])
        await self._members(kind, listed)
        async with self._conn.transaction():
            await store.record_listed(self._conn, self._run_id, kind, [o.id for o in listed])
            phase = then if page.next_cursor is None else kind
            await store.checkpoint(self._conn, self._run_id, phase, page.next_cursor, self._tally)

    def _read(self, kind: Kind, item: Object) -> Listed | None:
        """An item the provider's model refuses is counted and logged by id, not repaired;
        the run then reports nothing of that kind vanished (it may be the one missing)."""
        try:
            return self._provider.read(kind, item, self._since)
        except (InvalidPayload, ValueError) as exc:
            self._tally.found[f"unreadable_{kind}"] += 1
            _log.warning(
                "reconcile.unreadable_item",
                provider=self._provider.name,
                kind=kind,
                reason=type(exc).__name__,
            )
            return None

    async def _members(self, kind: Kind, listed: Sequence[Listed]) -> None:
        """Spill the memberships this page names: a user's own groups (Stytch) or each
        listed group's members, MEMBER_READS groups at a time (the provider's budget still
        paces every request: dsync.provider_http)."""
        if kind == "users":
            pairs = [(g, one.id) for one in listed for g in self._provider.user_groups(one.item)]
            await store.record_members(self._conn, self._run_id, pairs)
            return
        slots = asyncio.Semaphore(MEMBER_READS)

        async def members(group: Listed) -> list[tuple[str, str]]:
            async with slots:
                return [
                    (group.id, user)
                    async for page in self._provider.members(group.item)
                    for user in page
                ]

        for pairs in await asyncio.gather(*(members(group) for group in listed)):
            await store.record_members(self._conn, self._run_id, pairs)

    async def _memberships(self) -> None:
        """Streamed from the SQL diff and sent SEND_BATCH at a time: a first run against
        empty tables (every membership missing) holds one batch, not all of them."""
        fixes = []
        await store.analyze_listing(self._conn)
        name = self._provider.name
        async for pair in store.membership_drift(self._conn, self._run_id, name, self._directory):
            fixes.append(self._repairs.membership(pair))
            if len(fixes) >= SEND_BATCH:
                await self._repairs.send(fixes)
                fixes = []
        await self._repairs.send(fixes)
        await store.checkpoint(self._conn, self._run_id, "vanished", None, self._tally)

    async def _vanished(self) -> None:
        await store.analyze_listing(self._conn)
        for kind in ("users", "groups"):
            if self._tally.found[f"unreadable_{kind}"]:
                _log.warning("reconcile.vanished_skipped", kind=kind, run_id=self._run_id)
                continue
            candidates = [
                found
                async for found in store.unlisted(
                    self._conn, self._run_id, self._provider.name, self._directory, kind
                )
            ]
            for start in range(0, len(candidates), SEND_BATCH):
                chunk = candidates[start : start + SEND_BATCH]
                await self._repairs.send(
                    [fix for c in chunk if (fix := await self._gone(kind, *c))]
                )

    async def _gone(self, kind: Kind, object_id: str, updated_at: datetime) -> Correction | None:
        if not await self._provider.gone(kind, object_id):
            return None  # a listing is not a snapshot: it is still there
        return self._repairs.vanished(kind, object_id, updated_at)


async def _abandon(pending: asyncio.Future[Page]) -> None:
    """A read ahead that will not be used: cancelled, its outcome (even an error) taken."""
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await pending
