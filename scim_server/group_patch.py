"""A group PATCH split in two: member changes, kept as changes (one membership row each,
whatever the group's size), and attribute changes (displayName, externalId), applied by
scim2-models to the stored attributes. Both dialects (reference §5):

- Okta: `add` path `members` with a value list; `remove` path `members[value eq "id"]`;
  `replace` path `members` (the whole list); rename as a no-path `replace` that echoes `id`.
- Entra: capitalised ops; `Remove` path `members` with a `value` list removes only those
  (never all); `Replace` path `displayName`.

Pure: the current member list is asked for only when an op replaces or clears it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scim2_models import Group, Path
from scim2_models.path.expressions import AttrPath, CompareOperator, Comparison, ValuePath

from scim_server.errors import ScimError
from scim_server.protocol import member_ids, patched, without_read_only_echoes


@dataclass
class GroupChange:
    attributes: dict[str, Any] | None  # None: attributes untouched
    add: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)

    def added(self, ids: list[str]) -> None:
        self.add.update(ids)
        self.remove.difference_update(ids)

    def removed(self, ids: set[str] | list[str]) -> None:
        self.remove.update(ids)
        self.add.difference_update(ids)


def group_change(
    stored: dict[str, Any],
    operations: object,
    current_members: Callable[[], set[str]],
) -> GroupChange:
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "a PatchOp needs a list of Operations", "invalidSyntax")
    change = GroupChange(None)
    attribute_ops: list[dict[str, Any]] = []
    for raw in operations:
        if not isinstance(raw, dict):
            raise ScimError(400, "each operation must be an object", "invalidSyntax")
        rest = _members_part(raw, change, current_members)
        if rest is not None:
            attribute_ops.append(rest)
    if attribute_ops:
        change.attributes = patched("Group", stored, attribute_ops)
    return change


def _members_part(
    raw: dict[str, Any], change: GroupChange, current: Callable[[], set[str]]
) -> dict[str, Any] | None:
    """Apply the op's member part to `change`; return what is left for the attributes."""
    op = str(raw.get("op") or "").lower()
    path = raw.get("path")
    if path is None:
        value = raw.get("value")
        if not isinstance(value, dict):
            return raw
        value = without_read_only_echoes(value)
        members = next((value.pop(k) for k in list(value) if k.lower() == "members"), None)
        if members is not None:
            _list_op(op, members, change, current)
        return {**raw, "value": value} if value else None
    if not isinstance(path, str):
        raise ScimError(400, "path must be a string", "invalidPath")
    target = _member_target(path)
    if target is None:
        return raw
    if target == "all":
        _list_op(op, raw.get("value"), change, current)
    elif op == "remove":
        change.removed([target])
    else:
        raise ScimError(400, "members[...] paths only remove", "invalidPath")
    return None


def _list_op(op: str, value: object, change: GroupChange, current: Callable[[], set[str]]) -> None:
    if op == "add":
        change.added(member_ids(value))
    elif op == "remove" and value is None:
        change.removed(current() | change.add)
    elif op == "remove":
        change.removed(member_ids(value))  # Entra: only these, never all
    elif op == "replace":
        wanted = member_ids(value)
        change.removed((current() | change.add) - set(wanted))
        change.added(wanted)
    else:
        raise ScimError(400, "op must be add, remove or replace", "invalidValue")


def _member_target(path: str) -> str | None:
    """ "all" for `members`, the id for `members[value eq "id"]`, None when not members."""
    try:
        tree = Path[Group](path).ast
    except Exception as exc:  # scim2-models raises several types for a malformed path
        raise ScimError(400, "the path is not a valid attribute path", "invalidPath") from exc
    if isinstance(tree, AttrPath):
        return "all" if tree.attr.lower() == "members" and tree.sub_attr is None else None
    if not isinstance(tree, ValuePath) or tree.attr_path.attr.lower() != "members":
        return None
    test = tree.val_filter
    if (
        isinstance(test, Comparison)
        and test.attr_path.attr.lower() == "value"
        and test.op == CompareOperator.eq
        and isinstance(test.value, str)
        and tree.sub_attr is None
    ):
        return test.value
    raise ScimError(400, 'only members[value eq "id"] selects members', "invalidFilter")
