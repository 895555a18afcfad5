"""The JSON that crosses between Python and the access functions in SQL, in one place.

Going in (Python builds it, SQL reads it by key): the cause of a change, a batch's causes,
attribute rules, a policy patch. Coming out (SQL builds it, Python reads it): a sync's
counts, an organization's settings, a manual deactivation, an account's effective roles.

Each shape is a TypedDict, so mypy checks the code that builds or reads it. What comes out
of SQL is validated against it where it is read (every key required unless marked, no
other key, strict types): a key renamed on one side fails loudly instead of reading as 0 or
None. Errors name the keys, never the values (they may hold names or emails).
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired, TypeVar, final

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from schemas.envelope import Source

T = TypeVar("T")
_STRICT = ConfigDict(extra="forbid", strict=True)

ScopeType = Literal["organization", "team", "environment"]
CredentialKind = Literal["session", "api_key", "device_token"]
CREDENTIAL_KINDS: tuple[CredentialKind, ...] = ("session", "api_key", "device_token")


class AccessContractError(RuntimeError):
    """SQL answered JSON of another shape than this code reads: one side changed without
    the other. A bug, not bad data: the worker stops (it must not dead-letter events)."""


# ------------------------------------------------------------------------------------------
# Going in. SQL keeps a cause as it is in the audit log and the change feed.


@with_config(_STRICT)
class EventCause(TypedDict):
    """The event that last changed a directory object (a worker batch)."""

    source: Source
    event_id: str
    event_type: str


@with_config(_STRICT)
class CommandCause(TypedDict):
    """The operator command (and who ran it) behind an admin change or a rebuild."""

    command: str
    actor: NotRequired[str]


class BatchCauses(TypedDict, total=False):
    """sync_access's p_causes, read by access_targets: a user's cause is its own, else a
    group's it is a member of, else its directory's, else `default`."""

    users: dict[str, EventCause]
    groups: dict[str, EventCause]
    directories: dict[str, dict[str, EventCause]]  # provider -> directory id -> cause
    default: CommandCause


class RoleRule(TypedDict):
    """An attribute rule as dsync.role_rules and the roles file name its fields."""

    source_attribute: str
    match_value: str
    role: str


class RuleJson(TypedDict):
    """One element of replace_role_rules' p_rules (its position is its index)."""

    attribute: str
    value: str
    role: str


@with_config(_STRICT)
class PolicyPatch(TypedDict, total=False):
    """update_organization_settings' p_patch: the dsync.organization_settings columns to
    change. SQL applies it with jsonb_populate_record, which ignores unknown keys, so the
    patch is validated here before it goes in."""

    role_ranks: list[str]
    default_role: str
    default_team_id: str | None
    elevated_roles: list[str]
    require_group_admin: bool
    require_role_approval: bool
    deprovision_without_groups: bool


# ------------------------------------------------------------------------------------------
# Coming out.


@with_config(_STRICT)
class RevokedCounts(TypedDict, total=False):
    """Credentials revoked, by kind (CredentialKind; revoke_credentials answers all three),
    empty when nobody was revoked."""

    session: int
    api_key: int
    device_token: int


@final  # so that `"linked" in counts` tells the two answers apart (mypy)
@with_config(_STRICT)
class SyncCounts(TypedDict):
    """What sync_access did."""

    accounts: int
    linked: int
    created: int
    deactivated: int
    deactivated_by_provider: dict[str, int]
    reactivated: int
    revoked: RevokedCounts
    roles_changed: int


@final
@with_config(_STRICT)
class NothingConsidered(TypedDict):
    """sync_access or sync_batch_access found no account to consider."""

    accounts: Literal[0]


@with_config(_STRICT)
class OrganizationSettings(TypedDict):
    """A dsync.organization_settings row as to_jsonb prints it."""

    organization_id: str
    role_ranks: list[str]
    default_role: str
    default_team_id: str | None
    elevated_roles: list[str]
    require_group_admin: bool
    require_role_approval: bool
    deprovision_without_groups: bool
    updated_at: str


@with_config(_STRICT)
class Deactivation(TypedDict):
    """deactivate_account's answer."""

    account_id: str
    revoked: RevokedCounts


@with_config(_STRICT)
class DirectSource(TypedDict):
    type: Literal["direct"]
    granted_by: str | None


@with_config(_STRICT)
class GroupSource(TypedDict):
    type: Literal["group"]
    group_id: str
    group_name: str | None
    mapping_id: int


@with_config(_STRICT)
class RuleSource(TypedDict):
    type: Literal["rule"]
    position: int
    attribute: str
    value: str


@with_config(_STRICT)
class DefaultSource(TypedDict):
    type: Literal["default"]


RoleSource = Annotated[
    DirectSource | GroupSource | RuleSource | DefaultSource, Field(discriminator="type")
]


@with_config(_STRICT)
class EffectiveRole(TypedDict):
    """One element of account_roles' `roles` (dsync.effective_roles with its sources)."""

    scope_type: ScopeType
    scope_id: str
    role: str
    sources: list[RoleSource]


SYNC_RESULT: TypeAdapter[SyncCounts | NothingConsidered] = TypeAdapter(
    SyncCounts | NothingConsidered
)
POLICY_PATCH = TypeAdapter(PolicyPatch)
SETTINGS = TypeAdapter(OrganizationSettings)
DEACTIVATION = TypeAdapter(Deactivation)
EFFECTIVE_ROLES = TypeAdapter(list[EffectiveRole])


def read(adapter: TypeAdapter[T], value: object, what: str) -> T:
    """`value` as `adapter`'s type, or AccessContractError naming `what` and the keys."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise AccessContractError(f"{what} is not the JSON this code reads: {shape(exc)}") from None


def shape(exc: ValidationError) -> str:
    """Where and how the JSON differs, without its values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )
