"""User convergence rules: the result depends on the set of versions, not their order."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.workos import GroupEvent, UserEvent, parse_event
from worker.commands import Command, DeleteById, PutGroup, PutUser
from worker.errors import InvalidEvent
from worker.mappers.workos import group_row, user_row
from worker.merge import merge_user
from worker.rows import UserRow
from worker.tables import TableSlice, keys_of

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


BASE = UserRow(
    id="directory_user_1",
    provider="workos",
    directory_id="directory_1",
    organization_id="org_1",
    idp_id="idp-1",
    email="ada@example.com",
    first_name="Ada",
    last_name="Lovelace",
    state="active",
    custom_attributes={"department": "Engineering"},
    created_at=_at(0),
    updated_at=_at(10),
    deleted_at=None,
)


def _fold(versions: Iterable[UserRow]) -> UserRow | None:
    row: UserRow | None = None
    for version in versions:
        row = merge_user(row, version)
    return row


# --- merge_user --------------------------------------------------------------------------


def test_first_insert_returns_incoming() -> None:
    assert merge_user(None, BASE) is BASE


def test_newer_update_wins() -> None:
    newer = replace(BASE, first_name="Augusta", updated_at=_at(20))
    assert merge_user(BASE, newer) == newer


def test_older_update_is_stale() -> None:
    older = replace(BASE, first_name="Augusta", updated_at=_at(5))
    assert merge_user(BASE, older) == BASE


def test_same_version_twice_is_unchanged() -> None:
    assert merge_user(BASE, BASE) == BASE


def test_tie_deletion_payload_wins_over_stored_non_deletion() -> None:
    deletion = replace(BASE, state="inactive", deleted_at=_at(30))
    merged = merge_user(BASE, deletion)
    assert merged == deletion


def test_tie_non_deletion_does_not_override_stored_deletion() -> None:
    deletion = replace(BASE, state="inactive", deleted_at=_at(30))
    update = replace(BASE, first_name="Augusta")
    assert merge_user(deletion, update) == deletion


def test_tie_between_two_active_payloads_does_not_depend_on_order() -> None:
    update = replace(BASE, first_name="Augusta")
    assert merge_user(BASE, update) == merge_user(update, BASE)
    assert merge_user(BASE, update) in (BASE, update)


def test_deleted_at_is_never_cleared_by_later_non_delete() -> None:
    deletion = replace(BASE, state="inactive", deleted_at=_at(15))
    later = replace(BASE, state="active", first_name="Augusta", updated_at=_at(40))
    merged = merge_user(deletion, later)
    assert merged.deleted_at == _at(15)
    assert merged.first_name == "Augusta"
    assert merged.updated_at == _at(40)


def test_deleted_at_is_the_earliest_deletion() -> None:
    first = replace(BASE, deleted_at=_at(15))
    second = replace(BASE, updated_at=_at(20), deleted_at=_at(25))
    assert merge_user(first, second).deleted_at == _at(15)
    assert merge_user(second, first).deleted_at == _at(15)


def test_created_at_is_the_earliest_seen() -> None:
    newer_with_later_created = replace(BASE, updated_at=_at(20), created_at=_at(5))
    merged = merge_user(BASE, newer_with_later_created)
    assert merged.created_at == _at(0)
    assert merged.updated_at == _at(20)

    stale_with_earlier_created = replace(BASE, updated_at=_at(1), created_at=_at(-60))
    assert merge_user(BASE, stale_with_earlier_created).created_at == _at(-60)


def test_different_directory_is_invalid_event() -> None:
    other = replace(BASE, directory_id="directory_2", updated_at=_at(20))
    with pytest.raises(InvalidEvent):
        merge_user(BASE, other)


def test_different_provider_is_invalid_event() -> None:
    other = replace(BASE, provider="okta", updated_at=_at(20))
    with pytest.raises(InvalidEvent):
        merge_user(BASE, other)


def test_tie_between_second_deletion_and_update_is_order_independent() -> None:
    # A deletion, a later update and a second deletion carrying the update's updated_at.
    # The docstring promises order independence and that on a tie a deletion's payload wins.
    first_deletion = replace(BASE, state="inactive", updated_at=_at(1), deleted_at=_at(1))
    update = replace(BASE, state="active", updated_at=_at(5))
    second_deletion = replace(BASE, state="inactive", updated_at=_at(5), deleted_at=_at(6))

    one_order = _fold([first_deletion, update, second_deletion])
    other_order = _fold([second_deletion, update, first_deletion])
    assert one_order == other_order


# --- property: order and duplicates do not matter ---------------------------------------

_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def _versions(draw: st.DrawFn) -> list[UserRow]:
    updated = draw(st.lists(_datetimes, min_size=1, max_size=8, unique=True))
    deleted_index = draw(st.one_of(st.none(), st.integers(0, len(updated) - 1)))
    versions = []
    for index, updated_at in enumerate(updated):
        deleted_at = draw(_datetimes) if index == deleted_index else None
        versions.append(
            replace(
                BASE,
                email=draw(st.one_of(st.none(), st.emails())),
                first_name=draw(st.text(max_size=10)),
                state=draw(st.sampled_from(["active", "inactive", "suspended"])),
                custom_attributes=draw(
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
                ),
                created_at=draw(_datetimes),
                updated_at=updated_at,
                deleted_at=deleted_at,
            )
        )
    return versions


@given(data=st.data(), versions=_versions())
def test_fold_is_independent_of_order(data: st.DataObject, versions: list[UserRow]) -> None:
    first = data.draw(st.permutations(versions))
    second = data.draw(st.permutations(versions))
    assert _fold(first) == _fold(second)
    assert _fold(first) == _fold(versions)


@given(versions=_versions())
def test_fold_result_follows_the_rules(versions: list[UserRow]) -> None:
    merged = _fold(versions)
    assert merged is not None
    newest = max(versions, key=lambda v: v.updated_at)
    deletions = [v.deleted_at for v in versions if v.deleted_at is not None]
    assert merged.updated_at == newest.updated_at
    assert merged.first_name == newest.first_name
    assert merged.custom_attributes == newest.custom_attributes
    assert merged.created_at == min(v.created_at for v in versions)
    assert merged.deleted_at == (min(deletions) if deletions else None)


@given(data=st.data(), versions=_versions())
def test_fold_ignores_duplicates(data: st.DataObject, versions: list[UserRow]) -> None:
    once = _fold(versions)
    adjacent_twice = [version for version in versions for _ in range(2)]
    assert _fold(adjacent_twice) == once
    assert _fold(versions + versions) == once
    shuffled_twice = data.draw(st.permutations(versions + versions))
    assert _fold(shuffled_twice) == once


# --- TableSlice -------------------------------------------------------------------------

USER_EVENT: dict[str, Any] = {
    "id": "event_1",
    "event": "dsync.user.created",
    "data": {
        "id": "directory_user_1",
        "directory_id": "directory_1",
        "organization_id": "org_1",
        "idp_id": "idp-1",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "state": "active",
        "custom_attributes": {"department": "Engineering"},
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:10:00Z",
    },
    "created_at": "2024-01-01T00:10:00Z",
}


def _event(event_type: str = "dsync.user.created", **data: Any) -> UserEvent:
    payload = copy.deepcopy(USER_EVENT)
    payload["event"] = event_type
    payload["data"].update(data)
    event = parse_event(json.dumps(payload).encode())
    assert isinstance(event, UserEvent)
    return event


def test_user_row_copies_every_field() -> None:
    event = _event()
    row = user_row(event.data, None)
    assert row == BASE


def commands(event: UserEvent | GroupEvent) -> list[Command]:
    if isinstance(event, UserEvent):
        deleted = event.created_at if event.event == "dsync.user.deleted" else None
        return [PutUser(user_row(event.data, deleted))]
    return [PutGroup(group_row(event.data, None))]


def _changes(users: dict[str, UserRow] | None = None) -> TableSlice:
    return TableSlice(directories={}, users=users or {}, groups={}, memberships={})


def test_changes_applies_new_user_and_marks_dirty() -> None:
    changes = _changes()
    assert changes.apply(commands(_event())) == "applied"
    assert changes.users["directory_user_1"] == BASE
    assert changes.dirty["users"] == {"directory_user_1"}


def test_changes_same_event_twice_is_stale() -> None:
    changes = _changes()
    changes.apply(commands(_event()))
    changes.dirty["users"].clear()
    assert changes.apply(commands(_event())) == "stale"
    assert changes.dirty["users"] == set()


def test_changes_older_update_is_stale_and_not_dirty() -> None:
    changes = _changes({BASE.id: BASE})
    older = _event("dsync.user.updated", first_name="Old", updated_at="2024-01-01T00:05:00Z")
    assert changes.apply(commands(older)) == "stale"
    assert changes.users[BASE.id] == BASE
    assert changes.dirty["users"] == set()


def test_changes_deletion_sets_deleted_at_to_event_created_at() -> None:
    changes = _changes({BASE.id: BASE})
    deletion = _event("dsync.user.deleted", state="inactive")
    assert changes.apply(commands(deletion)) == "applied"
    assert changes.users[BASE.id].deleted_at == _at(10)
    assert changes.users[BASE.id].state == "inactive"


def test_changes_applies_group_events_and_ignores_unknown_types() -> None:
    group = parse_event(
        json.dumps(
            {
                "id": "event_2",
                "event": "dsync.group.created",
                "data": {
                    "id": "directory_group_1",
                    "directory_id": "directory_1",
                    "idp_id": "g-1",
                    "name": "Developers",
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                },
                "created_at": "2024-01-01T00:00:00Z",
            }
        ).encode()
    )
    assert isinstance(group, GroupEvent)
    changes = _changes()
    assert changes.apply(commands(group)) == "applied"
    assert changes.apply(None) == "ignored"
    assert changes.users == {}
    assert changes.dirty["users"] == set()
    assert changes.dirty["groups"] == {"directory_group_1"}


def test_changes_user_from_other_directory_raises_invalid_event() -> None:
    changes = _changes({BASE.id: BASE})
    with pytest.raises(InvalidEvent):
        changes.apply(commands(_event("dsync.user.updated", directory_id="directory_2")))


def test_keys_of_collects_users_and_their_directory() -> None:
    keys = keys_of([*commands(_event()), *commands(_event(id="directory_user_2"))])
    assert keys.users == {"directory_user_1", "directory_user_2"}
    assert keys.directories == {(BASE.provider, BASE.directory_id)}
    assert keys.groups == set()


def test_a_failing_event_changes_nothing() -> None:
    """All or nothing: the user part of an event whose group is foreign is rolled back."""
    foreign_group = replace(
        group_row(parse_group(), None), directory_id="directory_other", id="directory_group_x"
    )
    changes = TableSlice(
        directories={}, users={}, groups={foreign_group.id: foreign_group}, memberships={}
    )
    user = PutUser(BASE)
    group = PutGroup(replace(foreign_group, directory_id=BASE.directory_id))

    with pytest.raises(InvalidEvent):
        changes.apply([user, group])

    assert changes.users == {}
    assert changes.dirty["users"] == set()
    assert changes.groups == {foreign_group.id: foreign_group}


def test_deletion_before_the_object_is_applied_when_it_arrives() -> None:
    changes = _changes()
    at = _at(50)
    assert changes.apply([DeleteById("users", "workos", BASE.id, at)]) == "applied"
    assert changes.users == {}

    assert changes.apply([PutUser(BASE)]) == "applied"

    assert changes.users[BASE.id].deleted_at == at
    assert [p.id for p in changes.changed_pending()] == [BASE.id]


def parse_group() -> Any:
    event = parse_event(
        json.dumps(
            {
                "id": "event_g",
                "event": "dsync.group.created",
                "data": {
                    "id": "directory_group_1",
                    "directory_id": BASE.directory_id,
                    "idp_id": "g-1",
                    "name": "Developers",
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                },
                "created_at": "2024-01-01T00:00:00Z",
            }
        ).encode()
    )
    assert isinstance(event, GroupEvent)
    return event.data
