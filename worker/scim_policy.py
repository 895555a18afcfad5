"""The SCIM profile's rules only committed state can decide, decided by the worker in the
applying transaction (worker.scim_decisions.Ledger asks): seat capacity and protected owners.

The SCIM process checks a request's own values (types, enums, sets, roles); whether a seat
is left, or whether the user is an owner, depends on every write committed before, on any
SCIM replica. Deciding here, under the directory lock and in batch order, makes two racing
replicas get one 201 for the last seat, and a replay decide the same way (its first
decision is recorded and reused). `SeatBook` counts seats as writes are accepted, so a
batch is decided in memory after one load per directory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.scim import ScimWrite
from schemas.scim_profile import Profile
from sql import query
from worker.store import TxConn

Seat = tuple[str, str]  # (directory, seat value)
COUNTED = ""  # the seat-count row that marks a directory's key as counted
SEATS_EXHAUSTED = 403
PROTECTED = 403


@dataclass(frozen=True, slots=True)
class SeatCount:
    """A row of dsync_internal.scim_seat_counts."""

    directory_id: str
    extension: str
    attribute: str
    seat: str
    taken: int


@dataclass(frozen=True, slots=True)
class PolicyRefusal:
    status: int
    detail: str


@dataclass
class SeatBook:
    """Per directory: its profile, the seats taken per seat value, and the SCIM users
    whose account holds a protected role."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    taken: Counter[Seat] = field(default_factory=Counter)
    protected: set[str] = field(default_factory=set)

    def refusal(
        self, write: ScimWrite, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> PolicyRefusal | None:
        """Why `write` (a user going from `before` to `after`, None when absent or
        deleted) may not happen, or None."""
        profile = self.profiles.get(write.directory_id)
        if profile is None or write.kind != "User":
            return None
        if write.action != "create" and write.resource_id in self.protected:
            roles = ", ".join(profile.protected_roles)
            return PolicyRefusal(
                PROTECTED, f"users holding {roles} are never updated or deactivated via SCIM"
            )
        seat = _seat(profile, after)
        if seat is None or seat == _seat(profile, before):
            return None
        capacity = profile.seats.capacity[seat] if profile.seats else 0
        if self.taken[(write.directory_id, seat)] >= capacity:
            return PolicyRefusal(
                SEATS_EXHAUSTED, f"no {seat} seat left: this directory's capacity is {capacity}"
            )
        return None

    def count(
        self, directory_id: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> None:
        """Record an accepted change: a seat freed by `before`, one taken by `after`."""
        profile = self.profiles.get(directory_id)
        if profile is None:
            return
        if (old := _seat(profile, before)) is not None:
            self.taken[(directory_id, old)] -= 1
        if (new := _seat(profile, after)) is not None:
            self.taken[(directory_id, new)] += 1


def _seat(profile: Profile, resource: Mapping[str, Any] | None) -> str | None:
    """The seat a live user holds: none when absent, deleted or inactive."""
    if resource is None or resource.get("active") is False:
        return None
    values = resource.get(profile.extension)
    return profile.seat_of(values) if isinstance(values, Mapping) else None


async def load_seat_book(conn: TxConn, writes: Sequence[ScimWrite]) -> SeatBook:
    """The profiles, seat counts and protected users a batch's writes need: a few
    statements per batch, none for directories without a profile. Caller holds the
    directory locks and owns the transaction."""
    directories = sorted({w.directory_id for w in writes})
    rows = await conn.fetch(query("scim_profiles_of"), directories)
    book = SeatBook({r["directory_id"]: Profile.model_validate(r["profile"]) for r in rows})
    for directory_id, profile in book.profiles.items():
        if profile.seats is not None:
            book.taken.update(await _seats_taken(conn, directory_id, profile))
        targets = [w.resource_id for w in writes if w.directory_id == directory_id]
        if profile.protected_roles and targets:
            roles = profile.protected_roles
            found = await conn.fetch(query("scim_protected_users"), targets, roles)
            book.protected.update(r["id"] for r in found)
    return book


async def _seats_taken(conn: TxConn, directory_id: str, profile: Profile) -> dict[Seat, int]:
    """The kept counts; counted from the resources when there are none (first batch
    under this profile)."""
    key = (directory_id, profile.extension, profile.seats.attribute if profile.seats else "")
    rows = await conn.fetch(query("scim_seat_counts"), *key)
    if not rows:
        rows = await conn.fetch(query("scim_seats_taken"), *key)
    return {(directory_id, r["seat"]): r["taken"] for r in rows if r["seat"] != COUNTED}


async def save_seat_book(conn: TxConn, book: SeatBook) -> None:
    """Keep the counts of every seated directory the batch touched, with the mark that
    says they were counted. Caller owns the transaction (the one saving the resources)."""
    # worker.rows declares this module's SeatCount, and worker.columns reads worker.rows.
    from worker.columns import binding
    from worker.rows import SCIM_SEAT_COUNTS

    rows = [
        SeatCount(directory_id, profile.extension, profile.seats.attribute, seat, taken)
        for directory_id, profile in book.profiles.items()
        if profile.seats is not None
        for seat, taken in [
            (COUNTED, 0),
            *((s, n) for (d, s), n in book.taken.items() if d == directory_id),
        ]
    ]
    if rows:
        bound = binding(SCIM_SEAT_COUNTS)
        await conn.execute(bound.sql, *bound.arrays(rows))
