"""What one run repairs: each drift found becomes a correction with a deterministic id
(from both sides of the drift, so a repeated run produces the same ids and the worker's
inbox drops them), the run's provenance and its time base (`since`, see reconcile.run); it
is counted in the run's tally, reported (the dry run's output) and produced to the events
topic SEND_BATCH at a time, counted as repaired once the broker acknowledged it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from dsync.producer import Producer
from reconcile import corrections
from reconcile.corrections import Correction
from reconcile.drift import DriftKind, Tally, event_id, fingerprint, has_drifted
from reconcile.listing import Kind, Listed, Provider
from reconcile.store import MembershipDrift
from worker.rows import GroupRow, UserRow

SEND_BATCH = 500
_UPSERT: dict[Kind, DriftKind] = {"users": "user_upsert", "groups": "group_upsert"}
_VANISHED: dict[Kind, DriftKind] = {"users": "user_vanished", "groups": "group_vanished"}

Report = Callable[[Correction], None]


class Repairs:
    """One run's corrections. `producer` None: a dry run (reported, never produced)."""

    def __init__(
        self,
        provider: Provider,
        run: tuple[str, str, datetime],
        tally: Tally,
        producer: Producer | None,
        topic: str,
        report: Report,
    ) -> None:
        """`run`: (directory id, run id, unchanged_since)."""
        self._provider, (self._directory, self._run_id, self._since) = provider, run
        self.tally = tally
        self._producer, self._topic, self._report = producer, topic, report

    def upsert(self, listed: Listed, stored: UserRow | GroupRow | None) -> Correction | None:
        """The listed object's own event when applying it would change what readers see."""
        if not has_drifted(stored, listed.row):
            return None
        kind = _UPSERT[listed.kind]
        self.tally.add(kind, listed.id)
        parts = (fingerprint(listed.item), fingerprint(stored) if stored else "absent")
        eid = event_id(self._provider.name, self._directory, kind, listed.id, *parts)
        envelope = self._provider.event(listed, self._since, self._run_id, eid)
        email = listed.row.email if isinstance(listed.row, UserRow) else None
        return Correction(kind, listed.id, envelope, email)

    def membership(self, pair: MembershipDrift) -> Correction:
        kind: DriftKind = "membership_added" if pair.present else "membership_removed"
        name = f"{pair.group_id}/{pair.user_id}"
        self.tally.add(kind, name)
        provider = self._provider
        eid = event_id(provider.name, self._directory, kind, name, pair.stored)
        envelope = corrections.membership(
            provider.name,
            self._directory,
            (pair.group_id, pair.user_id),
            pair.present,
            self._since,
            (eid, self._run_id),
            provider.key("groups", pair.group_id),
        )
        return Correction(kind, name, envelope)

    def vanished(self, kind: Kind, object_id: str, updated_at: datetime) -> Correction:
        """An object the listing lacked and a read then confirmed gone."""
        drift = _VANISHED[kind]
        self.tally.add(drift, object_id)
        eid = event_id(self._provider.name, self._directory, drift, object_id, str(updated_at))
        envelope = corrections.vanished(
            self._provider.name,
            self._directory,
            kind,
            object_id,
            self._since,
            datetime.now(UTC),
            (eid, self._run_id),
            self._provider.key(kind, object_id),
        )
        return Correction(drift, object_id, envelope)

    def found_once(self, fixes: Sequence[Correction]) -> None:
        """Count corrections a resumed run may meet again (the directory's own)."""
        for fix in fixes:
            if fix.object_id not in self.tally.ids.get(fix.kind, []):
                self.tally.add(fix.kind, fix.object_id)

    async def send(self, fixes: Sequence[Correction]) -> None:
        for fix in fixes:
            self._report(fix)
        if self._producer is None or not fixes:
            return
        for start in range(0, len(fixes), SEND_BATCH):
            chunk = fixes[start : start + SEND_BATCH]
            await self._producer.send_all(
                [corrections.message(fix, self._topic, self._run_id) for fix in chunk]
            )
            for fix in chunk:
                self.tally.repaired[fix.kind] += 1
