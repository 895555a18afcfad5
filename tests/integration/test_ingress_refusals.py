"""Permanent errors are 4xx with a short reason, never 503: a signed body whose routing
fields PostgreSQL text cannot hold (NUL, lone surrogates) or that are too long for the
envelope, for each provider, through the real ingress (uvicorn) and broker."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from svix.webhooks import Webhook

from tests.support import (
    DIRECTORY,
    consume_all,
    directory_event,
    iso,
    running_ingress,
    settings_for,
    signed_headers,
    user_event,
)
from webhook_ingress import polis

pytestmark = pytest.mark.kafka

STYTCH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
POLIS_SECRET = "polis-secret-0123456789"
NUL = "\x00"
SURROGATE = "\ud800"


@pytest.fixture
async def ingress(kafka_bootstrap: str, topic: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=topic,
        stytch_webhook_secrets=(SecretStr(STYTCH_SECRET),),
        polis_webhook_secrets=(SecretStr(POLIS_SECRET),),
    )
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


def stytch_member(**member: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"webhook-event-{uuid.uuid4()}",
        "action": "UPDATE",
        "object_type": "member",
        "source": "SCIM",
        "id": "member-1",
        "timestamp": iso(1_700_000_001),
        "member": {
            "member_id": "member-1",
            "organization_id": "organization-1",
            "email_address": "ada@example.com",
            "name": "Ada Lovelace",
            "status": "active",
        },
    }
    body["member"].update(member)
    return body


def stytch_group(**group: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"webhook-event-{uuid.uuid4()}",
        "action": "UPDATE",
        "object_type": "idp_group",
        "source": "SCIM",
        "id": "group-1",
        "timestamp": iso(1_700_000_001),
        "idp_group": {"group_id": "group-1", "group_name": "Admins"},
        "organization_id": "organization-1",
    }
    body["idp_group"].update(group)
    return body


def polis_user(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "user.created",
        "tenant": "acme",
        "product": "app",
        "directory_id": "polis-dir",
        "data": {"id": "polis-user-1", "email": "ada@example.com", "active": True},
    }
    event.update(fields)
    return event


def with_path(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A copy of `document` with the dotted `path` set to `value`."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    target[last] = value
    return changed


async def post(
    client: httpx.AsyncClient, provider: str, document: object, *, raw: bytes | None = None
) -> httpx.Response:
    # json.dumps escapes NUL as \u0000 and a lone surrogate as \ud800, as a sender would.
    body = raw if raw is not None else json.dumps(document).encode()
    return await client.post(f"/webhooks/{provider}", content=body, headers=_signed(provider, body))


def _signed(provider: str, body: bytes) -> dict[str, str]:
    if provider == "workos":
        return signed_headers(body)
    if provider == "polis":
        return {"Ory-Polis-Signature": polis.sign(POLIS_SECRET, body, int(time.time() * 1000))}
    message, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return {
        "svix-id": message,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(STYTCH_SECRET).sign(message, now, body.decode()),
    }


Case = tuple[str, Callable[[str], object], str]  # provider, document of a value, field named

# Every routing field of every provider: the value lands in a record key or header, the
# event inbox and the dead-letter columns.
ROUTING_FIELDS: dict[str, Case] = {
    "workos id": ("workos", lambda v: with_path(user_event(), "id", v), "event_id"),
    "workos event": ("workos", lambda v: with_path(user_event(), "event", v), "event_type"),
    "workos data.directory_id": (
        "workos",
        lambda v: with_path(user_event(), "data.directory_id", v),
        "directory_id",
    ),
    "workos dsync.activated data.id": (
        "workos",
        lambda v: with_path(directory_event(), "data.id", v),
        "directory_id",
    ),
    "stytch event_id": ("stytch", lambda v: dict(stytch_member(), event_id=v), "event_id"),
    "stytch member.organization_id": (
        "stytch",
        lambda v: stytch_member(organization_id=v),
        "directory_id",
    ),
    "stytch id": ("stytch", lambda v: dict(stytch_member(), id=v), "key"),
    "stytch action": ("stytch", lambda v: dict(stytch_member(), action=v), "event_type"),
    "stytch object_type": (
        "stytch",
        lambda v: dict(stytch_member(), object_type=v),
        "event_type",
    ),
    "stytch source": ("stytch", lambda v: dict(stytch_member(), source=v), "event_type"),
    "stytch idp_group.group_id": ("stytch", lambda v: stytch_group(group_id=v), "key"),
    "stytch idp_group.organization_id": (
        "stytch",
        lambda v: stytch_group(organization_id=v),
        "directory_id",
    ),
    "polis directory_id": ("polis", lambda v: [polis_user(directory_id=v)], "directory_id"),
    "polis event": ("polis", lambda v: [polis_user(event=v)], "event_type"),
    "polis second event of a batch": (
        "polis",
        lambda v: [polis_user(), polis_user(directory_id=v)],
        "directory_id",
    ),
}


def _reason_names(detail: str, *words: str) -> bool:
    return all(word in detail for word in words)


@pytest.mark.parametrize("case", sorted(ROUTING_FIELDS))
@pytest.mark.parametrize("value", [NUL, f"dir{NUL}1"], ids=["nul", "nul-inside"])
async def test_a_nul_in_a_routing_field_is_400_with_the_field_named(
    ingress: httpx.AsyncClient, case: str, value: str
) -> None:
    provider, document, field = ROUTING_FIELDS[case]

    response = await post(ingress, provider, document(value))

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "malformed"
    assert _reason_names(answer["detail"], field, "NUL"), answer


@pytest.mark.parametrize("case", sorted(ROUTING_FIELDS))
async def test_a_lone_surrogate_in_a_routing_field_is_400(
    ingress: httpx.AsyncClient, case: str
) -> None:
    """Which layer refuses differs (Stytch's and Polis's parsers refuse a lone surrogate
    anywhere in the body, pydantic refuses it in a constrained string, the envelope in the
    rest), so the reason names the problem but not always the envelope's field."""
    provider, document, _field = ROUTING_FIELDS[case]

    response = await post(ingress, provider, document(f"x{SURROGATE}"))

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "malformed"
    detail = answer["detail"].lower()
    assert "surrogate" in detail or "unicode" in detail or "hex escape" in detail, answer


