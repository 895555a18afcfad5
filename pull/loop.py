"""The pull loop: read a page after the cursor, produce it, then store the cursor.

    page = GET /events?after=cursor  ->  envelopes (or refusals)  ->  produce, acks=all
         ->  store cursor = last event id, refusals, in one transaction  ->  next page

The cursor is stored only after the broker acknowledged every event before it, so a crash
at any point re-produces at most the last page (the worker's event-id inbox drops the
copies) and never skips an event. Without a cursor (first start, or the row was lost) the
first read uses `range_start` instead of `after`.

Failures: the provider unavailable (retries in provider_http ran out) or the broker not
acknowledging leave the cursor where it is and the same page is read again after
`interval` (`--once` exits non-zero instead, for cron to retry). A provider refusal (bad
key, 422) and a cursor moved by someone else stop the puller: no retry can fix them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dsync.logs import Log
from dsync.producer import Message, ProduceError, Producer
from dsync.provider_http import ProviderUnavailable
from dsync.source_metrics import PullMetrics
from pull.cursor_store import CursorStore
from pull.envelopes import Converted, convert
from pull.events_api import EventsApi, EventsPage

_log = Log("pull")
PROVIDER = "workos"


@dataclass(frozen=True, slots=True)
class PullOptions:
    account: str
    range_start: datetime  # where a puller without a cursor starts
    topic: str
    interval: float = 1.0  # between polls once drained, and after a failure
    once: bool = False  # drain what is visible now, then return


@dataclass(slots=True)
class PullTotals:
    pages: int = 0
    produced: int = 0
    refused: int = 0


class Puller:
    def __init__(
        self,
        api: EventsApi,
        store: CursorStore,
        producer: Producer,
        options: PullOptions,
        metrics: PullMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api, self._store, self._producer = api, store, producer
        self._options, self._metrics, self._clock = options, metrics, clock
        self._cursor: str | None = None
        self._prefetch: asyncio.Future[EventsPage] | None = None
        self.totals = PullTotals()

    async def run(self, stop: asyncio.Event) -> PullTotals:
        """Pull until `stop` is set (or, with `once`, until drained)."""
        stored = await self._store.load()
        self._cursor = stored.cursor if stored else None
        try:
            while not stop.is_set():
                try:
                    drained = await self._step()
                except (ProviderUnavailable, ProduceError) as exc:
                    self._forget_prefetch()
                    self._report_failure(exc)
                    if self._options.once:
                        raise
                    drained = True
                if drained:
                    if self._options.once:
                        _log.info("pull.drained", cursor=self._cursor, **self._totals())
                        break
                    await wait_or_stop(stop, self._options.interval)
        finally:
            self._forget_prefetch()
        return self.totals

    async def _step(self) -> bool:
        """One page; True when nothing more is visible now. While the page is produced and
        its cursor stored, the next page is already being read (after the new cursor): the
        provider's round trip overlaps the broker's and the database's. A prefetched page
        is used only once the cursor it follows is stored."""
        page = await (self._prefetch or self._fetch(self._cursor))
        self._prefetch = None
        converted = convert(page.events, self._clock())
        if converted.cursor is None or converted.cursor == self._cursor:
            return True
        if page.more:
            self._prefetch = asyncio.ensure_future(self._fetch(converted.cursor))
        messages = [
            Message(self._options.topic, e.partition_key(), e.body, tuple(e.headers()))
            for e in converted.envelopes
        ]
        await self._producer.send_all(messages)
        await self._store.advance(
            self._cursor, converted.cursor, converted.cursor_time, converted.refusals
        )
        self._cursor = converted.cursor
        self._count(converted)
        return not page.more

    async def _fetch(self, after: str | None) -> EventsPage:
        start = None if after else self._options.range_start
        return await self._api.page(after=after, range_start=start)

    def _forget_prefetch(self) -> None:
        """A prefetched page follows a cursor that may now never be stored: drop it."""
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None

    def _count(self, converted: Converted) -> None:
        totals, metrics = self.totals, self._metrics
        totals.pages += 1
        totals.produced += len(converted.envelopes)
        totals.refused += len(converted.refusals)
        for envelope in converted.envelopes:
            metrics.pulled(PROVIDER, envelope.event_type, "produced")
        for refusal in converted.refusals:
            metrics.pulled(PROVIDER, None, "refused")
            _log.warning("pull.event_refused", event_id=refusal.event_id, reason=refusal.reason)
        if converted.cursor_time is not None:
            gauge = metrics.cursor_event_time.labels(PROVIDER, self._options.account)
            gauge.set(converted.cursor_time.timestamp())
        _log.debug("pull.page_produced", cursor=self._cursor, events=len(converted.envelopes))

    def _report_failure(self, exc: Exception) -> None:
        if isinstance(exc, ProduceError):
            _log.warning("pull.produce_failed", error=str(exc), cursor=self._cursor)
        else:
            _log.warning("pull.provider_unavailable", error=str(exc), cursor=self._cursor)

    def _totals(self) -> dict[str, int]:
        t = self.totals
        return {"pages": t.pages, "produced": t.produced, "refused": t.refused}


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
