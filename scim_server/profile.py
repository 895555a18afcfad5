"""A directory's provisioning profile on the request side: the custom extension's values a
POST, PUT or PATCH sets, checked against the profile (schemas.scim_profile) before the
write becomes an event, and kept in the stored resource under the extension's URN.

scim2-models ignores extensions it does not know (the lenient policy Entra needs), so the
extension is read from the raw body here: a POST/PUT's URN block (or Entra's `URN:attr`
keys), a PATCH's operations on a `URN:attr` path, on the URN itself, or in a no-path
value. Without a profile nothing changes: unknown extensions are ignored as before.
What only committed state can decide (seats, protected owners) is the worker's
(worker.scim_policy). Pure, but for `profile_of`.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.scim_profile import Profile, ProfileViolation, checked_values
from scim_server.errors import ScimError
from scim_server.protocol import patched
from scim_server.store import Directory, Store

_TOKENS = re.compile(r"[^:.\[\]\s\"]+")


async def profile_of(store: Store, directory: Directory) -> Profile | None:
    found = await store.profile(directory)
    return None if found is None else Profile.model_validate(found)


def with_extension(
    profile: Profile | None, body: dict[str, Any], resource: dict[str, Any]
) -> dict[str, Any]:
    """A POST/PUT's stored attributes with the profile's extension values (checked)."""
    if profile is None:
        return resource
    _refuse_other_sets(profile, body)
    values: dict[str, Any] = {}
    for key, value in body.items():
        attribute = _extension_key(profile, key)
        if attribute == "":
            values |= _block(profile, value)
        elif attribute is not None:
            values[attribute] = value
    return _stored(profile, resource, values)


def patched_user(
    profile: Profile | None, stored: dict[str, Any], operations: list[dict[str, Any]]
) -> dict[str, Any]:
    """`stored` with the PATCH applied: extension operations here, the rest by scim2-models."""
    if profile is None:
        return patched("User", stored, operations)
    _refuse_other_sets(profile, operations)
    values = dict(stored.get(profile.extension) or {})
    core: list[dict[str, Any]] = []
    for op in operations:
        kind = str(op.get("op", "")).lower()
        remaining = _apply_extension_op(profile, kind, op, values)
        if remaining is not None:
            core.append(remaining)
    plain = {k: v for k, v in stored.items() if k != profile.extension}
    return _stored(profile, patched("User", plain, core) if core else plain, values)


def _apply_extension_op(
    profile: Profile, kind: str, op: dict[str, Any], values: dict[str, Any]
) -> dict[str, Any] | None:
    """Apply `op`'s extension part to `values`; the op left for scim2-models, if any."""
    path, value = op.get("path"), op.get("value")
    if isinstance(path, str):
        attribute = _extension_key(profile, path)
        if attribute is None:
            return op
        if kind == "remove" and attribute:
            values.pop(attribute, None)
        elif kind == "remove":
            values.clear()
        elif attribute:
            values[attribute] = value
        else:
            values |= _block(profile, value)
        return None
    if not isinstance(value, dict):
        return op
    rest = {}
    for key, item in value.items():
        attribute = _extension_key(profile, key)
        if attribute is None:
            rest[key] = item
        elif attribute:
            values[attribute] = item
        else:
            values |= _block(profile, item)
    return {**op, "value": rest} if rest else None


def _extension_key(profile: Profile, key: str) -> str | None:
    """'' for the extension's URN, the attribute for `URN:attr`, None for anything else."""
    urn = profile.extension.lower()
    lowered = key.lower()
    if lowered == urn:
        return ""
    if lowered.startswith(urn + ":") and key[len(urn) + 1 :]:
        return _declared(profile, key[len(urn) + 1 :])
    return None


def _declared(profile: Profile, name: str) -> str:
    """The declared spelling of an attribute (names are case-insensitive in SCIM)."""
    return next((a for a in profile.attributes if a.lower() == name.lower()), name)


def _block(profile: Profile, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScimError(400, f"{profile.extension} must be an object", "invalidValue")
    return {_declared(profile, k): v for k, v in value.items()}


def _stored(profile: Profile, resource: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    try:
        kept = checked_values(profile, values)
    except ProfileViolation as exc:
        raise ScimError(400, str(exc), "invalidValue") from exc
    plain = {k: v for k, v in resource.items() if k != profile.extension}
    return {**plain, profile.extension: kept} if kept else plain


def _refuse_other_sets(profile: Profile, sent: object) -> None:
    """400 naming an attribute of a set this directory does not use, wherever it appears
    in the request (a key, a PATCH path), whatever its value: even empty."""
    refused = profile.refused_names()
    if not refused:
        return
    for name in _names_in(sent):
        if name.lower() in refused:
            raise ScimError(400, profile.refused_set_of(_declared(profile, name)), "invalidValue")


def _names_in(sent: object) -> list[str]:
    if isinstance(sent, list):
        return [name for item in sent for name in _names_in(item)]
    if not isinstance(sent, dict):
        return []
    names: list[str] = []
    for key, value in sent.items():
        names += _TOKENS.findall(key) if isinstance(key, str) else []
        if key == "path" and isinstance(value, str):
            names += _TOKENS.findall(value)
        names += _names_in(value)
    return names


def extension_schema(profile: Profile) -> dict[str, Any]:
    """The extension as /Schemas serves it (RFC 7643 §7)."""
    attributes = [
        {
            "name": name,
            "type": declared.type,
            "multiValued": False,
            "required": False,
            "mutability": "readWrite",
            "returned": "default",
            "uniqueness": "none",
            **({"canonicalValues": declared.enum} if declared.enum else {}),
        }
        for name, declared in profile.attributes.items()
    ]
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": profile.extension,
        "name": "ProvisioningProfile",
        "description": "This directory's custom User extension (dsync scim profile)",
        "attributes": attributes,
        "meta": {"resourceType": "Schema"},
    }
