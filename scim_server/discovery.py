"""/ServiceProviderConfig, /ResourceTypes, /Schemas (RFC 7643 §5-7), built by scim2-models
from the models this server accepts. A `filter` on them is 403 (RFC 7644 §4)."""

from __future__ import annotations

from typing import Any

from scim2_models import Context, EnterpriseUser, Group, ResourceType, User
from starlette.requests import Request
from starlette.responses import Response

from scim_server.context import Scim
from scim_server.errors import ScimError
from scim_server.http import scim_response
from scim_server.profile import extension_schema, profile_of
from scim_server.resources import list_response
from scim_server.search import MAX_COUNT
from scim_server.store import Directory

_QUERY = Context.RESOURCE_QUERY_RESPONSE


def _schemas() -> list[dict[str, Any]]:
    found = [m.to_schema().model_dump(scim_ctx=_QUERY) for m in (User, Group, EnterpriseUser)]
    _members_without_display(found[1])
    return found


def _members_without_display(group: dict[str, Any]) -> None:
    """A group's members are value, $ref and type, as RFC 7643 §8.7.1 lists them: a
    `display` the server cannot echo (it would be the member's name, not what the client
    sent) is neither published nor returned, so clients read back what they wrote."""
    members = next(a for a in group["attributes"] if a["name"] == "members")
    members["subAttributes"] = [a for a in members["subAttributes"] if a["name"] != "display"]


def _resource_types(base: str) -> list[dict[str, Any]]:
    user = ResourceType.from_resource(User[EnterpriseUser]).model_dump(scim_ctx=_QUERY)
    group = ResourceType.from_resource(Group).model_dump(scim_ctx=_QUERY)
    for found in (user, group):
        found["meta"] = {
            "resourceType": "ResourceType",
            "location": f"{base}/ResourceTypes/{found['id']}",
        }
    return [user, group]


def _config(base: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/dsync/dsync#provisioning-straight-from-the-idp-scim",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The token `dsync scim connect` printed for this directory",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}/ServiceProviderConfig",
        },
    }


class Discovery:
    def __init__(self, scim: Scim) -> None:
        self.scim = scim

    async def config(self, request: Request) -> Response:
        return scim_response(_config(self.scim.base(await self._directory(request))))

    async def resource_types(self, request: Request) -> Response:
        directory = await self._directory(request)
        found = _resource_types(self.scim.base(directory))
        profile = await profile_of(self.scim.store, directory)
        if profile is not None:  # the profile's extension, beside the enterprise one
            found[0].setdefault("schemaExtensions", []).append(
                {"schema": profile.extension, "required": False}
            )
        return self._one_or_all(request, found, "id")

    async def schemas(self, request: Request) -> Response:
        profile = await profile_of(self.scim.store, await self._directory(request))
        extensions = [] if profile is None else [extension_schema(profile)]
        return self._one_or_all(request, _schemas() + extensions, "id")

    async def _directory(self, request: Request) -> Directory:
        directory = await self.scim.directory(request)
        if "filter" in request.query_params:
            raise ScimError(403, "discovery endpoints take no filter")
        return directory

    def _one_or_all(self, request: Request, found: list[dict[str, Any]], key: str) -> Response:
        wanted = request.path_params.get("name")
        if wanted is None:
            return scim_response(list_response(len(found), 1, found))
        for item in found:
            if item[key] == wanted:
                return scim_response(item)
        raise ScimError(404, "no such resource type or schema")
