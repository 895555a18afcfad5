"""What the worker decides about one SCIM write, given what is stored. Pure.

The SCIM process proposes; this decides, inside the applying transaction, so the decision
sees every write committed before it (on any SCIM process) and those earlier in the same
batch. The status is what the SCIM client is answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.scim import ScimWrite


@dataclass(frozen=True, slots=True)
class Stored:
    """The stored resource a write targets."""

    directory_id: str
    kind: str
    version: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    status: int
    scim_type: str | None = None
    detail: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status < 300


def judge(write: ScimWrite, stored: Stored | None, *, name_taken: bool, unknown: int) -> Verdict:
    """The answer to `write`: `name_taken` says whether another live resource of its kind
    holds its userName/displayName (ignoring case); `unknown` counts members to add that
    are not live users of the directory. Checks run in the order a client can fix them."""
    refusal = _target_refusal(write, stored)
    if refusal is not None:
        return refusal
    if name_taken:
        attribute = "userName" if write.kind == "User" else "displayName"
        return Verdict(409, "uniqueness", f"{attribute} already exists in this directory")
    if unknown:
        return Verdict(400, "invalidValue", f"{unknown} member(s) are not users of this directory")
    return Verdict({"create": 201, "replace": 200, "delete": 204}[write.action])


def _target_refusal(write: ScimWrite, stored: Stored | None) -> Verdict | None:
    if write.action == "create":
        # Ids are random UUIDs: only a replay of another directory's event could collide.
        return None if stored is None else Verdict(409, "uniqueness", "id already exists")
    if (
        stored is None
        or stored.deleted
        or (stored.directory_id, stored.kind)
        != (
            write.directory_id,
            write.kind,
        )
    ):
        return Verdict(404, None, f"{write.kind} {write.resource_id} not found")
    if write.base_version is not None and write.base_version != stored.version:
        return Verdict(412, None, f"{write.kind} changed since version {write.base_version}")
    return None
