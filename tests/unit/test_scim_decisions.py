"""The worker's decision on a SCIM write (worker.scim_decisions.judge): known answers,
one condition changed per test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.scim import ScimWrite
from worker.scim_decisions import TICK, Ledger, Stored, judge

RID = "0b6f2a0e-4a8f-4d4e-9f43-5c1e8a7d2b10"


def write(action: str = "replace", **fields: Any) -> ScimWrite:
    values: dict[str, Any] = {
        "kind": "User",
        "action": action,
        "directory_id": "d1",
        "organization_id": "o1",
        "resource_id": RID,
        "base_version": 3,
        "resource": {"userName": "ada@x.test"},
        "at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return ScimWrite.model_validate(values | fields)


STORED = Stored(directory_id="d1", kind="User", version=3, deleted=False)


def test_a_create_of_a_free_name_is_201() -> None:
    assert (
        judge(write("create", base_version=None), None, name_taken=False, unknown=0).status == 201
    )


def test_a_create_of_a_taken_name_is_409_uniqueness() -> None:
    verdict = judge(write("create", base_version=None), None, name_taken=True, unknown=0)
    assert (verdict.status, verdict.scim_type) == (409, "uniqueness")


def test_a_replace_at_the_stored_version_is_200() -> None:
    assert judge(write(), STORED, name_taken=False, unknown=0).status == 200


def test_a_replace_computed_from_an_older_version_is_412() -> None:
    assert judge(write(base_version=2), STORED, name_taken=False, unknown=0).status == 412


def test_a_write_to_another_directory_s_resource_is_404() -> None:
    theirs = Stored(directory_id="d2", kind="User", version=3, deleted=False)
    assert judge(write(), theirs, name_taken=False, unknown=0).status == 404


def test_a_write_to_a_deleted_resource_is_404() -> None:
    deleted = Stored(directory_id="d1", kind="User", version=3, deleted=True)
    assert judge(write(), deleted, name_taken=False, unknown=0).status == 404


def test_a_write_to_a_group_id_as_a_user_is_404() -> None:
    group = Stored(directory_id="d1", kind="Group", version=3, deleted=False)
    assert judge(write(), group, name_taken=False, unknown=0).status == 404


def test_members_that_are_no_users_are_400() -> None:
    change = write(kind="Group", resource=None, base_version=None, add_members=["x"])
    group = Stored(directory_id="d1", kind="Group", version=3, deleted=False)
    verdict = judge(change, group, name_taken=False, unknown=1)
    assert (verdict.status, verdict.scim_type) == (400, "invalidValue")


def test_a_delete_without_a_version_is_204() -> None:
    verdict = judge(
        write("delete", base_version=None, resource=None), STORED, name_taken=False, unknown=0
    )
    assert verdict.status == 204


def _create(name: str, rid: str, kind: str = "User", **fields: Any) -> ScimWrite:
    attribute = "userName" if kind == "User" else "displayName"
    return write(
        "create",
        kind=kind,
        resource_id=rid,
        base_version=None,
        resource={attribute: name},
        **fields,
    )


A = "0b6f2a0e-0000-4d4e-9f43-5c1e8a7d2b10"
B = "0b6f2a0e-1111-4d4e-9f43-5c1e8a7d2b10"
G = "0b6f2a0e-2222-4d4e-9f43-5c1e8a7d2b10"


def test_two_creates_of_one_name_in_a_batch_give_one_201() -> None:
    ledger = Ledger({}, {}, set())
    first, _ = ledger.decide(_create("Ada@x.test", A))
    second, _ = ledger.decide(_create("ada@X.TEST", B))
    assert (first.status, second.status) == (201, 409)
    assert set(ledger.changed) == {A}


def test_a_name_freed_earlier_in_the_batch_can_be_taken() -> None:
    ledger = Ledger({}, {}, set())
    ledger.decide(_create("ada@x.test", A))
    renamed, _ = ledger.decide(
        write(resource_id=A, base_version=1, resource={"userName": "b@x.test"})
    )
    taken, _ = ledger.decide(_create("ada@x.test", B))
    assert (renamed.status, taken.status) == (200, 201)


def test_a_member_created_earlier_in_the_batch_is_a_user() -> None:
    ledger = Ledger({}, {}, set())
    ledger.decide(_create("ada@x.test", A))
    group, _ = ledger.decide(_create("eng", G, kind="Group", add_members=[A]))
    ledger.decide(write("delete", resource_id=A, base_version=None, resource=None))
    late, _ = ledger.decide(
        write(kind="Group", resource_id=G, base_version=None, resource=None, add_members=[A])
    )
    assert (group.status, late.status) == (201, 400)


def test_a_write_after_a_clock_ahead_is_applied_just_after_it() -> None:
    ledger = Ledger({}, {}, set())
    ahead = datetime(2026, 1, 1, 1, tzinfo=UTC)
    ledger.decide(_create("ada@x.test", A, at=ahead))
    _, at = ledger.decide(write(resource_id=A, base_version=1))  # its own clock says 00:00
    assert at == ahead + TICK
