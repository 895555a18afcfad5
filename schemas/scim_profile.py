"""A SCIM directory's provisioning profile (`dsync scim profile set --directory D FILE.yaml`):
Base44's SCIM rules, generalized. Pure: the model and the checks on an extension's values.

A profile declares one custom User extension (its URN and typed attributes), and the rules
a write must keep:

- `sets`: named attribute sets, and `use`, the one this directory uses; an attribute of
  another set is refused wherever it appears, even empty (Base44's V1 `seatType` against
  V2's `role` and `creditLimit`);
- `role_attribute` and `unassignable_roles`: role values SCIM may never set;
- `requires`: an attribute only together with given values of another (`creditLimit` only
  with role admin or editor);
- `seats`: capacity per value of a seat attribute (decided by the worker, which sees every
  committed write);
- `protected_roles`: users whose account holds one of these organization roles (given in
  dsync, not by the IdP) are never updated or deactivated via SCIM (decided by the worker).

Refusals are `ProfileViolation`s whose message names the attribute and the rule, never a
value the client sent beyond the declared enums.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from schemas.base import StrictModel

CORE_URNS = frozenset(
    {
        "urn:ietf:params:scim:schemas:core:2.0:user",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user",
    }
)


class ProfileViolation(ValueError):
    """A write the profile refuses; the message names the attribute and the rule."""


class Attribute(StrictModel):
    type: Literal["string", "integer", "boolean"]
    enum: list[str] | None = None
    minimum: int | None = None


class Requirement(StrictModel):
    """`attribute` may be set only when `when` holds one of `values`."""

    attribute: str
    when: str
    values: list[str] = Field(min_length=1)


class Seats(StrictModel):
    attribute: str
    capacity: dict[str, int]


class Profile(StrictModel):
    extension: str = Field(pattern=r"^urn:[A-Za-z0-9][\w.:-]*$")
    attributes: dict[str, Attribute] = Field(min_length=1)
    sets: dict[str, list[str]] = Field(default_factory=dict)
    use: str | None = None
    role_attribute: str | None = None
    unassignable_roles: list[str] = Field(default_factory=list)
    protected_roles: list[str] = Field(default_factory=list)
    requires: list[Requirement] = Field(default_factory=list)
    seats: Seats | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.extension.lower() in CORE_URNS:
            raise ValueError("the extension URN must not be a core or enterprise schema")
        named = [a for names in self.sets.values() for a in names]
        named += [r.attribute for r in self.requires] + [r.when for r in self.requires]
        named += [self.role_attribute] if self.role_attribute else []
        named += [self.seats.attribute] if self.seats else []
        undeclared = sorted(set(named) - set(self.attributes))
        if undeclared:
            raise ValueError(f"attributes used but not declared: {', '.join(undeclared)}")
        if (self.use is None) != (not self.sets) or (self.use and self.use not in self.sets):
            raise ValueError("`use` must name one of `sets` (and is needed when sets exist)")
        return self

    def refused_names(self) -> frozenset[str]:
        """Attributes of the sets this directory does not use (lowercase)."""
        used = set(self.sets.get(self.use or "", []))
        return frozenset(
            a.lower() for name, names in self.sets.items() if name != self.use for a in names
        ) - {a.lower() for a in used}

    def refused_set_of(self, attribute: str) -> str:
        return (
            f"{attribute} is not allowed in this directory, even empty: it uses the attribute "
            f"set {self.use} ({', '.join(self.sets[self.use or ''])})"
        )

    def seat_of(self, values: Mapping[str, Any]) -> str | None:
        """The seat a user with these extension values holds, if seats are counted."""
        if self.seats is None:
            return None
        seat = values.get(self.seats.attribute)
        return seat if isinstance(seat, str) and seat in self.seats.capacity else None


def checked_values(profile: Profile, values: dict[str, Any]) -> dict[str, Any]:
    """The extension's values as stored (nulls dropped); ProfileViolation on a break of
    the declared types, enums, sets, unassignable roles or requirements."""
    kept = {k: v for k, v in values.items() if v is not None}
    role = kept.get(profile.role_attribute or "")
    if role in profile.unassignable_roles:
        raise ProfileViolation(
            f"{profile.role_attribute} {role} cannot be assigned via SCIM "
            f"(unassignable roles: {', '.join(profile.unassignable_roles)})"
        )
    for name, value in kept.items():
        _check_attribute(profile, name, value)
    for rule in profile.requires:
        if rule.attribute in kept and kept.get(rule.when) not in rule.values:
            raise ProfileViolation(
                f"{rule.attribute} is only allowed with {rule.when} {' or '.join(rule.values)}"
            )
    return kept


def _check_attribute(profile: Profile, name: str, value: object) -> None:
    if name.lower() in profile.refused_names():
        raise ProfileViolation(profile.refused_set_of(name))
    declared = profile.attributes.get(name)
    if declared is None:
        raise ProfileViolation(f"{name} is not an attribute of {profile.extension}")
    kinds = {"string": str, "integer": int, "boolean": bool}
    wanted = kinds[declared.type]
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        article = "an" if declared.type == "integer" else "a"
        raise ProfileViolation(f"{name} must be {article} {declared.type}")
    if declared.enum is not None and value not in declared.enum:
        raise ProfileViolation(f"{name} must be one of {', '.join(declared.enum)}")
    if declared.minimum is not None and isinstance(value, int) and value < declared.minimum:
        raise ProfileViolation(f"{name} must be at least {declared.minimum}")


def extension_attributes(resource: dict[str, Any]) -> dict[str, Any]:
    """The scalar attributes of a stored user's custom extensions (not core or
    enterprise), for the access model's attribute sources."""
    found: dict[str, Any] = {}
    for key, block in resource.items():
        custom = key.lower().startswith("urn:") and key.lower() not in CORE_URNS
        if custom and isinstance(block, dict):
            found |= {k: v for k, v in block.items() if isinstance(v, str | int | bool)}
    return found
