"""Live sync's policy around its chain (worker/chain.py): the dead-letter cap, the split on
refusal, the retry of transient failures and the metrics of each batch applied. The poll
loop (worker/main.py) hands it a poll and gets back what was committed.

Errors are few: an invalid event is dead-lettered (bounded by the cap), a transient
failure is retried without committing, anything else stops the worker loudly.
"""

from __future__ import annotations

import asyncio
import time

from dsync.logs import Log
from dsync.metrics import WorkerMetrics
from dsync.settings import Settings
from worker.batch import BatchResult, Polled, Stream
from worker.cap import Cap, HoldPartition, capped
from worker.chain import in_transaction, live_sync
from worker.errors import TransientError
from worker.observe import BatchObserver
from worker.refusals import SplitOnRefusal
from worker.store import Store

_log = Log("worker")

MAX_BACKOFF = 30.0


class Stopped(Exception):
    """Shutdown was requested while a batch was waiting to be retried: nothing committed."""


class LiveSync:
    """One poll, every partition in one transaction (its fixed costs are paid once, not
    once per partition); a worker scales by processes, not by concurrent transactions."""

    def __init__(
        self,
        store: Store,
        stream: Stream,
        settings: Settings,
        metrics: WorkerMetrics,
        hold: HoldPartition,
    ) -> None:
        chain = live_sync(stream, settings.sync_latency_budget_seconds)
        cap = Cap(settings.dead_letter_max_share, settings.dead_letter_min_batch)
        self._split = SplitOnRefusal(
            capped(store, chain, stream, cap, hold), in_transaction(store, chain)
        )
        self._observer = BatchObserver(metrics, settings.sync_latency_budget_seconds)

    @property
    def refused_batch_transactions(self) -> int:
        """Transactions spent finding the events the database refuses."""
        return self._split.transactions

    async def apply(self, polled: Polled, stop: asyncio.Event) -> BatchResult:
        """Everything one poll returned, committed; retried while transient, with a
        backoff that `stop` cuts short (raising Stopped: nothing committed)."""
        size = sum(len(items) for items in polled.values())
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                result = await self._split(polled)
            except TransientError as exc:
                attempt += 1
                await self._back_off(sorted(polled), exc, attempt, stop)
                continue
            self._observer.batch(result, size, time.perf_counter() - started)
            _log.debug("worker.batch_applied", partitions=sorted(polled), **dict(result.outcomes))
            return result

    @staticmethod
    async def _back_off(
        partitions: list[int], exc: TransientError, attempt: int, stop: asyncio.Event
    ) -> None:
        delay = min(MAX_BACKOFF, 0.1 * 2**attempt)
        _log.warning("worker.batch_retry", partitions=partitions, error=str(exc), delay=delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            return
        raise Stopped from exc
