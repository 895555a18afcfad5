"""The latency budget's pure decision: which directories a batch shows to be over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from worker.item import Outcome
from worker.latency_budget import Verdict, assess

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BUDGET = 30.0


@dataclass(frozen=True, slots=True)
class Report:
    """What the budget reads of a settled item (worker.latency_budget.Timed)."""

    provider: str | None
    event_type: str | None
    outcome: Outcome | None
    received_at: datetime | None
    directory_id: str | None = None
    event_id: str | None = None


def report(
    seconds_ago: float | None,
    *,
    directory: str | None = "dir_a",
    event_id: str = "event_1",
    outcome: Outcome = "applied",
    provider: str | None = "workos",
) -> Report:
    received = None if seconds_ago is None else NOW - timedelta(seconds=seconds_ago)
    return Report(provider, "dsync.user.created", outcome, received, directory, event_id)


def test_events_within_the_budget_give_a_healthy_verdict() -> None:
    verdicts = assess([report(1.0), report(29.0, event_id="event_2")], NOW, BUDGET)

    assert verdicts == [Verdict("dir_a", "workos", 2, 0, "event_2", 29.0)]
    assert not verdicts[0].breached


def test_one_event_over_the_budget_breaches_its_directory_only() -> None:
    reports = [
        report(1.0, event_id="fast"),
        report(31.5, event_id="slow"),
        report(2.0, directory="dir_b", event_id="other"),
    ]

    verdicts = {v.directory_id: v for v in assess(reports, NOW, BUDGET)}

    assert verdicts["dir_a"].breached
    assert (verdicts["dir_a"].worst_event_id, verdicts["dir_a"].worst_seconds) == ("slow", 31.5)
    assert verdicts["dir_a"].breaches == 1
    assert not verdicts["dir_b"].breached


def test_exactly_the_budget_is_within_it() -> None:
    assert not assess([report(BUDGET)], NOW, BUDGET)[0].breached


def test_every_event_over_the_budget_counts() -> None:
    reports = [report(40.0, event_id=f"e{i}") for i in range(3)] + [report(5.0)]

    assert assess(reports, NOW, BUDGET)[0].breaches == 3


def test_outcomes_other_than_applied_neither_degrade_nor_clear() -> None:
    reports = [
        report(100.0, outcome="duplicate"),
        report(100.0, outcome="stale"),
        report(100.0, outcome="dead_lettered"),
        report(100.0, outcome="ignored"),
    ]

    assert assess(reports, NOW, BUDGET) == []


def test_events_without_a_receive_time_are_not_judged() -> None:
    assert assess([report(None)], NOW, BUDGET) == []


def test_a_receive_time_in_the_future_counts_as_no_latency() -> None:
    # Clocks of ingress and worker differ a little; that is not a negative latency.
    assert assess([report(-2.0)], NOW, BUDGET)[0].worst_seconds == 0.0


def test_events_without_a_directory_get_a_verdict_of_their_own_first() -> None:
    reports = [report(50.0, directory="dir_b"), report(50.0, directory=None, provider=None)]

    verdicts = assess(reports, NOW, BUDGET)

    assert [(v.directory_id, v.provider) for v in verdicts] == [
        (None, "unknown"),
        ("dir_b", "workos"),
    ]
    assert all(v.breached for v in verdicts)


def test_each_providers_directory_of_one_id_is_judged_apart() -> None:
    """Providers' directory ids may collide; a breach at one provider is not another's."""
    reports = [
        report(90.0, directory="directory_1", provider="workos", event_id="workos_1"),
        report(1.0, directory="directory_1", provider="stytch", event_id="stytch_1"),
    ]

    verdicts = assess(reports, NOW, BUDGET)

    assert [(v.provider, v.directory_id, v.breached) for v in verdicts] == [
        ("stytch", "directory_1", False),
        ("workos", "directory_1", True),
    ]
