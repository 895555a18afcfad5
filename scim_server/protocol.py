"""Request bodies -> the attributes to store, through scim2-models, lenient where the IdPs
need it (reference §13): unknown attributes ignored (Entra's extra schema URN, op `name`
keys, a PatchOp `id`), Entra's member removal by `value` list applied as a filter, a
valuePath that matches nothing creates the entry, ops in any case, `"False"` as false.

The stored form is the resource as a query would return it, without `id`, `meta`,
`schemas`, `groups`, `members` (kept in the membership register) or `password` (never
stored: it is writeOnly and dsync is not a credential store). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import (
    Context,
    Email,
    EnterpriseUser,
    Group,
    PatchOp,
    SCIMException,
    ScimPolicy,
    User,
)

from scim_server.errors import ScimError

LENIENT = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NOT_STORED = frozenset({"id", "meta", "schemas", "groups", "members", "password"})
# Read-only keys a client echoes inside a no-path PATCH value (Okta's rename sends `id`).
_READ_ONLY_ECHOES = frozenset({"id", "meta", "schemas"})


class LooseEmail(Email):
    """An email whose value is any string: the IdP owns the address (a reserved domain
    such as `.test`, or a typo, must not refuse the user); the worker's email rule
    decides what becomes an account's address."""

    value: str | None = None


class ScimUser(User[EnterpriseUser]):
    emails: list[LooseEmail] | None = None  # type: ignore[assignment]


def user_from_body(body: dict[str, Any], *, replace: bool) -> dict[str, Any]:
    """A POST (or, `replace`, a PUT) body as the attributes to store."""
    context = Context.RESOURCE_REPLACEMENT_REQUEST if replace else Context.RESOURCE_CREATION_REQUEST
    return stored_form(validated(ScimUser, body, context))


def group_from_body(body: dict[str, Any], *, replace: bool) -> tuple[dict[str, Any], list[str]]:
    """A group's attributes to store, and its member ids (users only)."""
    context = Context.RESOURCE_REPLACEMENT_REQUEST if replace else Context.RESOURCE_CREATION_REQUEST
    group = validated(Group, body, context)
    return stored_form(group), member_ids(
        [m.model_dump(by_alias=True) for m in group.members or []]
    )


def patched(kind: str, stored: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """`stored` with the PATCH `operations` applied in order, all or nothing."""
    model: type[ScimUser] | type[Group] = ScimUser if kind == "User" else Group
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}
    patch = validated(PatchOp[model], body, Context.RESOURCE_PATCH_REQUEST)  # type: ignore[valid-type]
    resource = model.model_validate(stored)
    try:
        with LENIENT:
            patch.patch(resource)
    except SCIMException as exc:
        raise ScimError.of_library(exc) from exc
    except ValidationError as exc:
        raise ScimError.of_validation(exc) from exc
    return stored_form(resource)


def without_read_only_echoes(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k.lower() not in _READ_ONLY_ECHOES}


def member_ids(values: object) -> list[str]:
    """The `value` of each member entry; 400 on anything that is not a list of them."""
    if not isinstance(values, list):
        raise ScimError(400, "members must be a list of {value: id}", "invalidValue")
    ids = []
    for entry in values:
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value:
            raise ScimError(400, "each member needs a string value (a user id)", "invalidValue")
        if isinstance(entry, dict) and str(entry.get("type") or "User").lower() != "user":
            raise ScimError(
                400, "only users can be members (nested groups are not supported)", "invalidValue"
            )
        ids.append(value)
    return ids


def stored_form(resource: ScimUser | Group) -> dict[str, Any]:
    dumped = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return {k: v for k, v in dumped.items() if k not in NOT_STORED}


def schemas_of(kind: str, stored: dict[str, Any]) -> list[str]:
    if kind == "Group":
        return [GROUP_SCHEMA]
    # Extensions present, the enterprise one and a profile's (kept under its URN).
    extensions = sorted(
        k for k, v in stored.items() if k.startswith("urn:") and isinstance(v, dict)
    )
    return [USER_SCHEMA, *extensions]


def validated(model: Any, body: dict[str, Any], context: Context) -> Any:
    """`body` as `model` under the lenient policy; a 400 SCIM error when it does not fit."""
    try:
        with LENIENT:
            return model.model_validate(body, scim_ctx=context)
    except SCIMException as exc:
        raise ScimError.of_library(exc) from exc
    except ValidationError as exc:
        raise ScimError.of_validation(exc) from exc
