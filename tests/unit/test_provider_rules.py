"""The pure halves of the rules shared by every provider: what an email address is, and the
directory row its users and groups describe (docs/schema.md, "Providers: one rule each")."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from worker.mappers.email import address, first_address, scim_emails
from worker.merge import UNDESCRIBED, described, merge, seen_in
from worker.rows import DirectoryRow, GroupRow, UserRow

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "kiran",
        "",
        "   ",
        "kiran@",
        "@example.com",
        "kiran@example",
        "kiran@@example.com",
        "ki ran@example.com",
        "kiran@exa mple.com",
        "kiran@example..com",
        "kiran@.example.com",
        "kiran@example.com.",
        "kiran\x00@example.com",
        "kiran@example.com\nBcc: x@example.com",
        "kiran\u2028@example.com",
        "a" * 310 + "@example.com",
        None,
        42,
        ["kiran@example.com"],
    ],
)
def test_a_value_that_is_not_an_address_is_refused(value: object) -> None:
    assert address(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("kiran@example.com", "kiran@example.com"),
        ("  Kiran.Rao+ops@Example.CO.uk\t", "Kiran.Rao+ops@Example.CO.uk"),
        ("kiran@bücher.example", "kiran@bücher.example"),
    ],
)
def test_an_address_is_kept_as_sent_without_surrounding_space(value: str, expected: str) -> None:
    assert address(value) == expected


def test_the_first_candidate_that_is_an_address_wins() -> None:
    assert first_address(None, "kiran", "kiran@example.com", "k@example.org") == (
        "kiran@example.com"
    )
    assert first_address("kiran", None) is None


def test_scim_emails_put_the_primary_first_and_skip_what_is_not_an_entry() -> None:
    user = {
        "emails": [
            {"value": "work@example.com", "primary": False},
            "junk",
            {"value": "home@example.com", "primary": True},
        ]
    }
    assert scim_emails(user) == ["home@example.com", "work@example.com"]
    assert scim_emails({"emails": "kiran@example.com"}) == []
    assert scim_emails({}) == []


def _user(user_id: str, organization: str | None, created: int) -> UserRow:
    at = T0 + timedelta(minutes=created)
    return UserRow(
        id=user_id,
        provider="polis",
        directory_id="directory_1",
        organization_id=organization,
        idp_id=user_id,
        email=None,
        first_name=None,
        last_name=None,
        state="active",
        custom_attributes={},
        created_at=at,
        updated_at=at,
        deleted_at=None,
    )


def test_the_directory_row_its_members_describe_does_not_depend_on_their_order() -> None:
    group = GroupRow(
        id="g",
        provider="polis",
        directory_id="directory_1",
        organization_id="tenant_b",
        idp_id="g",
        name="G",
        created_at=T0,
        updated_at=T0,
        deleted_at=None,
    )
    members: list[UserRow | GroupRow] = [_user("u1", "tenant_a", 5), _user("u2", None, 3), group]
    rows = set()
    for order in itertools.permutations(members):
        row: DirectoryRow | None = None
        for member in order:
            row = seen_in(row, member)
        rows.add(row)
    assert rows == {
        DirectoryRow(
            id="directory_1",
            provider="polis",
            organization_id="tenant_a",
            name=None,
            type=None,
            state=None,
            created_at=T0,
            updated_at=UNDESCRIBED,
            deleted_at=None,
        )
    }


@pytest.mark.parametrize("member_organization", [None, "org_a", "org_b", "org_c"])
@pytest.mark.parametrize("member_created", [-1, 0, 1])
def test_a_member_that_adds_nothing_keeps_the_row_and_one_that_does_rebuilds_it(
    member_organization: str | None, member_created: int
) -> None:
    """`seen_in` skips rebuilding a row its member would not change (B2's cost, session
    9): against every undescribed row, the result is the row the rule describes."""
    member = _user("u9", member_organization, member_created)
    for organization, name, deleted_at in itertools.product(
        [None, "org_b"], [None, ""], [None, T0]
    ):
        stored = replace(
            seen_in(None, _user("u1", organization, 0)), name=name, deleted_at=deleted_at
        )
        organizations = [o for o in (organization, member_organization) if o is not None]
        expected = replace(
            stored,
            organization_id=min(organizations, default=None),
            name=None,
            created_at=min(stored.created_at, member.created_at),
            deleted_at=None,
        )
        assert seen_in(stored, member) == expected


def test_the_first_directory_payload_replaces_the_described_row_whole() -> None:
    seen = seen_in(None, _user("u1", "org_guess", 0))
    payload = DirectoryRow(
        id="directory_1",
        provider="polis",
        organization_id="org_1",
        name="Acme",
        type="okta",
        state="active",
        created_at=T0 + timedelta(days=1),
        updated_at=T0 + timedelta(days=2),
        deleted_at=None,
    )
    assert described(seen) is None
    assert merge(described(seen), payload) == payload
    # and members seen afterwards leave the payload's row alone
    assert seen_in(payload, _user("u2", "org_other", -100)) == payload
    assert seen_in(replace(payload, deleted_at=T0), _user("u3", None, 0)).deleted_at == T0
