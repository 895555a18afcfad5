"""Stored resources as SCIM answers: schemas, id, meta (ETag = version), members, and the
`attributes` / `excludedAttributes` projection. Pure."""

from __future__ import annotations

from typing import Any

from scim_server.filters import Kind
from scim_server.http import etag
from scim_server.protocol import schemas_of
from scim_server.store import StoredResource

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_ALWAYS = frozenset({"id", "schemas"})


def location(base: str, kind: Kind, rid: str) -> str:
    return f"{base}/{kind}s/{rid}"


def presented(
    base: str,
    kind: Kind,
    stored: StoredResource,
    members: list[tuple[str, str]] | None = None,
    keep: set[str] | None = None,
    drop: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": schemas_of(kind, stored.resource), "id": stored.id}
    body.update(stored.resource)
    if members is not None:
        body["members"] = [
            {"value": uid, "$ref": location(base, "User", uid), "type": "User"}
            for uid, _name in members
        ]
    body["meta"] = {
        "resourceType": kind,
        "created": stored.created_at.isoformat(),
        "lastModified": stored.updated_at.isoformat(),
        "location": location(base, kind, stored.id),
        "version": etag(stored.version),
    }
    return {
        key: value
        for key, value in body.items()
        if key in _ALWAYS or ((keep is None or key.lower() in keep) and key.lower() not in drop)
    }


def list_response(total: int, start: int, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
