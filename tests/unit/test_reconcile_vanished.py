"""The worker's rule for a reconciliation's "vanished": deletes only what nothing newer
than the listing's start has touched, and never records an object dsync does not hold."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from schemas.envelope import EventEnvelope
from schemas.reconcile import VANISHED
from worker.commands import Command, DeleteById, PutUser, Vanished
from worker.decode import decode
from worker.errors import InvalidEvent
from worker.item import Accepted, Record, Rejected
from worker.rows import UserRow
from worker.tables import TableSlice

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


USER = UserRow(
    id="directory_user_1",
    provider="workos",
    directory_id="directory_1",
    organization_id="org_1",
    idp_id="idp-1",
    email=None,
    first_name="Ada",
    last_name=None,
    state="active",
    custom_attributes={},
    created_at=_at(0),
    updated_at=_at(10),
    deleted_at=None,
)


def _vanished(since: int, gone: int, row: UserRow = USER) -> Vanished:
    return Vanished("users", row.provider, row.directory_id, row.id, _at(since), _at(gone))


def _fold(commands: list[Command], stored: UserRow | None = None) -> TableSlice:
    changes = TableSlice({}, {} if stored is None else {stored.id: stored}, {}, {})
    for command in commands:
        changes.apply([command])
    return changes


def test_vanished_deletes_a_row_nothing_touched_since_the_listing_began() -> None:
    changes = _fold([_vanished(since=20, gone=25)], USER)
    assert changes.users[USER.id].deleted_at == _at(25)
    assert changes.changed_users() == [changes.users[USER.id]]


def test_vanished_spares_a_row_changed_after_the_listing_began() -> None:
    newer = replace(USER, updated_at=_at(21))
    changes = _fold([_vanished(since=20, gone=25)], newer)
    assert changes.users[USER.id] == newer
    assert changes.changed_users() == []


def test_vanished_spares_a_row_created_during_the_listing_whatever_the_order() -> None:
    created = replace(USER, created_at=_at(22), updated_at=_at(22))
    commands: list[Command] = [PutUser(created), _vanished(since=20, gone=25)]
    for order in itertools.permutations(commands):
        assert _fold(list(order)).users[USER.id].deleted_at is None


def test_vanished_of_an_unknown_row_records_nothing() -> None:
    changes = _fold([_vanished(since=20, gone=25)])
    assert changes.users == {}
    assert changes.pending == {}


def test_vanished_and_the_real_deletion_agree_in_either_order() -> None:
    commands: list[Command] = [DeleteById("users", "workos", USER.id, _at(23))]
    commands.append(_vanished(since=20, gone=25))
    results = {
        _fold(list(order), USER).users[USER.id].deleted_at
        for order in itertools.permutations(commands)
    }
    assert results == {_at(23)}


def test_vanished_never_resurrects_and_keeps_the_earlier_deletion() -> None:
    deleted = replace(USER, deleted_at=_at(5))
    assert _fold([_vanished(since=20, gone=25)], deleted).users[USER.id] == deleted


def test_a_stytch_member_vanished_comes_back_with_a_newer_payload() -> None:
    member = replace(USER, provider="stytch")
    back = replace(member, updated_at=_at(30))
    changes = _fold([_vanished(since=20, gone=25, row=member), PutUser(back)], member)
    assert changes.users[USER.id].deleted_at is None


def test_vanished_naming_another_directory_is_refused() -> None:
    other = replace(_vanished(since=20, gone=25), directory_id="directory_2")
    with pytest.raises(InvalidEvent):
        _fold([other], USER)


def _record(body: Mapping[str, object], directory: str = "directory_1") -> Record:
    envelope = EventEnvelope(
        source="workos",
        event_id="reconcile_1",
        event_type=VANISHED,
        directory_id=directory,
        received_at=T0,
        body=json.dumps(body).encode(),
    )
    return Record("t", 0, 0, envelope.body, tuple(envelope.headers()))


BODY = {
    "run_id": "run-1",
    "kind": "users",
    "id": USER.id,
    "directory_id": "directory_1",
    "unchanged_since": "2026-01-01T00:20:00Z",
    "gone_at": "2026-01-01T00:25:00Z",
}


def test_a_vanished_record_decodes_to_its_command_for_any_provider() -> None:
    decoded = decode(_record(BODY))
    assert isinstance(decoded, Accepted)
    assert decoded.commands == [_vanished(since=20, gone=25)]


@pytest.mark.parametrize(
    ("body", "directory"),
    [
        ({**BODY, "kind": "directories"}, "directory_1"),
        ({**BODY, "unchanged_since": "yesterday"}, "directory_1"),
        ({**BODY, "extra": 1}, "directory_1"),
        (BODY, "directory_2"),
    ],
)
def test_a_malformed_vanished_is_dead_lettered(body: Mapping[str, object], directory: str) -> None:
    assert isinstance(decode(_record(body, directory)), Rejected)
