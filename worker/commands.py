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


Command = PutDirectory | PutUser | PutGroup | PutMembership | DeleteById | MembershipById
