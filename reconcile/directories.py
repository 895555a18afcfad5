"""Directories themselves, for providers that list them (WorkOS `GET /directories`,
provider-apis.md §1.2). Stytch organizations and Polis directories are not listed: the
reference gives Stytch no listing of organizations, and Polis lists directories only per
product (or tenant and product), which dsync has no setting for.

`survey` reads the provider's listing (paged, before any directory's run) and unites it
with the live directories dsync knows: those are the directories reconciled. Each run then
asks `DirectoryCheck` first, under the directory's lock:
- listed, and dsync lacks it or shows other attributes (name, state, organization, type;
  the worker's merge decides, so a newer webhook wins): the provider's own directory event
  (`dsync.activated`) carrying the listed directory;
- known to dsync, missing from the listing, unchanged since the listing began (a directory
  described since then is spared: a listing is not a snapshot) and confirmed by one read
  (404): `dsync.deleted`, which deletes its users and groups (and deactivates their
  accounts), so the run lists nothing else.
Corrective event ids are deterministic (reconcile.drift.event_id), as for users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dsync.logs import Log
from reconcile import store
from reconcile.corrections import Correction
from reconcile.drift import event_id, fingerprint
from reconcile.listing import DirectoryLister
from schemas.errors import InvalidPayload
from sql import query
from worker.merge import described, merge
from worker.rows import DirectoryRow

_log = Log("reconcile.directories")


@dataclass(frozen=True, slots=True)
class Survey:
    since: datetime  # the listing's start minus the clock margin
    listed: dict[str, DirectoryRow]  # the provider's directories as dsync would store them
    known: frozenset[str]  # live directories dsync knows
    complete: bool  # every listed item was readable (else nothing is confirmed gone)

    @property
    def targets(self) -> list[str]:
        return sorted(self.listed.keys() | self.known)


async def survey(lister: DirectoryLister, conn: store.Conn, since: datetime) -> Survey:
    """The provider's listing of directories, page by page (a few hundred rows at most)."""
    listed: dict[str, DirectoryRow] = {}
    complete, cursor = True, None
    while True:
        page = await lister.directories(cursor)
        for item in page.items:
            try:
                row = lister.read_directory(item)
            except (InvalidPayload, ValueError) as exc:
                complete = False
                _log.warning(
                    "reconcile.unreadable_item",
                    provider=lister.name,
                    kind="directories",
                    reason=type(exc).__name__,
                )
                continue
            listed[row.id] = row
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    known = frozenset(await store.directories(conn, lister.name))
    return Survey(since, listed, known, complete)


def has_drifted(stored: DirectoryRow | None, listed: DirectoryRow) -> bool:
    """Whether the worker, applying the listed directory, would change what readers see. A
    deleted directory stays deleted (a deletion is final: no listing resurrects it)."""
    if stored is not None and stored.deleted_at is not None:
        return False
    before = described(stored)
    if before is None:
        return True
    return _visible(merge(before, listed)) != _visible(before)


def _visible(row: DirectoryRow) -> tuple[str | None, ...]:
    return (row.organization_id, row.name, row.type, row.state)


@dataclass(frozen=True, slots=True)
class DirectoryCheck:
    lister: DirectoryLister
    survey: Survey

    async def corrections(
        self, conn: store.Conn, directory_id: str, run_id: str
    ) -> tuple[list[Correction], bool]:
        """The directory's own correction, if any, and whether it is gone at the provider."""
        name, since = self.lister.name, self.survey.since
        row = await conn.fetchrow(query("reconcile_stored_directory"), name, directory_id)
        stored = DirectoryRow(**dict(row)) if row else None
        listed = self.survey.listed.get(directory_id)
        if listed is not None:
            if not has_drifted(stored, listed):
                return [], False
            parts = (fingerprint(_fields(listed)), fingerprint(_fields(stored)))
            eid = event_id(name, directory_id, "directory_upsert", directory_id, *parts)
            event = self.lister.directory_event(listed, None, since, (eid, run_id))
            return [Correction("directory_upsert", directory_id, event)], False
        if not self._may_be_gone(stored) or not await self.lister.directory_gone(directory_id):
            return [], False
        assert stored is not None
        gone_at = datetime.now(UTC)
        eid = event_id(
            name, directory_id, "directory_vanished", directory_id, str(stored.updated_at)
        )
        event = self.lister.directory_event(stored, gone_at, gone_at, (eid, run_id))
        return [Correction("directory_vanished", directory_id, event)], True

    def _may_be_gone(self, stored: DirectoryRow | None) -> bool:
        """Live, described before the listing began, and the listing was whole."""
        return (
            self.survey.complete
            and stored is not None
            and stored.deleted_at is None
            and stored.updated_at < self.survey.since
        )


def _fields(row: DirectoryRow | None) -> dict[str, object] | str:
    if row is None:
        return "absent"
    return {name: getattr(row, name) for name in row.__slots__}
