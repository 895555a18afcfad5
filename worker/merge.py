"""Convergence rules as pure functions: the final row depends on the set of events seen,
not on the order they arrived in.

Users: the payload with the newest `updated_at` supplies the attributes. Two different
payloads with the same `updated_at` are ranked by a fixed order over their content (a
non-active state first), so even then the winner does not depend on arrival order.
`deleted_at` is the earliest deletion seen and is never cleared; `created_at` is the
earliest seen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from worker.errors import InvalidEvent


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    provider: str
    directory_id: str
    organization_id: str | None
    idp_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    state: str
    custom_attributes: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


def merge_user(stored: UserRow | None, incoming: UserRow) -> UserRow:
    """The row after `incoming` is applied to `stored`. Raises InvalidEvent across directories."""
    if stored is None:
        return incoming
    if (stored.provider, stored.directory_id) != (incoming.provider, incoming.directory_id):
        raise InvalidEvent("user id already belongs to another directory")
    base = incoming if _supersedes(incoming, stored) else stored
    return replace(
        base,
        created_at=min(stored.created_at, incoming.created_at),
        deleted_at=_earliest(stored.deleted_at, incoming.deleted_at),
    )


def _supersedes(incoming: UserRow, stored: UserRow) -> bool:
    if incoming.updated_at != stored.updated_at:
        return incoming.updated_at > stored.updated_at
    return _tie_rank(incoming) > _tie_rank(stored)


def _tie_rank(row: UserRow) -> tuple[bool, str]:
    """A total order over a payload's attributes; only consulted on equal `updated_at`."""
    attributes = (
        row.organization_id,
        row.idp_id,
        row.email,
        row.first_name,
        row.last_name,
        row.state,
        row.custom_attributes,
    )
    return row.state != "active", json.dumps(attributes, sort_keys=True, default=str)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)
