"""The provisioning profile's pure parts: the model refuses inconsistent profiles, the
request side reads the extension from every place the IdPs put it, and the seat book
counts what the worker accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.scim import Action, ScimWrite
from schemas.scim_profile import Profile, ProfileViolation, checked_values, extension_attributes
from scim_server.errors import ScimError
from scim_server.profile import patched_user, with_extension
from tests.scim_profiles import BASE44, base44
from worker.scim_policy import SeatBook

V1 = Profile.model_validate(base44("v1"))
V2 = Profile.model_validate(base44("v2"))
STORED = {"userName": "a@x.test", "active": True, BASE44: {"role": "editor"}}


def test_a_profile_naming_an_undeclared_attribute_is_refused() -> None:
    with pytest.raises(ValidationError, match="not declared: tier"):
        Profile.model_validate(
            base44("v2", requires=[{"attribute": "tier", "when": "role", "values": ["admin"]}])
        )


def test_a_profile_with_sets_must_use_one_of_them() -> None:
    with pytest.raises(ValidationError, match="`use` must name"):
        Profile.model_validate(base44("v3"))


def test_a_profile_may_not_claim_the_core_schema() -> None:
    with pytest.raises(ValidationError, match="core or enterprise"):
        Profile.model_validate(base44("v2", extension="urn:ietf:params:scim:schemas:core:2.0:User"))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"role": "owner"}, "role owner cannot be assigned via SCIM"),
        ({"role": "root"}, "role must be one of admin, editor, viewer"),
        ({"role": "viewer", "creditLimit": 3}, "creditLimit is only allowed with role admin"),
        ({"role": "admin", "creditLimit": True}, "creditLimit must be an integer"),
        ({"role": "admin", "creditLimit": -1}, "creditLimit must be at least 1"),
        ({"seatType": None, "role": "admin", "tier": 1}, "tier is not an attribute"),
    ],
)
def test_values_breaking_a_rule_name_the_rule(values: dict[str, Any], named: str) -> None:
    with pytest.raises(ProfileViolation, match=named):
        checked_values(V2, values)


def test_entra_style_urn_keys_and_okta_blocks_are_both_read() -> None:
    okta = with_extension(V2, {BASE44: {"Role": "admin"}}, {"userName": "a"})
    entra = with_extension(V2, {f"{BASE44}:role": "admin"}, {"userName": "a"})
    assert okta == entra == {"userName": "a", BASE44: {"role": "admin"}}


def test_without_a_profile_unknown_extensions_stay_ignored() -> None:
    assert with_extension(None, {BASE44: {"seatType": ""}}, {"userName": "a"}) == {"userName": "a"}


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": f"{BASE44}:seatType", "value": ""},
        {"op": "replace", "value": {f"{BASE44}:seatType": None}},
        {"op": "replace", "value": {BASE44: {"seatType": None}}},
        {"op": "replace", "value": {"seatType": ""}},
    ],
)
def test_an_attribute_of_the_other_set_is_refused_in_any_patch_form(
    operation: dict[str, Any],
) -> None:
    with pytest.raises(ScimError, match="seatType is not allowed") as refused:
        patched_user(V2, STORED, [operation])
    assert refused.value.status == 400


def test_a_patch_mixing_core_and_extension_operations_applies_both() -> None:
    operations: list[dict[str, Any]] = [
        {"op": "replace", "value": {"active": False, f"{BASE44}:role": "admin"}},
        {"op": "add", "path": f"{BASE44}:creditLimit", "value": 10},
    ]
    after = patched_user(V2, STORED, operations)
    assert after["active"] is False
    assert after[BASE44] == {"role": "admin", "creditLimit": 10}
    assert extension_attributes(after) == {"role": "admin", "creditLimit": 10}


def _write(action: Action, rid: str, resource: dict[str, Any] | None) -> ScimWrite:
    return ScimWrite(
        kind="User",
        action=action,
        directory_id="d",
        organization_id="o",
        resource_id=rid,
        base_version=None,
        resource=resource,
        at=datetime.now(UTC),
    )


def test_the_seat_book_frees_a_seat_on_deactivation_and_refuses_past_capacity() -> None:
    book = SeatBook({"d": V1})
    pro = {"active": True, BASE44: {"seatType": "pro"}}
    assert book.refusal(_write("create", "u1", pro), None, pro) is None
    book.count("d", None, pro)
    refused = book.refusal(_write("create", "u2", pro), None, pro)
    assert refused is not None
    assert refused.detail == "no pro seat left: this directory's capacity is 1"
    inactive = {**pro, "active": False}
    book.count("d", pro, inactive)
    assert book.refusal(_write("create", "u2", pro), None, pro) is None


def test_the_seat_book_refuses_any_change_to_a_protected_user() -> None:
    book = SeatBook({"d": V2}, protected={"u1"})
    refused = book.refusal(_write("delete", "u1", None), STORED, None)
    assert refused is not None
    assert "never updated or deactivated via SCIM" in refused.detail
    assert book.refusal(_write("delete", "u2", None), STORED, None) is None


@pytest.mark.parametrize("name", ["base44-v1.yaml", "base44-v2.yaml"])
def test_the_documented_profiles_are_valid(name: str) -> None:
    import yaml

    path = Path(__file__).parents[2] / "docs" / "scim-profiles" / name
    profile = Profile.model_validate(yaml.safe_load(path.read_text()))
    assert profile.extension == BASE44
