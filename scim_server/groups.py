"""/Groups: create, read, replace, patch, delete (searches: scim_server.search). Members
are changes (one row each), so adding one member to a 10,000-member group costs one row;
`excludedAttributes=members` skips reading them at all."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from schemas.scim import ScimWrite
from scim_server.context import Scim, refused
from scim_server.group_patch import GroupChange, group_change
from scim_server.http import etag, if_match, json_body, projection, scim_response
from scim_server.protocol import group_from_body
from scim_server.resources import location
from scim_server.store import Directory, StoredResource


class Groups:
    def __init__(self, scim: Scim) -> None:
        self.scim = scim

    async def create(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        body = await json_body(request, self.scim.max_body_bytes)
        resource, members = group_from_body(body, replace=False)
        rid = str(uuid.uuid4())
        write = self.scim.write(
            directory, "Group", "create", rid, resource=resource, add_members=sorted(set(members))
        )
        outcome = await self.scim.writer.submit(write)
        if outcome.status != 201:
            raise refused(outcome)
        return await self._answer(request, directory, rid, 201)

    async def get(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        stored = await self.scim.existing(directory, "Group", request.path_params["rid"])
        body = await self._presented(request, directory, stored)
        return scim_response(body, headers={"ETag": etag(stored.version)})

    async def replace(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        resource, wanted = group_from_body(
            await json_body(request, self.scim.max_body_bytes), replace=True
        )

        async def compute(current: StoredResource) -> ScimWrite:
            present = {uid for uid, _ in await self.scim.store.members(directory, current.id)}
            change = GroupChange(resource)
            change.removed(present - set(wanted))
            change.added(sorted(set(wanted) - present))
            return self._write(directory, current, change, current.version)

        return await self._modified(request, directory, compute)

    async def patch(self, request: Request) -> Response:
        directory = await self.scim.directory(request)
        body = await json_body(request, self.scim.max_body_bytes)
        operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
        pinned = if_match(request)

        async def compute(current: StoredResource) -> ScimWrite:
            members: set[str] | None = None
            if _clears_members(operations):
                members = {uid for uid, _ in await self.scim.store.members(directory, current.id)}
            change = group_change(current.resource, operations, lambda: members or set())
            # Member changes commute; only an attribute change (or If-Match) pins a version.
            version = current.version if change.attributes is not None or pinned else None
            return self._write(directory, current, change, version)

        return await self._modified(request, directory, compute)

    async def delete(self, request: Request) -> Response:
        directory = await self.scim.directory(request)

        async def compute(current: StoredResource) -> ScimWrite:
            return self.scim.write(
                directory, "Group", "delete", current.id, base_version=current.version
            )

        outcome = await self.scim.modify(request, directory, "Group", compute)
        if outcome.status != 204:
            raise refused(outcome)
        return Response(status_code=204)

    def _write(
        self,
        directory: Directory,
        current: StoredResource,
        change: GroupChange,
        version: int | None,
    ) -> ScimWrite:
        return self.scim.write(
            directory,
            "Group",
            "replace",
            current.id,
            base_version=version,
            resource=change.attributes,
            add_members=sorted(change.add),
            remove_members=sorted(change.remove),
        )

    async def _modified(self, request: Request, directory: Directory, compute: Any) -> Response:
        outcome = await self.scim.modify(request, directory, "Group", compute)
        if outcome.status != 200:
            raise refused(outcome)
        return await self._answer(request, directory, request.path_params["rid"], 200)

    async def _answer(
        self, request: Request, directory: Directory, rid: str, status: int
    ) -> Response:
        stored = await self.scim.existing(directory, "Group", rid)
        body = await self._presented(request, directory, stored)
        headers = {"ETag": etag(stored.version)}
        if status == 201:
            headers["Location"] = location(self.scim.base(directory), "Group", rid)
        return scim_response(body, status, headers)

    async def _presented(
        self, request: Request, directory: Directory, stored: StoredResource
    ) -> dict[str, Any]:
        keep, drop = projection(request)
        return await self.scim.presented(directory, "Group", stored, keep, drop)


def _clears_members(operations: object) -> bool:
    """Whether an op needs the current member list (replace all, or remove all)."""
    if not isinstance(operations, list):
        return False
    for op in operations:
        if not isinstance(op, dict):
            continue
        name, path = str(op.get("op") or "").lower(), op.get("path")
        value = op.get("value")
        touches_all = isinstance(path, str) and path.strip().lower() == "members"
        no_path_members = (
            path is None and isinstance(value, dict) and any(k.lower() == "members" for k in value)
        )
        if (touches_all and (name == "replace" or value is None)) or (
            no_path_members and name == "replace"
        ):
            return True
    return False
