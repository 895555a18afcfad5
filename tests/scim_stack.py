"""The SCIM server over HTTP on a free loopback port, beside a real worker, PostgreSQL and
broker; directories connected through the `dsync scim connect` command."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn

from dsync.embedded import free_port
from dsync.settings import Settings
from scim_server.app import create_app
from tests.access_support import run_dsync
from tests.served import HOST, serving

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@asynccontextmanager
async def running_scim(
    settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> AsyncIterator[str]:
    """A real uvicorn server with the SCIM app (its clock: `clock`); yields its root URL."""
    port = free_port()
    app = create_app(settings.model_copy(update={"scim_port": port}), clock=clock)
    config = uvicorn.Config(app, host=HOST, port=port, lifespan="on", log_level="warning")
    async with serving(config) as root:
        yield root


async def connect(database_url: str, organization: str) -> dict[str, Any]:
    """`dsync scim connect`: the directory id, base URL path and token it printed."""
    code, out, err = await run_dsync(
        database_url, "scim", "connect", "--organization", organization
    )
    assert code == 0, err
    printed: dict[str, Any] = json.loads(out)
    return printed


def client(root: str, directory_id: str, token: str | None) -> httpx.AsyncClient:
    """An HTTP client for one directory's SCIM base URL, sending `token` as Bearer."""
    headers = {"Content-Type": SCIM, "Accept": SCIM}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        base_url=f"{root}/scim/v2/directories/{directory_id}", headers=headers, timeout=60
    )


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def okta_user(user_name: str, external_id: str = "00u1fakeOkta0001") -> dict[str, Any]:
    """Okta's create body (reference §10.3)."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "pl4ceh0lder",
        "active": True,
    }


def entra_user(user_name: str, nickname: str) -> dict[str, Any]:
    """Entra's create body (reference §10.3): enterprise URN, meta, no password."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": nickname,
        "userName": user_name,
        "active": True,
        "displayName": "Grace Hopper",
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Grace Hopper", "familyName": "Hopper", "givenName": "Grace"},
        "roles": [],
        ENTERPRISE: {"department": "Navy"},
    }
