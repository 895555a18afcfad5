"""/Users: create, read, replace, patch, delete (searches: scim_server.search).
Deactivation is `active: false` (Okta's no-path replace, Entra's `"False"`), which the
worker maps to an inactive user: the access model deprovisions the account and revokes
its credentials."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scim_server.context import Scim, refused
from scim_server.errors import ScimError
from scim_server.http import etag, json_body, projection, scim_response
from scim_server.profile import patched_user, profile_of, with_extension
from scim_server.protocol import user_from_body, without_read_only_echoes
from scim_server.resources import location, presented
from scim_server.store import Directory, StoredResource


class Users:
    def __init__(self, scim: Scim) -> None:
        self.scim = scim

    async def create(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        body = await json_body(request, self.scim.max_body_bytes)
        profile = await profile_of(self.scim.store, directory)
        resource = with_extension(profile, body, user_from_body(body, replace=False))
        rid = str(uuid.uuid4())
        outcome = await self.scim.writer.submit(
            self.scim.write(directory, "User", "create", rid, resource=resource)
        )
        if outcome.status != 201:
            raise refused(outcome)
        return await self._answer(directory, rid, 201)

    async def get(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        stored = await self.scim.existing(directory, "User", request.path_params["rid"])
        keep, drop = projection(request)
        body = presented(self.scim.base(directory), "User", stored, keep=keep, drop=drop)
        return scim_response(body, headers={"ETag": etag(stored.version)})

    async def replace(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        body = await json_body(request, self.scim.max_body_bytes)
        profile = await profile_of(self.scim.store, directory)
        resource = with_extension(profile, body, user_from_body(body, replace=True))
        return await self._modified(request, directory, lambda _current: resource)

    async def patch(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        body = await json_body(request, self.scim.max_body_bytes)
        operations = _operations(body)
        profile = await profile_of(self.scim.store, directory)
        return await self._modified(
            request, directory, lambda current: patched_user(profile, current.resource, operations)
        )

    async def delete(self, request: Request) -> Response:
        directory = await self.scim.directory(request)

        async def compute(current: StoredResource) -> Any:
            return self.scim.write(
                directory, "User", "delete", current.id, base_version=current.version
            )

        outcome = await self.scim.modify(request, directory, "User", compute)
        if outcome.status != 204:
            raise refused(outcome)
        return Response(status_code=204)

    async def _modified(self, request: Request, directory: Directory, new: Any) -> Response:
        async def compute(current: StoredResource) -> Any:
            return self.scim.write(
                directory,
                "User",
                "replace",
                current.id,
                base_version=current.version,
                resource=new(current),
            )

        outcome = await self.scim.modify(request, directory, "User", compute)
        if outcome.status != 200:
            raise refused(outcome)
        return await self._answer(directory, request.path_params["rid"], 200)

    async def _answer(self, directory: Directory, rid: str, status: int) -> Response:
        """The committed resource (read your writes)."""
        stored = await self.scim.existing(directory, "User", rid)
        base = self.scim.base(directory)
        headers = {"ETag": etag(stored.version)}
        if status == 201:
            headers["Location"] = location(base, "User", rid)
        return scim_response(presented(base, "User", stored), status, headers)


def _operations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The PatchOp's operations, with read-only keys echoed in no-path values dropped."""
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "a PatchOp needs a list of Operations", "invalidSyntax")
    cleaned = []
    for op in operations:
        if not isinstance(op, dict):
            raise ScimError(400, "each operation must be an object", "invalidSyntax")
        value = op.get("value")
        if op.get("path") is None and isinstance(value, dict):
            op = {**op, "value": without_read_only_echoes(value)}
        cleaned.append(op)
    return cleaned
