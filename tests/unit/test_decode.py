"""Record -> envelope -> typed event, with every rejection reason."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.envelope import H_VERSION, EventEnvelope
from worker.commands import PutGroup, PutMembership, PutUser
from worker.decode import decode
from worker.item import Accepted, Record, Rejected

DIRECTORY_ID = "directory_01"
OTHER_DIRECTORY_ID = "directory_02"
EVENT_ID = "event_01"
RECEIVED_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

USER: dict[str, Any] = {
    "id": "directory_user_01",
    "directory_id": DIRECTORY_ID,
    "organization_id": "org_01",
    "idp_id": "idp-1",
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "state": "active",
    "custom_attributes": {},
    "created_at": "2024-01-01T00:00:00.000Z",
    "updated_at": "2024-01-01T00:00:00.000Z",
}

GROUP: dict[str, Any] = {
    "id": "directory_group_01",
    "directory_id": DIRECTORY_ID,
    "organization_id": "org_01",
    "idp_id": "group-1",
    "name": "Developers",
    "created_at": "2024-01-01T00:00:00.000Z",
    "updated_at": "2024-01-01T00:00:00.000Z",
}


def _body(event_type: str, data: dict[str, Any], event_id: str = EVENT_ID) -> bytes:
    payload = {
        "id": event_id,
        "event": event_type,
        "data": data,
        "created_at": "2024-01-01T00:00:00.000Z",
    }
    return json.dumps(payload).encode()


def _record(
    body: bytes,
    *,
    event_type: str,
    event_id: str = EVENT_ID,
    directory_id: str | None = DIRECTORY_ID,
) -> Record:
    envelope = EventEnvelope(
        source="workos",
        event_id=event_id,
        event_type=event_type,
        directory_id=directory_id,
        received_at=RECEIVED_AT,
        body=body,
    )
    return Record(
        topic="dsync.events",
        partition=0,
        offset=42,
        value=body,
        headers=tuple(envelope.headers()),
    )


def test_valid_user_created_is_accepted_with_parsed_event() -> None:
    record = _record(_body("dsync.user.created", USER), event_type="dsync.user.created")
    decoded = decode(record)
    assert isinstance(decoded, Accepted)
    assert decoded.record is record
    assert decoded.envelope.event_id == EVENT_ID
    assert decoded.envelope.directory_id == DIRECTORY_ID
    assert decoded.commands is not None
    [command] = decoded.commands
    assert isinstance(command, PutUser)
    assert command.row.id == "directory_user_01"


def test_unknown_event_type_is_accepted_without_commands() -> None:
    body = _body("dsync.token.created", {"anything": "goes"})
    decoded = decode(_record(body, event_type="dsync.token.created", directory_id=None))
    assert isinstance(decoded, Accepted)
    assert decoded.commands is None
    assert decoded.envelope.event_type == "dsync.token.created"


def test_invalid_envelope_headers_are_rejected() -> None:
    good = _record(_body("dsync.user.created", USER), event_type="dsync.user.created")
    headers = tuple((name, value) for name, value in good.headers if name != H_VERSION)
    record = Record(good.topic, good.partition, good.offset, good.value, headers)
    decoded = decode(record)
    assert isinstance(decoded, Rejected)
    assert decoded.envelope is None
    assert decoded.reason.startswith("invalid envelope")


def test_record_without_value_is_rejected() -> None:
    good = _record(_body("dsync.user.created", USER), event_type="dsync.user.created")
    record = Record(good.topic, good.partition, good.offset, None, good.headers)
    decoded = decode(record)
    assert isinstance(decoded, Rejected)
    assert decoded.envelope is None


def test_invalid_payload_is_rejected_with_event_type_in_reason() -> None:
    user = {key: value for key, value in USER.items() if key != "id"}
    record = _record(_body("dsync.user.created", user), event_type="dsync.user.created")
    decoded = decode(record)
    assert isinstance(decoded, Rejected)
    assert decoded.envelope is not None
    assert "dsync.user.created" in decoded.reason
    assert "ada@example.com" not in decoded.reason


def test_body_id_different_from_header_event_id_is_rejected() -> None:
    body = _body("dsync.user.created", USER, event_id="event_body")
    decoded = decode(_record(body, event_type="dsync.user.created", event_id="event_header"))
    assert isinstance(decoded, Rejected)
    assert decoded.envelope is not None
    assert decoded.reason.endswith("envelope headers do not match the body")


def test_body_type_different_from_header_event_type_is_rejected() -> None:
    body = _body("dsync.user.deleted", USER)
    decoded = decode(_record(body, event_type="dsync.user.created"))
    assert isinstance(decoded, Rejected)
    assert decoded.reason.endswith("envelope headers do not match the body")


def test_user_event_with_other_envelope_directory_is_rejected() -> None:
    body = _body("dsync.user.created", USER)
    decoded = decode(
        _record(body, event_type="dsync.user.created", directory_id=OTHER_DIRECTORY_ID)
    )
    assert isinstance(decoded, Rejected)
    assert decoded.reason.endswith("event touches objects outside its directory")


def _membership(user_directory: str) -> dict[str, Any]:
    user = copy.deepcopy(USER)
    user["directory_id"] = user_directory
    return {"directory_id": DIRECTORY_ID, "user": user, "group": copy.deepcopy(GROUP)}


def test_membership_event_in_one_directory_is_accepted() -> None:
    body = _body("dsync.group.user_added", _membership(DIRECTORY_ID))
    decoded = decode(_record(body, event_type="dsync.group.user_added"))
    assert isinstance(decoded, Accepted)
    assert decoded.commands is not None
    assert [type(c) for c in decoded.commands] == [PutUser, PutGroup, PutMembership]


def test_membership_with_user_from_other_directory_is_rejected() -> None:
    body = _body("dsync.group.user_added", _membership(OTHER_DIRECTORY_ID))
    decoded = decode(_record(body, event_type="dsync.group.user_added"))
    assert isinstance(decoded, Rejected)
    assert decoded.envelope is not None
    assert decoded.reason.endswith("event touches objects outside its directory")


def test_directory_event_uses_data_id_as_directory() -> None:
    directory = {
        "id": DIRECTORY_ID,
        "organization_id": "org_01",
        "name": "Example",
        "type": "okta scim v2.0",
        "state": "active",
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
    }
    body = _body("dsync.activated", directory)
    assert isinstance(decode(_record(body, event_type="dsync.activated")), Accepted)
    other = _record(body, event_type="dsync.activated", directory_id=OTHER_DIRECTORY_ID)
    assert isinstance(decode(other), Rejected)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "Ada\x00"),
        ("last_name", "Lovelace\x00"),
        ("id", "directory_user_\x00"),
        ("idp_id", "\x00"),
        ("custom_attributes", {"department": "Eng\x00"}),
        ("custom_attributes", {"dep\x00artment": "Engineering"}),
        ("custom_attributes", {"teams": ["a", "b\x00"]}),
    ],
)
def test_payload_text_postgresql_cannot_hold_is_rejected_with_its_place(
    field: str, value: object
) -> None:
    """The ingress routes such an event (it is not a routing field); here it is refused
    before it reaches a key or a column, the reason naming the place, never the value."""
    user = dict(USER, **{field: value})
    record = _record(_body("dsync.user.created", user), event_type="dsync.user.created")

    decoded = decode(record)

    assert isinstance(decoded, Rejected)
    assert decoded.envelope is not None
    assert f".{field}" in decoded.reason
    assert "NUL" in decoded.reason
    assert "\x00" not in decoded.reason
    assert "Ada" not in decoded.reason
    assert "Eng" not in decoded.reason


def test_an_email_holding_a_nul_is_no_address_and_is_dropped_not_refused() -> None:
    """The email rule comes first (worker/mappers/email.py: an address or nothing), so a NUL
    in an email leaves the user without one, as any other non-address does."""
    user = dict(USER, email="\x00ada@example.com")
    record = _record(_body("dsync.user.created", user), event_type="dsync.user.created")

    decoded = decode(record)

    assert isinstance(decoded, Accepted)
    assert decoded.commands is not None
    [put] = [c for c in decoded.commands if isinstance(c, PutUser)]
    assert put.row.email is None


def test_escaped_text_that_only_looks_like_a_nul_is_accepted() -> None:
    """`\\\\u0000` in JSON is a backslash and "u0000": text PostgreSQL holds."""
    user = dict(USER, first_name="Ada \\u0000 \U0001f600 é")
    for body in (_body("dsync.user.created", user), _body_utf8("dsync.user.created", user)):
        decoded = decode(_record(body, event_type="dsync.user.created"))
        assert isinstance(decoded, Accepted)


def _body_utf8(event_type: str, data: dict[str, Any]) -> bytes:
    payload = {
        "id": EVENT_ID,
        "event": event_type,
        "data": data,
        "created_at": RECEIVED_AT.isoformat(),
    }
    return json.dumps(payload, ensure_ascii=False).encode()
