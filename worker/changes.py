"""Apply typed events to an in-memory slice of the directory tables. Pure: the batch loads
the rows the events touch, folds every event in, and writes back what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.workos import DirectoryUser, UserEvent
from worker.decode import Event
from worker.merge import UserRow, merge_user

Outcome = Literal["applied", "duplicate", "stale", "ignored", "dead_lettered"]


@dataclass
class Changes:
    """Rows loaded for a batch plus the ids of those the batch changed."""

    users: dict[str, UserRow]
    dirty_users: set[str] = field(default_factory=set)

    def apply(self, provider: str, event: Event | None) -> Outcome:
        """Fold one event in; raises InvalidEvent when it can never apply."""
        if isinstance(event, UserEvent):
            deleted_at = event.created_at if event.event == "dsync.user.deleted" else None
            return self._put_user(user_row(provider, event.data, deleted_at))
        return "ignored"

    def _put_user(self, incoming: UserRow) -> Outcome:
        stored = self.users.get(incoming.id)
        merged = merge_user(stored, incoming)
        if merged == stored:
            return "stale"
        self.users[merged.id] = merged
        self.dirty_users.add(merged.id)
        return "applied"


def user_ids(events: list[Event]) -> set[str]:
    """Ids of the user rows these events may touch (what a batch must load)."""
    return {event.data.id for event in events if isinstance(event, UserEvent)}


def user_row(provider: str, user: DirectoryUser, deleted_at: datetime | None) -> UserRow:
    return UserRow(
        id=user.id,
        provider=provider,
        directory_id=user.directory_id,
        organization_id=user.organization_id,
        idp_id=user.idp_id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        state=user.state,
        custom_attributes=user.custom_attributes,
        created_at=user.created_at,
        updated_at=user.updated_at,
        deleted_at=deleted_at,
    )
