"""What every SCIM route needs: the caller's directory (from the token), the reads, the
writer, and the read-modify-write loop shared by PUT, PATCH and DELETE."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from schemas.scim import ScimWrite
from scim_server import resources
from scim_server.commits import Outcome
from scim_server.errors import ScimError
from scim_server.filters import Kind
from scim_server.http import if_match
from scim_server.store import Directory, Store, StoredResource
from scim_server.tokens import presented
from scim_server.writes import Writer

# Without If-Match, a write computed from a version that another write overtook is
# recomputed from the new state this many times before the client is told (409).
RECOMPUTE_ATTEMPTS = 3

Compute = Callable[[StoredResource], Awaitable[ScimWrite]]


@dataclass(frozen=True, slots=True)
class Scim:
    store: Store
    writer: Writer
    public_url: str
    max_body_bytes: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # injectable: skewed replicas

    def write(
        self, directory: Directory, kind: Kind, action: str, rid: str, **fields: object
    ) -> ScimWrite:
        """A write of this directory, stamped with this process's clock."""
        return ScimWrite.model_validate(
            {
                "kind": kind,
                "action": action,
                "directory_id": directory.id,
                "organization_id": directory.organization_id,
                "resource_id": rid,
                "base_version": fields.pop("base_version", None),
                "resource": fields.pop("resource", None),
                "at": self.clock(),
                **fields,
            }
        )

    async def directory(self, request: Request) -> Directory:
        """The URL's directory, if the bearer token is one of its tokens; else 401."""
        token = presented(request.headers.get("authorization"))
        found = await self.store.authorized(request.path_params["directory_id"], token)
        if found is None:
            raise ScimError(401, "missing or invalid bearer token for this directory")
        return found

    def base(self, directory: Directory) -> str:
        return f"{self.public_url}/scim/v2/directories/{directory.id}"

    async def presented(
        self,
        directory: Directory,
        kind: Kind,
        stored: StoredResource,
        keep: set[str] | None = None,
        drop: frozenset[str] | set[str] = frozenset(),
    ) -> dict[str, Any]:
        """`stored` as answered. A group's members are read only when the projection keeps
        them: `excludedAttributes=members` on a 10,000-member group reads none."""
        members = None
        if kind == "Group" and "members" not in drop and (keep is None or "members" in keep):
            members = await self.store.members(directory, stored.id)
        base = self.base(directory)
        return resources.presented(base, kind, stored, members, keep=keep, drop=drop)

    async def existing(self, directory: Directory, kind: Kind, rid: str) -> StoredResource:
        found = await self.store.resource(directory, kind, rid)
        if found is None:
            raise ScimError(404, f"{kind} {rid} not found")
        return found

    async def modify(
        self, request: Request, directory: Directory, kind: Kind, compute: Compute
    ) -> Outcome:
        """Compute a write from the current state and submit it; the worker refuses it
        (412) if the resource moved on meanwhile: then recompute, unless the client pinned
        a version with If-Match."""
        pinned = if_match(request)
        rid = request.path_params["rid"]
        for _ in range(RECOMPUTE_ATTEMPTS):
            current = await self.existing(directory, kind, rid)
            if pinned is not None and pinned != current.version:
                raise ScimError(412, f"{kind} is no longer at the version If-Match names")
            outcome = await self.writer.submit(await compute(current))
            if outcome.status != 412 or pinned is not None:
                return outcome
        raise ScimError(409, f"{kind} kept changing while this write was applied; retry")


def refused(outcome: Outcome) -> ScimError:
    return ScimError(outcome.status, outcome.detail or "refused", outcome.scim_type)
