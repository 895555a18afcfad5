"""Stytch (signed with the svix library's own signer) and Ory Polis requests through the
real ingress, broker and worker land in the same tables as WorkOS ones."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from svix.webhooks import Webhook

from dsync.settings import Settings
from tests.support import (
    eventually,
    iso,
    running_ingress,
    running_worker,
    signed_headers,
    stored_offsets_total,
    user_event,
)
from webhook_ingress import polis

pytestmark = [pytest.mark.db, pytest.mark.kafka]

STYTCH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
POLIS_SECRET = "polis-secret-0123456789"
ORG = "organization-test-1"


@pytest.fixture
async def client(worker_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings = worker_settings.model_copy(
        update={
            "stytch_webhook_secrets": (_secret(STYTCH_SECRET),),
            "polis_webhook_secrets": (_secret(POLIS_SECRET),),
        }
    )
    async with (
        running_worker(settings),
        running_ingress(settings) as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        yield http


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def stytch_headers(
    body: bytes, *, msg_id: str | None = None, secret: str = STYTCH_SECRET
) -> dict[str, str]:
    message = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    return {
        "svix-id": message,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(secret).sign(message, now, body.decode()),
        "content-type": "application/json",
    }


def polis_headers(body: bytes) -> dict[str, str]:
    return {"Ory-Polis-Signature": polis.sign(POLIS_SECRET, body, int(time.time() * 1000))}


def member(
    action: str, member_id: str, *, status: str = "active", updated: float = 1_700_000_000
) -> bytes:
    body: dict[str, Any] = {
        "event_id": f"webhook-event-test-{uuid.uuid4()}",
        "action": action,
        "object_type": "member",
        "source": "SCIM",
        "id": member_id,
        "project_id": "project-test-1",
        "timestamp": iso(updated + 1),
        "vertical": "B2B",
    }
    if action != "DELETE":
        body["member"] = {
            "member_id": member_id,
            "organization_id": ORG,
            "email_address": "ada@stytch.example.com",
            "name": "Ada Lovelace",
            "status": status,
            "roles": [{"role_id": "stytch_member", "sources": [{"type": "direct_assignment"}]}],
            "created_at": iso(1_690_000_000),
            "updated_at": iso(updated),
        }
    return json.dumps(body).encode()


async def users(db: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    return {row["id"]: row for row in await db.fetch("SELECT * FROM dsync.users")}


async def test_stytch_member_lifecycle_lands_in_users(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    created = member("CREATE", "member-1", updated=1_700_000_000)
    deleted = member("DELETE", "member-1", updated=1_700_000_100)
    # The delete (no member, no organization) is delivered first, and the create twice.
    for body in (deleted, created, created):
        response = await client.post("/webhooks/stytch", content=body, headers=stytch_headers(body))
        assert response.status_code == 200, response.text
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= 3, within=40)

    row = (await users(db))["member-1"]
    assert (row["provider"], row["directory_id"], row["state"]) == ("stytch", ORG, "active")
    assert row["deleted_at"] is not None  # the deletion waited for the member
    assert json.loads(row["custom_attributes"])["roles"] == ["stytch_member"]
    outcomes = await db.fetch("SELECT outcome FROM dsync_internal.applied_events")
    assert sorted(r["outcome"] for r in outcomes) == ["applied", "applied"]


async def test_stytch_reactivation_brings_the_member_back(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for body in (
        member("CREATE", "member-2", updated=1_700_000_000),
        member("DELETE", "member-2", updated=1_700_000_100),
        member("UPDATE", "member-2", updated=1_700_000_200),
    ):
        assert (
            await client.post("/webhooks/stytch", content=body, headers=stytch_headers(body))
        ).status_code == 200
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= 3, within=40)

    assert (await users(db))["member-2"]["deleted_at"] is None


async def test_polis_batch_lands_and_answers_exactly_200(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    user = {
        "id": "polis-user-1",
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.com",
        "active": True,
        "raw": {},
    }
    batch = [
        {
            "event": "user.created",
            "tenant": "acme",
            "product": "app",
            "directory_id": "polis-dir",
            "data": user,
        },
        {
            "event": "group.user_added",
            "tenant": "acme",
            "product": "app",
            "directory_id": "polis-dir",
            "data": dict(user, group={"id": "polis-group-1", "name": "Admins", "raw": {}}),
        },
        {
            "event": "user.updated",
            "tenant": "acme",
            "product": "app",
            "directory_id": "polis-dir",
            "data": dict(user, active="False"),
        },
    ]
    body = json.dumps(batch).encode()

    response = await client.post("/webhooks/polis", content=body, headers=polis_headers(body))
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= 3, within=40)

    assert response.status_code == 200
    assert len(response.json()["event_ids"]) == 3
    row = (await users(db))["polis-user-1"]
    assert (row["provider"], row["state"], row["deleted_at"]) == ("polis", "inactive", None)
    members = await db.fetch("SELECT group_id, user_id FROM dsync.group_memberships")
    assert [(m["group_id"], m["user_id"]) for m in members] == [("polis-group-1", "polis-user-1")]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        ("/webhooks/stytch", {}, b"{}", 401),
        (
            "/webhooks/stytch",
            {"svix-id": "m", "svix-timestamp": "x", "svix-signature": "v1,AA=="},
            b"{}",
            401,
        ),
        (
            "/webhooks/stytch",
            {"svix-id": "m", "svix-timestamp": "NOW", "svix-signature": "BAD"},
            b"{}",
            401,
        ),
        ("/webhooks/stytch", "signed", b"\xff\xfe", 401),
        ("/webhooks/stytch", "signed", b"[1, 2]", 400),
        ("/webhooks/stytch", "signed", b'{"action": "CREATE"}', 400),
        ("/webhooks/polis", {}, b"[]", 401),
        ("/webhooks/polis", {"BoxyHQ-Signature": "t=1,s=zz"}, b"[]", 401),
        ("/webhooks/polis", "signed", b"not json", 400),
        ("/webhooks/polis", "signed", b'[{"event": "user.created"}]', 400),
        (
            "/webhooks/polis",
            "signed",
            b'[{"event": "user.created", "directory_id": "\\ud800"}]',
            400,
        ),
    ],
)
async def test_bad_input_gets_4xx(
    client: httpx.AsyncClient, path: str, headers: Any, body: bytes, status: int
) -> None:
    if headers == "signed":
        if "stytch" in path:
            now = datetime.now(UTC)
            headers = {
                "svix-id": "msg_1",
                "svix-timestamp": str(int(now.timestamp())),
                "svix-signature": Webhook(STYTCH_SECRET).sign(
                    "msg_1", now, body.decode(errors="replace")
                ),
            }
        else:
            headers = polis_headers(body)
    elif "NOW" in headers.get("svix-timestamp", ""):
        headers = dict(headers, **{"svix-timestamp": str(int(time.time()))})

    response = await client.post(path, content=body, headers=headers)

    assert response.status_code == status, response.text


async def test_workos_and_stytch_share_the_tables(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    workos_body = json.dumps(user_event(user_id="directory_user_w")).encode()
    stytch_body = member("CREATE", "member-s")
    await client.post("/webhooks/workos", content=workos_body, headers=signed_headers(workos_body))
    await client.post("/webhooks/stytch", content=stytch_body, headers=stytch_headers(stytch_body))
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= 2, within=40)

    rows = await db.fetch("SELECT id, provider FROM dsync.users ORDER BY id")
    assert [(r["id"], r["provider"]) for r in rows] == [
        ("directory_user_w", "workos"),
        ("member-s", "stytch"),
    ]
