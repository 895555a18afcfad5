"""The pure rules behind holds: when a stored offset does not fit the log, the dead-letter
cap, and where `dsync offsets reset --to` points."""

from __future__ import annotations

import pytest

from worker.cap import over_cap
from worker.holds import Hold, mismatch
from worker.offsets import Refused, target_offset


def test_a_stored_offset_within_the_log_fits() -> None:
    assert mismatch(0, 5, 0, 10) is None
    assert mismatch(0, 10, 0, 10) is None  # caught up
    assert mismatch(0, 3, 3, 10) is None  # nothing of what the log holds applied yet


def test_a_stored_offset_past_the_end_is_held_with_both_offsets() -> None:
    assert mismatch(2, 11, 0, 10) == Hold(2, "offset_beyond_end", 11, 0, 10)


def test_a_log_that_starts_after_the_stored_offset_is_held() -> None:
    """Retention removed records never applied (Tansu cannot delete records, so this case
    is not reachable on the embedded broker)."""
    assert mismatch(1, 4, 5, 10) == Hold(1, "offset_before_start", 4, 5, 10)


@pytest.mark.parametrize(
    ("dead", "total", "over"),
    [(6, 10, True), (5, 10, False), (9, 9, False), (10, 10, True), (0, 100, False)],
)
def test_the_cap_needs_the_minimum_batch_and_more_than_the_share(
    dead: int, total: int, over: bool
) -> None:
    assert over_cap(dead, total, max_share=0.5, min_batch=10) is over


def test_reset_targets() -> None:
    assert target_offset("earliest", 3, 9) == 3
    assert target_offset("latest", 3, 9) == 9
    assert target_offset("7", 3, 9) == 7
    for outside in ("2", "10", "-1", "soon"):
        with pytest.raises(Refused):
            target_offset(outside, 3, 9)
