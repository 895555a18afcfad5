"""The JSON Python hands to the access functions has the keys SQL reads, and a refused
answer from SQL is reported by its keys, never its values (they may be names or emails)."""

from __future__ import annotations

import re
from typing import get_type_hints

import pytest

from sql import function_files
from tests.sql_text import defined
from worker.access.payloads import (
    EFFECTIVE_ROLES,
    SYNC_RESULT,
    AccessContractError,
    BatchCauses,
    CommandCause,
    RuleJson,
    read,
)

BODIES = {name: body for file in function_files() for name, body in defined(file.sql)}


def keys_read(function: str, parameter: str, *, operator: str = r"->>?") -> set[str]:
    """The literal keys `function`'s body reads from its jsonb `parameter`."""
    pattern = rf"\b{parameter}\s*{operator}\s*'(\w+)'"
    return set(re.findall(pattern, BODIES[f"dsync_internal.{function}"]))


def test_batch_causes_name_what_access_targets_reads() -> None:
    assert keys_read("access_targets", "p_causes") == set(get_type_hints(BatchCauses))


def test_rules_name_what_replace_role_rules_reads() -> None:
    read_keys = keys_read("replace_role_rules", "x.rule") | {"role"}  # via jsonb_to_recordset
    assert read_keys == set(get_type_hints(RuleJson))


def test_the_actor_is_a_key_of_a_command_cause() -> None:
    readers = [name for name, body in BODIES.items() if "p_cause ->> 'actor'" in body]
    assert readers  # assign_role, decide_approval, disable_directory
    for name in readers:
        keys = set(re.findall(r"\bp_cause\s*->>?\s*'(\w+)'", BODIES[name]))
        assert keys <= set(get_type_hints(CommandCause)), name


def test_an_answer_of_another_shape_names_the_keys_not_the_values() -> None:
    roles = [
        {
            "scope_type": "organization",
            "scope_id": "org_1",
            "role": "admin",
            "sources": [{"type": "group", "group_id": "g", "group_name": "ada@example.com"}],
        }
    ]
    with pytest.raises(AccessContractError) as refused:
        read(EFFECTIVE_ROLES, roles, "account_roles' roles")
    assert "mapping_id" in str(refused.value)
    assert "ada@example.com" not in str(refused.value)
    assert refused.value.__cause__ is None  # pydantic's error, which holds the values
    assert refused.value.__suppress_context__


@pytest.mark.parametrize(
    "answer",
    [
        {"accounts": 1},  # counts missing
        {"accounts": 0, "linked": 0},  # a half of each shape
        {"accounts": "0"},  # strict: no strings for numbers
        {
            "accounts": 2,
            "linked": 0,
            "created": 2,
            "deactivated": 0,
            "reactivated": 0,
            "deactivated_by_provider": {},
            "revoked": {"sessions": 1},
            "roles_changed": 2,
        },
    ],
)
def test_sync_results_of_another_shape_are_refused(answer: dict[str, object]) -> None:
    with pytest.raises(AccessContractError):
        read(SYNC_RESULT, answer, "sync_access's result")
