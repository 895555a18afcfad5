"""HTTP at the SCIM edge: bounded bodies, media types, JSON, ETags, projections and SCIM
responses. Hostile bytes end here as a 4xx SCIM Error, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from schemas.storable import first_unstorable
from scim_server.errors import MEDIA_TYPE, ScimError

_MEDIA_TYPES = ("application/scim+json", "application/json")


async def json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object: 413 past `max_bytes`, 415 for another media type, 400
    for anything that is not an object PostgreSQL can store."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in _MEDIA_TYPES:
        raise ScimError(415, "send application/scim+json or application/json")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise ScimError(413, f"the body is larger than {max_bytes} bytes", "tooLarge")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ScimError(400, "the body is not valid JSON", "invalidSyntax") from exc
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    problem = first_unstorable(body, "body")
    if problem is not None:
        raise ScimError(400, f"{problem}, which cannot be stored", "invalidValue")
    return body


def scim_response(
    body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content = None if body is None else json.dumps(body)
    return Response(content, status, headers=headers, media_type=MEDIA_TYPE)


def etag(version: int) -> str:
    return f'W/"{version}"'


def if_match(request: Request) -> int | None:
    """The version an `If-Match` demands; None when absent or `*`. 412 on a tag that is not
    one of ours (it can never match)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 18:
        raise ScimError(412, "If-Match does not name a version of this resource")
    return int(tag)


def projection(request: Request) -> tuple[set[str] | None, set[str]]:
    """(attributes to keep or None for all, attributes to drop) from the query string."""

    def listed(param: str) -> list[str]:
        return (request.query_params.get(param) or "").split(",")

    return projected(listed("attributes"), listed("excludedAttributes"))


def projected(
    attributes: Iterable[str], excluded: Iterable[str]
) -> tuple[set[str] | None, set[str]]:
    """(attributes to keep or None for all, attributes to drop), lower-cased top-level
    names (a full URN or `name.givenName` keeps its first attribute)."""
    keep = {_top_level(name) for name in attributes if name.strip()}
    return (keep or None), {_top_level(name) for name in excluded if name.strip()}


def _top_level(name: str) -> str:
    name = name.strip().lower()
    core = "urn:ietf:params:scim:schemas:core:2.0:"
    for prefix in (core + "user:", core + "group:"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name if name.startswith("urn:") else name.split(".")[0]
