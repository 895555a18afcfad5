"""Stytch and Polis events -> provider-neutral commands, and Stytch's reactivation rule."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.envelope import EventEnvelope, Source
from schemas.errors import InvalidPayload
from worker.commands import (
    DeleteById,
    MembershipById,
    PutDirectory,
    PutGroup,
    PutMembership,
    PutUser,
)
from worker.mappers import polis, stytch
from worker.merge import merge
from worker.rows import UserRow

EVENT_TIME = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
MEMBER_ID = "member-test-00000000-0000-0000-0000-000000000000"
ORGANIZATION_ID = "organization-test-00000000-0000-0000-0000-000000000000"
GROUP_ID = "idp-group-test-00000000-0000-0000-0000-000000000000"


def _envelope(
    source: Source,
    event: dict[str, Any],
    *,
    event_type: str,
    directory_id: str | None,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    return EventEnvelope(
        source=source,
        event_id=f"{source}_event_1",
        event_type=event_type,
        directory_id=directory_id,
        received_at=datetime.now(UTC),
        body=json.dumps(event).encode(),
        occurred_at=occurred_at,
    )


# --- Stytch ---------------------------------------------------------------------------

# The Svix catalog's `dashboard.member.create` example, plus created_at/updated_at.
STYTCH_MEMBER_CREATE: dict[str, Any] = {
    "action": "CREATE",
    "event_id": "webhook-event-test-00000000-0000-0000-0000-000000000000",
    "id": MEMBER_ID,
    "member": {
        "default_mfa_method": "",
        "email_address": "adalovelace@stytch.example.com",
        "email_address_verified": False,
        "is_admin": False,
        "is_breakglass": False,
        "member_id": MEMBER_ID,
        "member_password_id": "",
        "mfa_enrolled": False,
        "mfa_phone_number": "",
        "mfa_phone_number_verified": False,
        "name": "Ada Lovelace",
        "oauth_registrations": [],
        "organization_id": ORGANIZATION_ID,
        "roles": [
            {
                "role_id": "stytch_member",
                "sources": [{"details": {}, "type": "direct_assignment"}],
            }
        ],
        "sso_registrations": [],
        "status": "active",
        "totp_registration_id": "",
        "trusted_metadata": {},
        "untrusted_metadata": {},
        "created_at": "2023-12-01T00:00:00Z",
        "updated_at": "2024-01-02T03:04:00Z",
    },
    "object_type": "member",
    "project_id": "project-test-00000000-0000-0000-0000-000000000000",
    "source": "DASHBOARD",
    "timestamp": "2024-01-02T03:04:05.678901Z",
    "vertical": "B2B",
}

# The catalog's `dashboard.member.delete` example: the envelope only.
STYTCH_MEMBER_DELETE: dict[str, Any] = {
    "action": "DELETE",
    "event_id": "webhook-event-test-00000000-0000-0000-0000-000000000001",
    "id": MEMBER_ID,
    "object_type": "member",
    "project_id": "project-test-00000000-0000-0000-0000-000000000000",
    "source": "DASHBOARD",
    "timestamp": "2024-01-02T03:04:05.678901Z",
    "vertical": "B2B",
}


def _stytch_envelope(event: dict[str, Any]) -> EventEnvelope:
    event_type = f"{event['source']}.{event['object_type']}.{event['action']}".lower()
    organization = event.get("member", {}).get("organization_id")
    return _envelope("stytch", event, event_type=event_type, directory_id=organization)


def _stytch_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "webhook-event-test-00000000-0000-0000-0000-000000000002",
        "project_id": "project-test-00000000-0000-0000-0000-000000000000",
        "source": "SCIM",
        "timestamp": "2024-01-02T03:04:05.678901Z",
    }
    event.update(fields)
    return event


def _idp_group() -> dict[str, Any]:
    return {
        "group_id": GROUP_ID,
        "group_name": "Engineering",
        "organization_id": ORGANIZATION_ID,
        "connection_id": "scim-connection-test-00000000-0000-0000-0000-000000000000",
    }


def test_stytch_member_create_puts_user() -> None:
    result = stytch.commands(_stytch_envelope(STYTCH_MEMBER_CREATE))
    assert result is not None
    assert len(result) == 1
    command = result[0]
    assert isinstance(command, PutUser)
    row = command.row
    assert row.id == MEMBER_ID
    assert row.provider == "stytch"
    assert row.directory_id == ORGANIZATION_ID
    assert row.email == "adalovelace@stytch.example.com"
    assert row.state == "active"
    assert row.custom_attributes["roles"] == ["stytch_member"]
    assert row.created_at == datetime(2023, 12, 1, tzinfo=UTC)
    assert row.updated_at == datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
    assert row.deleted_at is None


@pytest.mark.parametrize("status", ["deleted", "deactivated"])
def test_stytch_member_non_active_status_is_kept_as_state(status: str) -> None:
    event = copy.deepcopy(STYTCH_MEMBER_CREATE)
    event["action"] = "UPDATE"
    event["member"]["status"] = status
    result = stytch.commands(_stytch_envelope(event))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutUser)
    assert result[0].row.state == status


def test_stytch_member_delete_deletes_by_id_at_event_timestamp() -> None:
    result = stytch.commands(_stytch_envelope(STYTCH_MEMBER_DELETE))
    assert result == [DeleteById("users", "stytch", MEMBER_ID, EVENT_TIME)]


def test_stytch_organization_create_puts_directory() -> None:
    event = _stytch_event(
        action="CREATE",
        object_type="organization",
        source="DIRECT",
        id=ORGANIZATION_ID,
        organization={
            "organization_id": ORGANIZATION_ID,
            "organization_name": "Acme",
            "organization_slug": "acme",
        },
    )
    result = stytch.commands(_stytch_envelope(event))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutDirectory)
    row = result[0].row
    assert row.id == ORGANIZATION_ID
    assert row.provider == "stytch"
    assert row.name == "Acme"
    assert row.state == "active"
    assert row.deleted_at is None


def test_stytch_organization_delete_puts_deleted_directory() -> None:
    event = _stytch_event(
        action="DELETE", object_type="organization", source="DIRECT", id=ORGANIZATION_ID
    )
    result = stytch.commands(_stytch_envelope(event))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutDirectory)
    assert result[0].row.id == ORGANIZATION_ID
    assert result[0].row.deleted_at == EVENT_TIME


def test_stytch_idp_group_create_puts_group() -> None:
    event = _stytch_event(
        action="CREATE", object_type="idp_group", id=GROUP_ID, idp_group=_idp_group()
    )
    result = stytch.commands(_stytch_envelope(event))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutGroup)
    row = result[0].row
    assert row.id == GROUP_ID
    assert row.provider == "stytch"
    assert row.directory_id == ORGANIZATION_ID
    assert row.name == "Engineering"
    assert row.deleted_at is None


@pytest.mark.parametrize(("action", "present"), [("MEMBER_ADD", True), ("MEMBER_DELETE", False)])
def test_stytch_idp_group_membership_by_id(action: str, present: bool) -> None:
    event = _stytch_event(
        action=action,
        object_type="idp_group",
        id=GROUP_ID,
        idp_group=_idp_group(),
        member_id=MEMBER_ID,
    )
    result = stytch.commands(_stytch_envelope(event))
    assert result == [
        MembershipById("stytch", GROUP_ID, MEMBER_ID, present, EVENT_TIME, ORGANIZATION_ID)
    ]


def test_stytch_member_update_without_member_object_is_invalid() -> None:
    event = copy.deepcopy(STYTCH_MEMBER_DELETE)
    event["action"] = "UPDATE"
    with pytest.raises(InvalidPayload):
        stytch.commands(_stytch_envelope(event))


def test_stytch_unknown_object_type_is_ignored() -> None:
    event = _stytch_event(
        action="CREATE",
        object_type="saml_connection",
        source="DASHBOARD",
        id="saml-connection-test-00000000-0000-0000-0000-000000000000",
        saml_connection={"connection_id": "saml-connection-test-1"},
    )
    assert stytch.commands(_stytch_envelope(event)) is None


# --- Polis ----------------------------------------------------------------------------

OCCURRED_AT = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
DIRECTORY_ID = "dir_01"


def _polis_user(active: Any = True) -> dict[str, Any]:
    return {
        "id": "user_01",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "active": active,
        "raw": {"externalId": "ext-ada", "title": "Engineer"},
    }


def _polis_event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": kind,
        "tenant": "acme",
        "product": "dsync",
        "directory_id": DIRECTORY_ID,
        "data": data,
    }


def _polis_envelope(
    event: dict[str, Any],
    *,
    event_type: str | None = None,
    occurred_at: datetime | None = OCCURRED_AT,
) -> EventEnvelope:
    return _envelope(
        "polis",
        event,
        event_type=event_type or event["event"],
        directory_id=DIRECTORY_ID,
        occurred_at=occurred_at,
    )


def _membership_data() -> dict[str, Any]:
    return {**_polis_user(), "group": {"id": "group_01", "name": "Engineering", "raw": {}}}


def test_polis_user_created_active_puts_active_user_at_occurred_time() -> None:
    result = polis.commands(_polis_envelope(_polis_event("user.created", _polis_user(True))))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutUser)
    row = result[0].row
    assert row.id == "user_01"
    assert row.provider == "polis"
    assert row.directory_id == DIRECTORY_ID
    assert row.email == "ada@example.com"
    assert row.state == "active"
    assert row.updated_at == OCCURRED_AT
    assert row.deleted_at is None


@pytest.mark.parametrize("active", ["False", False])
def test_polis_user_inactive_including_string_false_puts_inactive_user(active: Any) -> None:
    result = polis.commands(_polis_envelope(_polis_event("user.updated", _polis_user(active))))
    assert result is not None
    assert isinstance(result[0], PutUser)
    assert result[0].row.state == "inactive"


def test_polis_user_deleted_sets_deleted_at_to_occurred_time() -> None:
    result = polis.commands(_polis_envelope(_polis_event("user.deleted", _polis_user())))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutUser)
    assert result[0].row.deleted_at == OCCURRED_AT


def test_polis_group_created_puts_group() -> None:
    data = {"id": "group_01", "name": "Engineering", "raw": {}}
    result = polis.commands(_polis_envelope(_polis_event("group.created", data)))
    assert result is not None
    assert len(result) == 1
    assert isinstance(result[0], PutGroup)
    row = result[0].row
    assert row.id == "group_01"
    assert row.provider == "polis"
    assert row.directory_id == DIRECTORY_ID
    assert row.name == "Engineering"
    assert row.updated_at == OCCURRED_AT
    assert row.deleted_at is None


def test_polis_group_user_added_puts_user_group_and_present_membership() -> None:
    result = polis.commands(_polis_envelope(_polis_event("group.user_added", _membership_data())))
    assert result is not None
    assert [type(command) for command in result] == [PutUser, PutGroup, PutMembership]
    user, group, membership = result
    assert isinstance(user, PutUser)
    assert isinstance(group, PutGroup)
    assert isinstance(membership, PutMembership)
    assert user.row.id == "user_01"
    assert group.row.id == "group_01"
    assert membership.row.group_id == "group_01"
    assert membership.row.user_id == "user_01"
    assert membership.row.directory_id == DIRECTORY_ID
    assert membership.row.present is True
    assert membership.row.event_at == OCCURRED_AT


def test_polis_group_user_removed_puts_absent_membership() -> None:
    result = polis.commands(_polis_envelope(_polis_event("group.user_removed", _membership_data())))
    assert result is not None
    memberships = [command for command in result if isinstance(command, PutMembership)]
    assert len(memberships) == 1
    assert memberships[0].row.present is False
    assert memberships[0].row.user_id == "user_01"


def test_polis_event_without_occurred_at_is_invalid() -> None:
    envelope = _polis_envelope(_polis_event("user.created", _polis_user()), occurred_at=None)
    with pytest.raises(InvalidPayload):
        polis.commands(envelope)


def test_polis_envelope_type_not_matching_body_is_invalid() -> None:
    envelope = _polis_envelope(
        _polis_event("user.created", _polis_user()), event_type="user.deleted"
    )
    with pytest.raises(InvalidPayload):
        polis.commands(envelope)


def test_polis_unknown_event_type_is_ignored() -> None:
    event = _polis_event("sso.created", {"id": "sso_01"})
    assert polis.commands(_polis_envelope(event)) is None


# --- merge: Stytch reactivates ids, WorkOS does not -----------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _user(provider: str, *, updated: int, state: str = "active") -> UserRow:
    return UserRow(
        id="member-1",
        provider=provider,
        directory_id="organization-1",
        organization_id="organization-1",
        idp_id="member-1",
        email="ada@example.com",
        first_name="Ada",
        last_name=None,
        state=state,
        custom_attributes={"roles": ["stytch_member"]},
        created_at=_at(0),
        updated_at=_at(updated),
        deleted_at=None,
    )


def _fold(rows: tuple[UserRow, ...]) -> UserRow:
    result: UserRow | None = None
    for row in rows:
        result = merge(result, row)
    assert result is not None
    return result


def test_stytch_deletion_after_latest_payload_deletes() -> None:
    payload = _user("stytch", updated=5)
    deletion = replace(payload, deleted_at=_at(10))
    merged = merge(payload, deletion)
    assert merged.deleted_at == _at(10)


def test_stytch_reactivation_after_deletion_converges_in_every_order() -> None:
    payload = _user("stytch", updated=5)
    deletion = replace(payload, deleted_at=_at(10))
    reactivation = _user("stytch", updated=20, state="active")
    finals = [_fold(order) for order in itertools.permutations((payload, deletion, reactivation))]
    assert len(finals) == 6
    final = finals[0]
    assert all(other == final for other in finals), finals
    assert final.deleted_at is None
    assert final.state == "active"
    assert final.updated_at == _at(20)


def test_workos_payload_after_deletion_does_not_undelete() -> None:
    payload = _user("workos", updated=5)
    deletion = replace(payload, deleted_at=_at(10))
    later = _user("workos", updated=20)
    for order in itertools.permutations((payload, deletion, later)):
        final = _fold(order)
        assert final.deleted_at == _at(10), order


def test_stytch_deletion_at_same_time_as_payload_deletes() -> None:
    payload = _user("stytch", updated=10)
    deletion = replace(payload, deleted_at=_at(10))
    assert merge(payload, deletion).deleted_at == _at(10)
    assert merge(deletion, payload).deleted_at == _at(10)


def test_stytch_older_payload_arriving_after_deletion_stays_deleted() -> None:
    payload = _user("stytch", updated=5)
    deletion = replace(payload, deleted_at=_at(10))
    merged = merge(merge(None, deletion), payload)
    assert merged.deleted_at == _at(10)
