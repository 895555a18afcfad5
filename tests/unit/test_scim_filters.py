"""SCIM filters to SQL over the allow-list (scim_server.filters): what is translated, and
that every other term is a 400 invalidFilter instead of being dropped."""

from __future__ import annotations

import pytest
from scim2_models import Group

from scim_server.errors import ScimError
from scim_server.filters import FILTERABLE, Kind, condition
from scim_server.protocol import ScimUser


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
        'nickName eq "x"',
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


def test_user_display_name_eq_is_case_insensitive() -> None:
    assert condition("User", 'displayName eq "Ada L"', first=3) == (
        "lower(r.resource->>'displayName') = $3",
        ["ada l"],
    )


@pytest.mark.parametrize(
    "text", ['userName eq "a"', 'emails.value eq "a@x.test"', 'emails[type eq "work"]']
)
def test_a_user_attribute_on_the_groups_endpoint_is_an_invalid_filter(text: str) -> None:
    """/Groups serves one type: an attribute it lacks is the client's error (scim2-models'
    SearchRequest[Group] reads it so), not an empty result."""
    with pytest.raises(ScimError) as refused:
        condition("Group", text, first=3)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidFilter")


BOTH: tuple[Kind, ...] = ("User", "Group")


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "a"',
        "userName pr",
        'emails.value co "x"',
        'emails[type eq "work"].value eq "x"',
    ],
)
def test_across_types_a_user_attribute_matches_no_group(text: str) -> None:
    assert condition("Group", text, first=3, among=BOTH) == ("FALSE", [])


def test_across_types_only_the_absent_term_is_false() -> None:
    assert condition("Group", 'displayName eq "G" and userName sw "a"', 3, among=BOTH) == (
        "(lower(r.name) = $3 AND FALSE)",
        ["g"],
    )
    assert condition("User", 'displayName eq "G" and userName sw "a"', 3, among=BOTH) == (
        "(lower(r.resource->>'displayName') = $3 AND lower(r.name) LIKE $4)",
        ["g", "a%"],
    )


@pytest.mark.parametrize("text", ['title eq "b"', "members pr", 'userName eq "a" or id pr'])
@pytest.mark.parametrize("kind", BOTH)
def test_across_types_an_attribute_no_type_filters_on_is_still_invalid(
    kind: Kind, text: str
) -> None:
    with pytest.raises(ScimError) as refused:
        condition(kind, text, first=3, among=BOTH)
    assert (refused.value.status, refused.value.scim_type) == (400, "invalidFilter")


def test_what_only_one_type_filters_on_the_other_type_does_not_have() -> None:
    """The cross-type rule reads "filterable on the other type, not on this one" as "this
    type has no such attribute": that must hold of the schemas, or a root search would
    answer "no match" where the RFC wants a comparison."""
    attributes = {
        kind: {(field.serialization_alias or name).lower() for name, field in fields.items()}
        for kind, fields in (("User", ScimUser.model_fields), ("Group", Group.model_fields))
    }
    for kind in BOTH:
        for other in BOTH:
            assert not (FILTERABLE[other] - FILTERABLE[kind]) & attributes[kind], (kind, other)
