"""SCIM filters to SQL over the allow-list (scim_server.filters): what is translated, and
that every other term is a 400 invalidFilter instead of being dropped."""

from __future__ import annotations

import pytest

from scim_server.errors import ScimError
from scim_server.filters import condition


def test_username_eq_is_case_insensitive() -> None:
    assert condition("User", 'userName eq "Ada@X.test"', first=3) == (
        "lower(r.name) = $3",
        ["ada@x.test"],
    )


def test_external_id_eq_is_case_exact() -> None:
    assert condition("User", 'externalId eq "Ab"', first=3) == ("r.external_id = $3", ["Ab"])


def test_entra_work_email_filter_matches_type_and_value() -> None:
    sql, params = condition("User", 'emails[type eq "work"].value eq "A@x.test"', first=3)
    assert "jsonb_array_elements" in sql
    assert params == ["work", "a@x.test"]


def test_and_joins_and_like_patterns_are_escaped() -> None:
    sql, params = condition("User", 'userName sw "a%_" and externalId co "b"', first=3)
    assert sql == "(lower(r.name) LIKE $3 AND r.external_id LIKE $4)"
    assert params == ["a\\%\\_%", "%b%"]


def test_group_display_name_eq() -> None:
    assert condition("Group", 'displayName eq "Eng"', first=3) == ("lower(r.name) = $3", ["eng"])


def test_no_filter_matches_everything() -> None:
    assert condition("User", None, first=3) == ("TRUE", [])


@pytest.mark.parametrize(
    "text",
    [
        'title eq "b"',
        'userName eq "a" and title eq "b"',
        'userName eq "a" or userName eq "b"',
        'not (userName eq "a")',
        'userName gt "a"',
        "userName eq 3",
        "userName eq",
        'displayName eq "x"',  # a group attribute on users
        'emails[type eq "work" or value eq "x"]',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x"',
        'userName eq "a\x00"',
        "userName eq " + '"' + "a" * 2000 + '"',
    ],
)
def test_anything_else_is_an_invalid_filter(text: str) -> None:
    with pytest.raises(ScimError) as refused:
        condition("User", text, first=3)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidFilter")
