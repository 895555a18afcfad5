"""Group PATCH in both dialects (scim_server.group_patch): member changes stay changes,
Entra's remove-with-value removes only those members, Okta's rename echoes `id`."""

from __future__ import annotations

import pytest

from scim_server.errors import ScimError
from scim_server.group_patch import group_change

STORED = {"displayName": "Engineering", "externalId": "e1"}


def current() -> set[str]:
    return {"a", "b", "c"}


def test_okta_remove_by_filter_and_add_in_one_request() -> None:
    change = group_change(
        STORED,
        [
            {"op": "remove", "path": 'members[value eq "a"]'},
            {"op": "add", "path": "members", "value": [{"value": "d", "display": "D"}]},
        ],
        current,
    )
    assert (change.attributes, change.add, change.remove) == (None, {"d"}, {"a"})


def test_entra_remove_with_a_value_list_removes_only_those() -> None:
    change = group_change(
        STORED, [{"op": "Remove", "path": "members", "value": [{"value": "b"}]}], current
    )
    assert (change.add, change.remove) == (set(), {"b"})


def test_entra_add_with_null_ref_and_an_op_name() -> None:
    op = {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "u9"}], "name": "x"}
    assert group_change(STORED, [op], current).add == {"u9"}


def test_okta_rename_ignores_the_echoed_id() -> None:
    op = {"op": "replace", "value": {"id": "g1", "displayName": "Engineering EU"}}
    change = group_change(STORED, [op], current)
    assert change.attributes == {"displayName": "Engineering EU", "externalId": "e1"}


def test_entra_rename_by_path() -> None:
    op = {"op": "Replace", "path": "displayName", "value": "EU"}
    assert group_change(STORED, [op], current).attributes == {
        "displayName": "EU",
        "externalId": "e1",
    }


def test_replace_all_members_removes_the_others() -> None:
    op = {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "z"}]}
    change = group_change(STORED, [op], current)
    assert (change.add, change.remove) == ({"a", "z"}, {"b", "c"})


def test_a_member_change_never_asks_for_the_member_list() -> None:
    def refuse() -> set[str]:
        raise AssertionError("the member list was read")

    ops = [{"op": "add", "path": "members", "value": [{"value": f"u{n}"}]} for n in range(3)]
    assert len(group_change(STORED, ops, refuse).add) == 3


@pytest.mark.parametrize(
    "operations",
    [
        [],
        "nope",
        [{"op": "add", "path": "members", "value": 3}],
        [{"op": "add", "path": "members", "value": [{"display": "no value"}]}],
        [{"op": "add", "path": "members", "value": [{"value": "g", "type": "Group"}]}],
        [{"op": "replace", "path": 'members[value eq "a"]', "value": {}}],
        [{"op": "add", "path": "members[", "value": []}],
    ],
)
def test_malformed_member_operations_are_400(operations: object) -> None:
    with pytest.raises(ScimError) as refused:
        group_change(STORED, operations, current)
    assert refused.value.status == 400
