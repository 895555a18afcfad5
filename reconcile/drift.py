"""The drift between a provider's listing and the dsync tables, as pure functions.

A listed object has drifted exactly when applying its event would change what readers see:
the worker's own merge (worker.merge) is asked, so "newer at the provider wins by
`updated_at`" and "a listing never resurrects an object deleted by a newer event" are the
worker's rules, not a second copy of them. Times are not part of what readers see:
an upsert that would only move `updated_at` is no drift.

Corrective event ids are deterministic: a hash of the provider, directory, drift kind,
object and both sides (the listed object and the stored row). A second run over the same
unrepaired drift produces the same ids, and the worker's inbox drops them; a new drift of
the same object (its stored row changed since) gets a new id.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from schemas.reconcile import EVENT_ID_PREFIX
from worker.merge import merge
from worker.rows import GroupRow, UserRow

DriftKind = Literal[
    "user_upsert",
    "user_vanished",
    "group_upsert",
    "group_vanished",
    "membership_added",
    "membership_removed",
    "directory_upsert",
    "directory_vanished",
]
DRIFT_KINDS: tuple[DriftKind, ...] = get_args(DriftKind)
KEPT_IDS = 100  # ids kept per kind for `dsync status` (a dry run prints them all)
_TIMES = frozenset({"created_at", "updated_at", "deleted_at"})


def visible(row: UserRow | GroupRow) -> tuple[Any, ...]:
    """What a reader of the tables sees of a row: its attributes and whether it is live."""
    attributes = tuple(getattr(row, name) for name in row.__slots__ if name not in _TIMES)
    return (*attributes, row.deleted_at is None)


def has_drifted(stored: UserRow | GroupRow | None, listed: UserRow | GroupRow) -> bool:
    """Whether the worker, applying `listed`, would change what readers see of a live row
    (or make a row live: a Stytch reactivation). A tombstone the merge keeps is left
    alone, and a stored row of another directory or provider is not this run's to repair
    (the worker would refuse the event): no drift."""
    if stored is None:
        return listed.deleted_at is None
    if stored.owner != listed.owner or type(stored) is not type(listed):
        return False
    live = stored.deleted_at is None and listed.deleted_at is None
    if live and visible(stored) == visible(listed):
        return False  # the common case: whichever side the merge keeps, readers see the same
    merged = merge(stored, listed)  # type: ignore[type-var]
    if stored.deleted_at is not None and merged.deleted_at is not None:
        return False  # a tombstone stays one: the listing has nothing to repair there
    return visible(merged) != visible(stored)


def fingerprint(value: object) -> str:
    """A stable text for anything JSON-like or a row (dates as ISO text)."""
    if isinstance(value, UserRow | GroupRow):
        value = {name: getattr(value, name) for name in value.__slots__}
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def event_id(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{EVENT_ID_PREFIX}{digest[:40]}"


@dataclass
class Tally:
    """Drift found and corrective events produced in one run, by kind; the first ids of
    each kind (ids only, never e-mails)."""

    found: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: DriftKind, object_id: str) -> None:
        self.found[kind] += 1
        kept = self.ids.setdefault(kind, [])
        if len(kept) < KEPT_IDS:
            kept.append(object_id)

    @property
    def total(self) -> int:
        return sum(self.found.values())

    @classmethod
    def restored(
        cls, found: dict[str, int], ids: dict[str, list[str]], repaired: dict[str, int]
    ) -> Tally:
        return cls(Counter(found), Counter(repaired), {k: list(v) for k, v in ids.items()})
