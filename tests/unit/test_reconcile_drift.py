"""The drift engine asks the worker's merge: a listing never resurrects a tombstone, a newer
provider version wins, a change of times alone is no drift, and event ids are stable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from reconcile.drift import event_id, fingerprint, has_drifted, visible
from worker.merge import merge
from worker.rows import UserRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STORED = UserRow(
    id="u1",
    provider="workos",
    directory_id="d1",
    organization_id="o1",
    idp_id="i1",
    email="ada@example.com",
    first_name="Ada",
    last_name=None,
    state="active",
    custom_attributes={},
    created_at=T0,
    updated_at=T0 + timedelta(minutes=10),
    deleted_at=None,
)


def test_a_missing_live_object_has_drifted_a_missing_tombstone_has_not() -> None:
    assert has_drifted(None, STORED)
    assert not has_drifted(None, replace(STORED, deleted_at=T0))


def test_a_listing_never_resurrects_a_deleted_workos_user() -> None:
    deleted = replace(STORED, deleted_at=T0 + timedelta(minutes=20))
    newer = replace(STORED, updated_at=T0 + timedelta(minutes=30), first_name="Ada L.")
    assert not has_drifted(deleted, newer)


def test_a_newer_version_at_the_provider_wins_an_older_one_does_not() -> None:
    renamed = replace(STORED, first_name="Ada L.")
    assert has_drifted(STORED, replace(renamed, updated_at=T0 + timedelta(minutes=11)))
    assert not has_drifted(STORED, replace(renamed, updated_at=T0 + timedelta(minutes=9)))


def test_times_alone_are_no_drift() -> None:
    assert not has_drifted(STORED, replace(STORED, updated_at=T0 + timedelta(days=1)))


def test_a_stytch_member_back_at_the_provider_has_drifted() -> None:
    deleted = replace(STORED, provider="stytch", deleted_at=T0 + timedelta(minutes=20))
    back = replace(deleted, deleted_at=None, updated_at=T0 + timedelta(minutes=30))
    assert has_drifted(deleted, back)


def test_an_object_of_another_directory_is_not_this_runs_to_repair() -> None:
    assert not has_drifted(STORED, replace(STORED, directory_id="d2", first_name="X"))


def test_event_ids_depend_on_both_sides_and_nothing_else() -> None:
    listed = {"id": "u1", "first_name": "Ada L."}
    first = event_id("workos", "d1", "user_upsert", "u1", fingerprint(listed), fingerprint(STORED))
    again = event_id(
        "workos", "d1", "user_upsert", "u1", fingerprint(dict(listed)), fingerprint(STORED)
    )
    moved = event_id(
        "workos",
        "d1",
        "user_upsert",
        "u1",
        fingerprint(listed),
        fingerprint(replace(STORED, first_name="Ada K.")),
    )
    assert first == again != moved
    assert first.startswith("reconcile_")


_TIMES = st.sampled_from([T0 + timedelta(minutes=m) for m in (0, 10, 20)])
_ROWS = st.builds(
    lambda provider, first_name, state, updated_at, deleted_at: replace(
        STORED,
        provider=provider,
        first_name=first_name,
        state=state,
        updated_at=updated_at,
        deleted_at=deleted_at,
    ),
    st.sampled_from(["workos", "stytch"]),
    st.sampled_from(["Ada", "Ada L."]),
    st.sampled_from(["active", "inactive"]),
    _TIMES,
    st.none() | _TIMES,
)


@given(stored=_ROWS, listed=_ROWS)
def test_the_shortcut_for_look_alike_live_rows_decides_as_the_merge(
    stored: UserRow, listed: UserRow
) -> None:
    """has_drifted skips the merge when both rows are live and look alike to a reader; over
    every pair, it answers what asking the merge answers."""
    if stored.provider != listed.provider:
        return
    merged = merge(stored, listed)
    kept_tombstone = stored.deleted_at is not None and merged.deleted_at is not None
    asked = not kept_tombstone and visible(merged) != visible(stored)
    assert has_drifted(stored, listed) == asked
