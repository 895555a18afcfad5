"""Provider-neutral changes to the directory tables. Each provider's mapper turns one
event into a list of these; the batch folds them in with the merge rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from worker.rows import DirectoryRow, GroupRow, MembershipRow, UserRow


@dataclass(frozen=True, slots=True)
class PutDirectory:
    row: DirectoryRow


@dataclass(frozen=True, slots=True)
class PutUser:
    row: UserRow


@dataclass(frozen=True, slots=True)
class PutGroup:
    row: GroupRow


@dataclass(frozen=True, slots=True)
class PutMembership:
    row: MembershipRow


@dataclass(frozen=True, slots=True)
class DeleteById:
    """A deletion that names only the object (Stytch sends no payload with a delete): its
    directory comes from the stored row, or the deletion waits for the row to arrive."""

    kind: Literal["users", "groups"]
    provider: str
    id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MembershipById:
    """An add or remove that names only the group and user; the directory comes from the
    event when it says, else from the stored group or user."""

    provider: str
    group_id: str
    user_id: str
    present: bool
    at: datetime
    directory_id: str | None


@dataclass(frozen=True, slots=True)
class Vanished:
    """A reconciliation found the object missing at the provider (its listing began at
    `unchanged_since`; a read at `gone_at` confirmed it gone). Not a deletion: it deletes
    the stored row only if nothing about the object newer than `unchanged_since` has been
    seen (`worker.merge.vanish`), so it never kills an object created or changed during
    the listing."""

    kind: Literal["users", "groups"]
    provider: str
    directory_id: str
    id: str
    unchanged_since: datetime
    gone_at: datetime


Command = PutDirectory | PutUser | PutGroup | PutMembership | DeleteById | MembershipById | Vanished