@pytest.mark.parametrize("field", ["id", "data.directory_id"])
async def test_workos_surrogate_as_raw_utf8_bytes_is_400(
    ingress: httpx.AsyncClient, field: str
) -> None:
    """The surrogate's own UTF-8 form (ED A0 80), which Python's json decodes too."""
    marker = "marker-to-replace"
    body = json.dumps(with_path(user_event(), field, marker)).encode()
    body = body.replace(marker.encode(), SURROGATE.encode("utf-8", "surrogatepass"))

    response = await post(ingress, "workos", None, raw=body)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed"


@pytest.mark.parametrize(
    ("provider", "document", "field"),
    [
        ("workos", with_path(user_event(), "id", "e" * 256), "event_id"),
        ("workos", with_path(user_event(), "id", "e" * 512), "event_id"),
        ("workos", with_path(user_event(), "data.directory_id", "d" * 256), "directory_id"),
        ("workos", with_path(directory_event(), "data.id", "d" * 300), "directory_id"),
        ("stytch", stytch_member(organization_id="o" * 256), "directory_id"),
        ("stytch", stytch_member(organization_id="o" * 512), "directory_id"),
        ("polis", [polis_user(directory_id="d" * 256)], "directory_id"),
    ],
    ids=[
        "workos-id-256",
        "workos-id-512",
        "workos-directory-256",
        "workos-activated-300",
        "stytch-organization-256",
        "stytch-organization-512",
        "polis-directory-256",
    ],
)
async def test_an_id_over_255_characters_is_400_not_503(
    ingress: httpx.AsyncClient, provider: str, document: object, field: str
) -> None:
    response = await post(ingress, provider, document)

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "malformed"
    assert _reason_names(answer["detail"], field), answer


@pytest.mark.parametrize(
    ("provider", "raw"),
    [
        ("workos", b"\xff\xfenot json"),
        ("workos", b'{"event": "dsync.user.created", "data": {}}'),
        ("workos", json.dumps(with_path(user_event(), "event", "e" * 129)).encode()),
        ("stytch", b"[1, 2]"),
        ("stytch", json.dumps(dict(stytch_member(), event_id="e" * 256)).encode()),
        ("polis", json.dumps([polis_user(event="")]).encode()),
        ("polis", json.dumps([polis_user()] * 1001).encode()),
    ],
    ids=[
        "not-json",
        "no-id",
        "event-type-129",
        "not-an-object",
        "stytch-event-id-256",
        "polis-empty-type",
        "polis-batch-1001",
    ],
)
async def test_each_other_permanent_error_is_400_with_a_reason(
    ingress: httpx.AsyncClient, provider: str, raw: bytes
) -> None:
    response = await post(ingress, provider, None, raw=raw)

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "malformed"
    assert 0 < len(answer["detail"]) <= 300


async def test_a_nul_in_a_name_passes_the_ingress_for_the_worker_to_dead_letter(
    ingress: httpx.AsyncClient, kafka_bootstrap: str, topic: str
) -> None:
    """Payload text is not the ingress's to judge: it routes, and the worker keeps the
    event as a dead letter with its reason (tests/integration/test_poison.py)."""
    event = with_path(user_event(), "data.first_name", f"Ada{NUL}")

    response = await post(ingress, "workos", event)

    assert response.status_code == 200, response.text
    [record] = await consume_all(kafka_bootstrap, topic, expected=1)
    assert record.key == DIRECTORY.encode()
