"""WorkOS payload models (lenient) and the internal event envelope (strict)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import schemas
from schemas.envelope import (
    H_DIRECTORY_ID,
    H_EVENT_ID,
    H_SOURCE,
    H_VERSION,
    EnvelopeError,
    EventEnvelope,
    decode_envelope,
)
from schemas.errors import InvalidPayload
from schemas.workos import (
    DirectoryEvent,
    MembershipEvent,
    UserEvent,
    parse_envelope,
    parse_event,
)

EXAMPLES_DIR = Path(schemas.__file__).parent / "examples" / "workos"
EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*.json"))

DIRECTORY_ID = "directory_01ECAZ4NV9QMV47GW873HDCX74"
EMAIL = "eric.schneider@example.com"

USER_CREATED: dict[str, Any] = {
    "id": "event_01FKJ843CVE8F7BXQSPFH0M53V",
    "event": "dsync.user.created",
    "data": {
        "id": "directory_user_01E1X56GH84T3FB41SD6PZGDBX",
        "idp_id": "2936",
        "directory_id": DIRECTORY_ID,
        "organization_id": "org_01EZTR6WYX1A0DSE2CYMGXQ24Y",
        "first_name": "Eric",
        "last_name": "Schneider",
        "emails": [{"primary": True, "type": "work", "value": EMAIL}],
        "email": EMAIL,
        "username": EMAIL,
        "job_title": "Software Engineer",
        "state": "active",
        "custom_attributes": {"department": "Engineering"},
        "raw_attributes": {},
        "role": {"slug": "member"},
        "created_at": "2021-06-25T19:07:33.155Z",
        "updated_at": "2021-06-25T19:07:33.155Z",
    },
    "created_at": "2021-06-25T19:07:33.155Z",
}

GROUP_USER_ADDED: dict[str, Any] = {
    "object": "event",
    "id": "event_01E1JG7J09H96KYP8HM9B0G5SJ",
    "event": "dsync.group.user_added",
    "data": {
        "directory_id": DIRECTORY_ID,
        "user": copy.deepcopy(USER_CREATED["data"]),
        "group": {
            "object": "directory_group",
            "id": "directory_group_01E1X5GPMMXF4T1DCERMVEEPVW",
            "idp_id": "02grqrue4294w24",
            "directory_id": DIRECTORY_ID,
            "organization_id": "org_01EZTR6WYX1A0DSE2CYMGXQ24Y",
            "name": "Developers",
            "created_at": "2021-06-25T19:07:33.155Z",
            "updated_at": "2021-06-25T19:07:33.155Z",
            "raw_attributes": {},
        },
    },
    "created_at": "2021-06-25T19:07:33.155Z",
}


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _user_created(**data_overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(USER_CREATED)
    payload["data"].update(data_overrides)
    return payload


# --- examples ---------------------------------------------------------------------------


_EXAMPLES = [
    pytest.param(_dump(USER_CREATED), id="inline-dsync.user.created"),
    pytest.param(_dump(GROUP_USER_ADDED), id="inline-dsync.group.user_added"),
    *(pytest.param(path.read_bytes(), id=path.name) for path in EXAMPLE_FILES),
]


def test_examples_folder_holds_at_least_ten_examples() -> None:
    assert len(EXAMPLE_FILES) >= 10, f"{EXAMPLES_DIR} holds {len(EXAMPLE_FILES)} examples"


@pytest.mark.parametrize("body", _EXAMPLES)
def test_example_parses_with_its_event_type(body: bytes) -> None:
    event = parse_event(body)
    assert event.event == json.loads(body)["event"]


@pytest.mark.parametrize("body", _EXAMPLES)
def test_example_envelope_routes_to_a_directory(body: bytes) -> None:
    routed = parse_envelope(body)
    raw = json.loads(body)
    assert routed.id == raw["id"]
    assert routed.event == raw["event"]
    assert routed.directory_id is not None


# --- parse_event -------------------------------------------------------------------------


def test_user_created_sample_parses_to_user_event() -> None:
    event = parse_event(_dump(USER_CREATED))
    assert isinstance(event, UserEvent)
    assert event.data.email == EMAIL
    assert event.data.directory_id == DIRECTORY_ID
    assert event.data.custom_attributes == {"department": "Engineering"}
    assert event.data.is_active


def test_group_user_added_sample_parses_to_membership_event() -> None:
    event = parse_event(_dump(GROUP_USER_ADDED))
    assert isinstance(event, MembershipEvent)
    assert event.data.user.id == "directory_user_01E1X56GH84T3FB41SD6PZGDBX"
    assert event.data.group.name == "Developers"


def test_created_at_without_zone_becomes_utc_aware() -> None:
    payload = _user_created(created_at="2023-04-28 20:05:31.093")
    event = parse_event(_dump(payload))
    assert isinstance(event, UserEvent)
    assert event.data.created_at == datetime(2023, 4, 28, 20, 5, 31, 93000, tzinfo=UTC)
    assert event.data.created_at.utcoffset() == timedelta(0)


def test_created_at_with_offset_is_converted_to_utc() -> None:
    payload = _user_created(updated_at="2023-04-28T22:05:31+02:00")
    event = parse_event(_dump(payload))
    assert isinstance(event, UserEvent)
    assert event.data.updated_at.tzinfo == UTC
    assert event.data.updated_at == datetime(2023, 4, 28, 20, 5, 31, tzinfo=UTC)


def test_unknown_fields_are_ignored() -> None:
    payload = _user_created(brand_new_field={"nested": [1, 2, 3]})
    payload["another_new_top_level_field"] = "x"
    event = parse_event(_dump(payload))
    assert isinstance(event, UserEvent)
    assert "brand_new_field" not in event.data.model_dump()
    assert "another_new_top_level_field" not in event.model_dump()


def test_missing_object_field_is_fine() -> None:
    payload = copy.deepcopy(GROUP_USER_ADDED)
    del payload["object"]
    event = parse_event(_dump(payload))
    assert event.event == "dsync.group.user_added"


@pytest.mark.parametrize("state", ["suspended", "inactive"])
def test_non_active_user_state_is_not_active(state: str) -> None:
    event = parse_event(_dump(_user_created(state=state)))
    assert isinstance(event, UserEvent)
    assert event.data.is_active is False


def test_user_event_missing_data_id_is_invalid_payload() -> None:
    payload = _user_created()
    del payload["data"]["id"]
    with pytest.raises(InvalidPayload) as caught:
        parse_event(_dump(payload))
    assert "id" in str(caught.value)


def test_invalid_payload_reason_does_not_leak_email() -> None:
    payload = _user_created()
    del payload["data"]["id"]
    with pytest.raises(InvalidPayload) as caught:
        parse_event(_dump(payload))
    assert EMAIL not in str(caught.value)
    assert "eric.schneider" not in str(caught.value)


def test_invalid_email_type_reason_does_not_leak_value() -> None:
    payload = _user_created(email=["secret.person@example.com"])
    with pytest.raises(InvalidPayload) as caught:
        parse_event(_dump(payload))
    assert "secret.person" not in str(caught.value)


def test_parse_event_rejects_unknown_event_type() -> None:
    payload = copy.deepcopy(USER_CREATED)
    payload["event"] = "dsync.token.created"
    with pytest.raises(InvalidPayload):
        parse_event(_dump(payload))


# --- parse_envelope ----------------------------------------------------------------------


def test_parse_envelope_rejects_non_json() -> None:
    with pytest.raises(InvalidPayload):
        parse_envelope(b"not json at all")


def test_parse_envelope_rejects_json_array() -> None:
    with pytest.raises(InvalidPayload):
        parse_envelope(b'[{"id": "event_1", "event": "dsync.user.created", "data": {}}]')


def test_parse_envelope_rejects_missing_id() -> None:
    with pytest.raises(InvalidPayload):
        parse_envelope(b'{"event": "dsync.user.created", "data": {}}')


def test_parse_envelope_reason_for_missing_id_names_the_field() -> None:
    # Valid JSON that fails validation should say which field, not "not valid JSON".
    with pytest.raises(InvalidPayload) as caught:
        parse_envelope(b'{"event": "dsync.user.created", "data": {}}')
    assert "not valid JSON" not in str(caught.value)
    assert "id" in str(caught.value)


def test_parse_envelope_rejects_invalid_utf8() -> None:
    with pytest.raises(InvalidPayload):
        parse_envelope(b'{"id": "event_\xff\xfe", "event": "dsync.user.created", "data": {}}')


def test_parse_envelope_rejects_deep_nesting_without_recursion_error() -> None:
    with pytest.raises(InvalidPayload):
        parse_envelope(b"[" * 100_000)


def test_parse_envelope_rejects_deep_nesting_inside_data() -> None:
    body = b'{"id": "event_1", "event": "dsync.user.created", "data": ' + b"[" * 100_000
    with pytest.raises(InvalidPayload):
        parse_envelope(body)


def test_envelope_directory_id_of_user_event_is_data_directory_id() -> None:
    routed = parse_envelope(_dump(USER_CREATED))
    assert routed.directory_id == DIRECTORY_ID


def test_envelope_directory_id_of_membership_event_is_data_directory_id() -> None:
    routed = parse_envelope(_dump(GROUP_USER_ADDED))
    assert routed.directory_id == DIRECTORY_ID


@pytest.mark.parametrize("event_type", ["dsync.activated", "dsync.deleted"])
def test_envelope_directory_id_of_directory_event_is_data_id(event_type: str) -> None:
    body = {"id": "event_1", "event": event_type, "data": {"id": DIRECTORY_ID}}
    assert parse_envelope(_dump(body)).directory_id == DIRECTORY_ID


@pytest.mark.parametrize("event_type", ["dsync.activated", "dsync.deleted"])
def test_directory_event_parses_to_directory_event(event_type: str) -> None:
    body = {
        "id": "event_1",
        "event": event_type,
        "data": {
            "id": DIRECTORY_ID,
            "created_at": "2021-06-25T19:07:33.155Z",
            "updated_at": "2021-06-25T19:07:33.155Z",
        },
        "created_at": "2021-06-25T19:07:33.155Z",
    }
    event = parse_event(_dump(body))
    assert isinstance(event, DirectoryEvent)
    assert event.data.id == DIRECTORY_ID


def test_envelope_directory_event_ignores_data_directory_id() -> None:
    body = {"id": "event_1", "event": "dsync.deleted", "data": {"directory_id": DIRECTORY_ID}}
    assert parse_envelope(_dump(body)).directory_id is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="absent"),
        pytest.param({"directory_id": None}, id="null"),
        pytest.param({"directory_id": 42}, id="number"),
        pytest.param({"directory_id": ["directory_1"]}, id="list"),
        pytest.param({"directory_id": {"id": "directory_1"}}, id="object"),
        pytest.param({"directory_id": ""}, id="empty-string"),
    ],
)
def test_envelope_directory_id_is_none_when_absent_or_not_a_string(data: dict[str, Any]) -> None:
    body = {"id": "event_1", "event": "dsync.user.created", "data": data}
    assert parse_envelope(_dump(body)).directory_id is None


# --- EventEnvelope -----------------------------------------------------------------------

RECEIVED_AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _envelope(directory_id: str | None = DIRECTORY_ID) -> EventEnvelope:
    return EventEnvelope(
        source="workos",
        event_id="event_01FKJ843CVE8F7BXQSPFH0M53V",
        event_type="dsync.user.created",
        directory_id=directory_id,
        received_at=RECEIVED_AT,
        body=_dump(USER_CREATED),
    )


@pytest.mark.parametrize("directory_id", [DIRECTORY_ID, None])
def test_envelope_headers_round_trip(directory_id: str | None) -> None:
    envelope = _envelope(directory_id)
    assert decode_envelope(envelope.headers(), envelope.body) == envelope


def test_envelope_without_directory_has_no_directory_header() -> None:
    names = [name for name, _ in _envelope(None).headers()]
    assert H_DIRECTORY_ID not in names


def test_envelope_received_at_in_other_zone_is_stored_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    envelope = EventEnvelope(
        source="workos",
        event_id="event_1",
        event_type="dsync.user.created",
        directory_id=None,
        received_at=datetime(2024, 5, 6, 9, 8, 9, tzinfo=plus_two),
        body=b"{}",
    )
    assert envelope.received_at.tzinfo == UTC
    assert decode_envelope(envelope.headers(), envelope.body) == envelope


def test_partition_key_is_directory_id_when_known() -> None:
    assert _envelope(DIRECTORY_ID).partition_key() == DIRECTORY_ID.encode()


def test_partition_key_is_event_id_without_directory() -> None:
    assert _envelope(None).partition_key() == b"event_01FKJ843CVE8F7BXQSPFH0M53V"


def _headers_without(name: str) -> list[tuple[str, bytes]]:
    return [(key, value) for key, value in _envelope().headers() if key != name]


def _headers_with(name: str, replacement: bytes) -> list[tuple[str, bytes]]:
    return [(key, replacement if key == name else value) for key, value in _envelope().headers()]


def test_decode_envelope_rejects_missing_version_header() -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_headers_without(H_VERSION), b"{}")


def test_decode_envelope_rejects_wrong_version() -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_headers_with(H_VERSION, b"2"), b"{}")


def test_decode_envelope_rejects_non_utf8_header() -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_headers_with(H_EVENT_ID, b"event_\xff"), b"{}")


def test_decode_envelope_rejects_missing_value() -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_envelope().headers(), None)


def test_decode_envelope_rejects_missing_event_id_header() -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_headers_without(H_EVENT_ID), b"{}")


def test_decode_envelope_rejects_unknown_source() -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_headers_with(H_SOURCE, b"okta"), b"{}")


def test_decode_envelope_reason_does_not_leak_header_values() -> None:
    with pytest.raises(EnvelopeError) as caught:
        decode_envelope(_headers_with(H_SOURCE, b"secret-source-value"), b"{}")
    assert "secret-source-value" not in str(caught.value)
