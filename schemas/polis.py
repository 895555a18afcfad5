"""Lenient models of Ory Polis (formerly BoxyHQ SAML Jackson) directory-sync webhooks.

`{event, tenant, product, directory_id, data}`; `data` is `{id, first_name, last_name,
email, active, roles?, raw}` for users, `{id, name, raw}` for groups, and the user's fields
plus `group: {id, name, raw}` for membership events. Polis sends no event id and no event
time; `active` may be the string "False" (Entra ID)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BeforeValidator, Field, ValidationError

from schemas.base import ProviderModel
from schemas.envelope import describe_validation_error
from schemas.errors import InvalidPayload
from schemas.parsing import validate_json

Text = Annotated[str, Field(min_length=1, max_length=512)]
EventType = Literal[
    "user.created",
    "user.updated",
    "user.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.user_added",
    "group.user_removed",
]


def _boolish(value: object) -> object:
    """SCIM `active` arrives as a boolean or, from Entra ID, as "True"/"False"."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


class Group(ProviderModel):
    id: Text
    name: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class User(ProviderModel):
    id: Text
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    active: Annotated[bool, BeforeValidator(_boolish)] = True
    roles: list[Any] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)
    group: Group | None = None


class PolisEvent(ProviderModel):
    event: Text
    tenant: str | None = None
    product: str | None = None
    directory_id: Text
    data: dict[str, Any]

    def user(self) -> User:
        return _validate(User, self.data)

    def group(self) -> Group:
        return _validate(Group, self.data)


_M = TypeVar("_M", User, Group)


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(describe_validation_error(exc)) from exc


def parse_event(body: bytes) -> PolisEvent:
    return validate_json(PolisEvent, body)


KNOWN_EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
