"""Base44's two workspace versions (seed 001) as dsync provisioning profiles, and a helper
that sets one on a SCIM directory through `dsync scim profile set`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.access_support import run_dsync
from tests.scim_stack import USER_SCHEMA

BASE44 = "urn:base44:params:scim:schemas:extension:user:2.0"
SEAT_TYPES = ["starter", "builder", "pro", "elite", "elite_2", "elite_3"]


def base44(version: str, **changes: Any) -> dict[str, Any]:
    """Base44's V1 (per-seat plans) or V2 (roles and a shared credit pool) workspace."""
    profile: dict[str, Any] = {
        "extension": BASE44,
        "attributes": {
            "role": {"type": "string", "enum": ["admin", "editor", "viewer"]},
            "creditLimit": {"type": "integer", "minimum": 1},
            "seatType": {"type": "string", "enum": SEAT_TYPES},
        },
        "sets": {"v1": ["seatType"], "v2": ["role", "creditLimit"]},
        "use": version,
        "role_attribute": "role",
        "unassignable_roles": ["owner", "member", "guest"],
        "protected_roles": ["owner"],
        "requires": [{"attribute": "creditLimit", "when": "role", "values": ["admin", "editor"]}],
    }
    if version == "v1":
        profile["seats"] = {"attribute": "seatType", "capacity": {"builder": 2, "pro": 1}}
    return profile | changes


async def set_profile(database_url: str, directory_id: str, profile: dict[str, Any]) -> Any:
    """`dsync scim profile set --directory D FILE.yaml`; the stored profile it printed."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profile.yaml"
        path.write_text(yaml.safe_dump(profile))
        code, out, err = await run_dsync(
            database_url, "scim", "profile", "set", "--directory", directory_id, str(path)
        )
    assert code == 0, err
    return json.loads(out)["profile"]


def member(user_name: str, **values: Any) -> dict[str, Any]:
    """Okta's create body with the Base44 extension's values (reference §9)."""
    return {
        "schemas": [USER_SCHEMA, BASE44],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "externalId": f"okta-{user_name}",
        "active": True,
        BASE44: values,
    }
