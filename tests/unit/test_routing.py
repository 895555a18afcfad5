"""Routing verified bodies into events: event id, type, directory and body per event
(each provider's `route` in schemas)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.errors import InvalidPayload
from schemas.polis import route as route_polis
from schemas.stytch import route as route_stytch
from schemas.workos import route as route_workos
from webhook_ingress.verification import Verified

SIGNED_AT = 1700000000.123  # the signature time, milliseconds precision
SIGNED_AT_DATETIME = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
MAX_BATCH = 1000  # the documented batch limit


def _verified(document: Any, timestamp: float = SIGNED_AT) -> Verified:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Verified(body=body, timestamp=timestamp)


# --- WorkOS ---------------------------------------------------------------------------


def test_route_workos_returns_one_event_with_body_untouched() -> None:
    body = (
        b'{ "id": "event_01TEST", "event": "dsync.user.created",\n'
        b'  "data": {"id": "directory_user_1", "directory_id": "directory_01TEST"},'
        b' "created_at": "2024-01-01T00:00:00.000Z" }'
    )
    routed = route_workos(Verified(body=body, timestamp=SIGNED_AT), {})
    assert len(routed) == 1
    assert routed[0].event_id == "event_01TEST"
    assert routed[0].event_type == "dsync.user.created"
    assert routed[0].directory_id == "directory_01TEST"
    assert routed[0].body == body
    assert routed[0].occurred_at == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("created_at", ['"yesterday"', "12", "null", '"2024-01-01T00:00:00"'])
def test_route_workos_event_time_is_optional_and_zone_less_times_are_utc(created_at: str) -> None:
    body = (
        b'{"id": "e", "event": "dsync.user.created", "data": {"directory_id": "d"},'
        b' "created_at": ' + created_at.encode() + b"}"
    )
    routed = route_workos(Verified(body=body, timestamp=SIGNED_AT), {})
    expected = datetime(2024, 1, 1, tzinfo=UTC) if "2024" in created_at else None
    assert routed[0].occurred_at == expected


# --- Stytch ---------------------------------------------------------------------------

MEMBER_ID = "member-test-00000000-0000-0000-0000-000000000000"
ORGANIZATION_ID = "organization-test-00000000-0000-0000-0000-000000000000"


def _stytch_member_event(action: str = "CREATE", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": action,
        "event_id": "webhook-event-test-00000000-0000-0000-0000-000000000001",
        "id": MEMBER_ID,
        "object_type": "member",
        "project_id": "project-test-00000000-0000-0000-0000-000000000000",
        "source": "SCIM",
        "timestamp": "2024-01-02T03:04:05.678901Z",
        "vertical": "B2B",
    }
    if action in ("CREATE", "UPDATE"):
        event["member"] = {
            "member_id": MEMBER_ID,
            "organization_id": ORGANIZATION_ID,
            "email_address": "adalovelace@stytch.example.com",
            "name": "Ada Lovelace",
            "status": "active",
        }
    event.update(overrides)
    return event


def test_route_stytch_uses_body_event_id_type_and_member_organization() -> None:
    verified = _verified(_stytch_member_event("CREATE"))
    routed = route_stytch(verified, {"svix-id": "msg_header_id"})
    assert len(routed) == 1
    assert routed[0].event_id == "webhook-event-test-00000000-0000-0000-0000-000000000001"
    assert routed[0].event_type == "scim.member.create"
    assert routed[0].directory_id == ORGANIZATION_ID
    assert routed[0].body == verified.body


def test_route_stytch_event_type_is_lower_case_source_object_action() -> None:
    event = _stytch_member_event("DELETE", source="DASHBOARD")
    routed = route_stytch(_verified(event), {})
    assert routed[0].event_type == "dashboard.member.delete"


def test_route_stytch_falls_back_to_svix_id_when_event_id_missing() -> None:
    event = _stytch_member_event("CREATE")
    del event["event_id"]
    routed = route_stytch(_verified(event), {"svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek"})
    assert routed[0].event_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_route_stytch_member_delete_without_organization_has_no_directory() -> None:
    routed = route_stytch(_verified(_stytch_member_event("DELETE")), {})
    assert routed[0].event_type == "scim.member.delete"
    assert routed[0].directory_id is None


def test_route_stytch_json_array_is_invalid() -> None:
    with pytest.raises(InvalidPayload):
        route_stytch(_verified([_stytch_member_event("CREATE")]), {})


def test_route_stytch_missing_action_is_invalid() -> None:
    event = _stytch_member_event("CREATE")
    del event["action"]
    with pytest.raises(InvalidPayload):
        route_stytch(_verified(event), {})


def test_route_stytch_without_event_id_or_message_id_is_invalid() -> None:
    event = _stytch_member_event("CREATE")
    del event["event_id"]
    with pytest.raises(InvalidPayload):
        route_stytch(_verified(event), {})


# --- Polis ----------------------------------------------------------------------------


def _polis_event(user_id: str = "user_01", kind: str = "user.created") -> dict[str, Any]:
    return {
        "event": kind,
        "tenant": "acme",
        "product": "dsync",
        "directory_id": "dir_01",
        "data": {"id": user_id, "email": f"{user_id}@example.com", "active": True, "raw": {}},
    }


def test_route_polis_single_event_object_gives_one_event_at_signature_time() -> None:
    event = _polis_event()
    routed = route_polis(_verified(event), {})
    assert len(routed) == 1
    assert routed[0].event_type == "user.created"
    assert routed[0].directory_id == "dir_01"
    assert routed[0].event_id.startswith("polis_")
    assert routed[0].occurred_at == SIGNED_AT_DATETIME


def test_route_polis_batch_of_three_keeps_order_with_distinct_ids_and_microsecond_steps() -> None:
    events = [_polis_event("user_a"), _polis_event("user_b"), _polis_event("user_c")]
    routed = route_polis(_verified(events), {})
    assert [json.loads(r.body)["data"]["id"] for r in routed] == ["user_a", "user_b", "user_c"]
    assert len({r.event_id for r in routed}) == 3
    assert [r.occurred_at for r in routed] == [
        SIGNED_AT_DATETIME,
        SIGNED_AT_DATETIME + timedelta(microseconds=1),
        SIGNED_AT_DATETIME + timedelta(microseconds=2),
    ]


def test_route_polis_identical_events_in_one_batch_get_distinct_ids() -> None:
    routed = route_polis(_verified([_polis_event(), _polis_event()]), {})
    assert routed[0].event_id != routed[1].event_id


def test_route_polis_full_batch_has_strictly_increasing_times() -> None:
    events = [_polis_event(f"user_{i}") for i in range(MAX_BATCH)]
    routed = route_polis(_verified(events), {})
    assert len(routed) == MAX_BATCH
    assert [r.occurred_at for r in routed] == [
        SIGNED_AT_DATETIME + timedelta(microseconds=index) for index in range(MAX_BATCH)
    ]
    assert len({r.event_id for r in routed}) == MAX_BATCH


def test_route_polis_same_request_routed_twice_gives_same_ids() -> None:
    verified = _verified([_polis_event("user_a"), _polis_event("user_b")])
    first = route_polis(verified, {})
    second = route_polis(verified, {})
    assert [r.event_id for r in first] == [r.event_id for r in second]
    assert first == second


def test_route_polis_different_signature_time_gives_different_ids() -> None:
    events = [_polis_event("user_a"), _polis_event("user_b")]
    first = route_polis(_verified(events, SIGNED_AT), {})
    later = route_polis(_verified(events, SIGNED_AT + 0.001), {})
    assert {r.event_id for r in first}.isdisjoint({r.event_id for r in later})


def test_route_polis_body_is_canonical_json_of_the_event() -> None:
    event = {
        "tenant": "acme",
        "event": "user.updated",
        "directory_id": "dir_01",
        "data": {"last_name": "Lovelace", "id": "user_01", "first_name": "Ada", "active": False},
        "product": "dsync",
    }
    spaced = json.dumps([event], indent=2).encode()
    routed = route_polis(Verified(body=spaced, timestamp=SIGNED_AT), {})
    expected = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    assert routed[0].body == expected
    assert routed[0].body.startswith(b'{"data":{"active":false,"first_name":"Ada"')
    assert json.loads(routed[0].body) == event


def test_route_polis_body_does_not_depend_on_key_order_or_whitespace() -> None:
    event = _polis_event()
    reordered = dict(reversed(list(event.items())))
    a = route_polis(Verified(body=json.dumps(event).encode(), timestamp=SIGNED_AT), {})
    b = route_polis(
        Verified(body=json.dumps(reordered, indent=4).encode(), timestamp=SIGNED_AT), {}
    )
    assert a == b


@pytest.mark.parametrize(
    "element",
    [
        pytest.param("user.created", id="string"),
        pytest.param(["user.created"], id="array"),
        pytest.param(None, id="null"),
        pytest.param({"directory_id": "dir_01", "data": {"id": "user_01"}}, id="missing-event"),
        pytest.param({"event": "user.created", "data": {"id": "user_01"}}, id="missing-directory"),
        pytest.param(
            {"event": "", "directory_id": "dir_01", "data": {"id": "user_01"}}, id="empty-event"
        ),
        pytest.param(
            {"event": "user.created", "directory_id": 7, "data": {"id": "user_01"}},
            id="numeric-directory",
        ),
    ],
)
def test_route_polis_batch_element_that_cannot_be_routed_is_invalid(element: Any) -> None:
    with pytest.raises(InvalidPayload):
        route_polis(_verified([_polis_event(), element]), {})


def test_route_polis_more_than_max_batch_events_is_invalid() -> None:
    events = [_polis_event(f"user_{i}") for i in range(MAX_BATCH + 1)]
    with pytest.raises(InvalidPayload):
        route_polis(_verified(events), {})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="text"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"event": "user.created"', id="truncated"),
        pytest.param(b"\xff\xfe{}", id="non-utf8"),
    ],
)
def test_route_polis_non_json_body_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        route_polis(Verified(body=body, timestamp=SIGNED_AT), {})


def test_route_polis_lone_surrogate_escape_is_invalid_payload() -> None:
    # Valid JSON that Python decodes to a lone surrogate, which cannot be re-encoded as
    # UTF-8: the contract is InvalidPayload (400), not an unexpected error (503, retried).
    body = (
        b'{"event":"user.created","directory_id":"dir_01",'
        b'"data":{"id":"user_01","first_name":"\\ud800"}}'
    )
    with pytest.raises(InvalidPayload):
        route_polis(Verified(body=body, timestamp=SIGNED_AT), {})
