"""The sync-latency budget: which directories a batch shows to be over it. Pure.

Latency is the time from the ingress receiving an event to now (the batch committing).
A directory is degraded while its latest batch had an applied event over the budget, and
healthy again once a batch of its events is entirely within it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Timed(Protocol):
    """What the budget needs to know of one event's outcome (a settled worker.item.Item)."""

    @property
    def outcome(self) -> str | None: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def directory_id(self) -> str | None: ...
    @property
    def event_id(self) -> str | None: ...
    @property
    def received_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """One directory's applied events in one batch, against the budget."""

    directory_id: str | None  # None: events that name no directory (never stored)
    provider: str
    checked: int  # applied events with a receive time
    breaches: int  # of them, over the budget
    worst_event_id: str
    worst_seconds: float

    @property
    def breached(self) -> bool:
        return self.breaches > 0


_Key = tuple[str | None, str]  # (directory id, provider)


def assess(reports: Iterable[Timed], now: datetime, budget_seconds: float) -> list[Verdict]:
    """A verdict per directory (provider and id: two providers may use one id) with at
    least one applied event that has a receive time, in directory order. Other outcomes
    (duplicates, stale, dead letters) say nothing about how fast the directory syncs, so
    they neither degrade nor clear it."""
    worst: dict[_Key, tuple[float, str]] = {}
    checked: dict[_Key, int] = {}
    breaches: dict[_Key, int] = {}
    for report in reports:
        if report.outcome != "applied" or report.received_at is None:
            continue
        key = (report.directory_id, report.provider or "unknown")
        seconds = max((now - report.received_at).total_seconds(), 0.0)
        checked[key] = checked.get(key, 0) + 1
        breaches[key] = breaches.get(key, 0) + (seconds > budget_seconds)
        if key not in worst or seconds > worst[key][0]:
            worst[key] = (seconds, report.event_id or "")
    return [
        Verdict(key[0], key[1], checked[key], breaches[key], worst[key][1], worst[key][0])
        for key in sorted(worst, key=lambda k: (k[0] is not None, k[0] or "", k[1]))
    ]
