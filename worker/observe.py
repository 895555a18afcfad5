"""Metrics (and the latency-budget warning) for each committed batch, read off its settled
items (worker/item.py). Holds no state beyond the registry: one per worker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from dsync.logs import Log
from dsync.metrics import WorkerMetrics, event_type_label
from worker import latency_budget
from worker.batch import BatchResult
from worker.item import Decoded

_log = Log("worker")


class BatchObserver:
    def __init__(self, metrics: WorkerMetrics, budget_seconds: float) -> None:
        self._metrics = metrics
        self._budget = budget_seconds

    def batch(self, result: BatchResult, size: int, seconds: float) -> None:
        metrics, now = self._metrics, datetime.now(UTC)
        metrics.batch_events.observe(size)
        metrics.batch_seconds.observe(seconds)
        for item in result.items:
            provider = item.provider or "unknown"
            label = event_type_label(item.event_type)
            metrics.events.labels(provider, label, item.outcome).inc()
            if item.outcome == "applied" and item.received_at is not None:
                latency = (now - item.received_at).total_seconds()
                metrics.sync_latency.labels(provider).observe(max(latency, 0.0))
            elif item.outcome == "dead_lettered":
                metrics.dead_letters.labels(provider).inc()
        self._latency(result.items, now)
        if result.degraded is not None:
            metrics.degraded_directories.set(result.degraded)
        for provider, count in result.access.deactivated_by_provider.items():
            metrics.deprovisions.labels(provider).inc(count)
        for kind, count in result.access.revoked.items():
            if count:
                metrics.credentials_revoked.labels(kind).inc(count)

    def _latency(self, items: Sequence[Decoded], now: datetime) -> None:
        """Provider event time -> commit, and the budget: counted per event, logged once
        per directory and batch (a slow database would otherwise log every event)."""
        for item in items:
            if item.outcome == "applied" and item.occurred_at is not None:
                latency = max((now - item.occurred_at).total_seconds(), 0.0)
                self._metrics.event_latency.labels(item.provider or "unknown").observe(latency)
        budget = self._budget
        for verdict in latency_budget.assess(items, now, budget):
            if verdict.breached:
                self._metrics.budget_breaches.labels(verdict.provider).inc(verdict.breaches)
                _log.warning(
                    "worker.latency_budget_breached",
                    directory_id=verdict.directory_id,
                    event_id=verdict.worst_event_id,
                    latency=round(verdict.worst_seconds, 3),
                    breaches=verdict.breaches,
                    budget=budget,
                )
