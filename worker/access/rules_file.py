"""The roles file (YAML): an organization's group mappings and ordered attribute rules,
applied declaratively by `dsync roles apply` (what the file does not list is removed)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sql import query
from worker.access.admin import AdminError, Conn, Scope, put_mapping, replace_rules
from worker.access.payloads import CommandCause, RoleRule


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MappingSpec(_Strict):
    group_id: str | None = None
    group_name: str | None = None
    role: str
    team: str | None = None
    environment: str | None = None

    @model_validator(mode="after")
    def _one_group(self) -> MappingSpec:
        if (self.group_id is None) == (self.group_name is None):
            raise ValueError("a mapping names exactly one of group_id or group_name")
        if self.team and self.environment:
            raise ValueError("a mapping is scoped to a team or an environment, not both")
        return self


class RuleSpec(_Strict):
    source_attribute: str = Field(min_length=1)
    match_value: str
    role: str

    def as_rule(self) -> RoleRule:
        return {
            "source_attribute": self.source_attribute,
            "match_value": self.match_value,
            "role": self.role,
        }


class RolesFile(_Strict):
    organization: str = Field(min_length=1)
    group_mappings: list[MappingSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


def load_roles_file(path: Path) -> RolesFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RolesFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise AdminError(f"cannot read {path}: {exc}") from exc
    except ValidationError as exc:
        raise AdminError(f"{path} is not a valid roles file:\n{exc}") from exc


async def apply_roles_file(conn: Conn, spec: RolesFile, cause: CommandCause) -> dict[str, int]:
    """Make the organization's mappings and rules exactly the file's."""
    org = spec.organization
    wanted = {_mapping_key(org, m): m for m in spec.group_mappings}
    existing = await conn.fetch(query("list_group_mappings"), org)
    removed = 0
    for row in existing:
        key = (row["group_id"], row["group_name"], row["scope_type"], row["scope_id"])
        if key not in wanted:
            await conn.fetchval(query("delete_group_mapping"), row["id"], cause)
            removed += 1
    for m in spec.group_mappings:
        scope = Scope.of(m.team, m.environment)
        await put_mapping(conn, org, m.group_id, m.group_name, scope, m.role, cause)
    rules = [r.as_rule() for r in spec.rules]
    await replace_rules(conn, org, rules, cause)
    return {"mappings": len(spec.group_mappings), "removed": removed, "rules": len(rules)}


def _mapping_key(org: str, m: MappingSpec) -> tuple[str | None, str | None, str, str]:
    scope = Scope.of(m.team, m.environment)
    return (m.group_id, m.group_name, scope.type, scope.id or org)
