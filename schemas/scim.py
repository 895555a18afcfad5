"""The body of a SCIM event on the events topic (source `scim`): one write a SCIM client
asked for, as the SCIM process resolved it, for the worker to decide and apply.

The SCIM process does the protocol work (parsing, PATCH dialects, read-modify-write) and
sends the outcome it wants; the worker decides whether it may happen (uniqueness, the
version it was computed from, members that exist) in the applying transaction, so two
SCIM processes racing on one userName get one 201 and one 409, and a replay decides the
same way. Group members travel as changes (added, removed), never as the whole list, so a
member change of a 10,000-member group is one row.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from schemas.base import StrictModel, UtcDatetime
from schemas.parsing import validate_json
from schemas.storable import Id, StorableText

ResourceKind = Literal["User", "Group"]
Action = Literal["create", "replace", "delete"]
ACTIONS: tuple[Action, ...] = ("create", "replace", "delete")
EVENT_TYPES = frozenset(
    f"scim.{kind.lower()}.{action}" for kind in ("User", "Group") for action in ACTIONS
)

MemberIds = Annotated[list[Id], Field(max_length=100_000)]


class ScimWrite(StrictModel):
    """One SCIM write. `resource` holds the attributes to store (no id, meta, members or
    password); None on delete, and on a group change that only touches members.
    `base_version`: the stored version the write was computed from (None: create, or a
    delete without If-Match); the worker refuses the write if the resource moved on."""

    kind: ResourceKind
    action: Action
    directory_id: Id
    organization_id: StorableText | None
    resource_id: Id
    base_version: int | None
    resource: dict[str, Any] | None
    add_members: MemberIds = Field(default_factory=list)
    remove_members: MemberIds = Field(default_factory=list)
    at: UtcDatetime

    @property
    def event_type(self) -> str:
        return f"scim.{self.kind.lower()}.{self.action}"

    def name(self) -> str | None:
        """The userName or displayName the write sets, which must be unique."""
        if self.resource is None:
            return None
        value = self.resource.get("userName" if self.kind == "User" else "displayName")
        return value if isinstance(value, str) else None


def parse_write(body: bytes) -> ScimWrite:
    """Raises InvalidPayload (a reason without input values) on a body that is not one."""
    return validate_json(ScimWrite, body)
