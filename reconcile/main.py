"""The composition root of `dsync reconcile`: settings -> provider client, database
connection and producer -> one run per directory, once or every `every` seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dsync.logs import Log
from dsync.producer import KafkaProducer, Producer
from dsync.provider_http import ProviderError
from dsync.settings import Settings
from dsync.source_metrics import ReconcileMetrics
from reconcile import store
from reconcile.corrections import Correction
from reconcile.directories import DirectoryCheck, survey
from reconcile.exclusive import SKIPPED, exclusive
from reconcile.listing import DirectoryLister, Provider
from reconcile.providers import open_provider
from reconcile.run import CLOCK_MARGIN, Outcome, Run
from schemas.envelope import Source
from worker.reconciliations import last_reconciliations
from worker.store import connect

_log = Log("reconcile.main")


@dataclass(frozen=True, slots=True)
class Reconciled:
    """One invocation: the runs that finished, and the directories skipped because another
    reconciliation of them was running (not a clean run: `dsync reconcile` says so in its
    exit status)."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


async def reconcile(
    settings: Settings,
    provider_name: Source,
    directories: Sequence[str],
    *,
    dry_run: bool,
    report: Callable[[Correction], None] = lambda _: None,
    metrics: ReconcileMetrics | None = None,
    limited: bool = True,
) -> Reconciled:
    """One run per directory, in order (no directories: every live directory of the
    provider that dsync knows). A directory whose provider fails (retries spent, a
    refusal) is logged and left for the next run, which resumes at its checkpoint; one
    another process is reconciling is skipped (reconcile.exclusive); the others go on.
    Raises only when every directory failed."""
    provider, http = open_provider(settings, provider_name, limited=limited)
    conn = await connect(settings.require_database_url())
    producer: Producer | None = None
    if not dry_run:
        producer = KafkaProducer(
            settings.require_bootstrap_servers(),
            ack_timeout=settings.broker_ack_timeout_seconds,
            idempotent=settings.kafka_idempotent_producer,
        )
    done = Reconciled()
    failures: list[str] = []
    try:
        targets, itself = await _targets(provider, conn, directories)
        for directory in targets:
            async with exclusive(conn, provider_name, directory, dry_run) as held:
                if not held:
                    _skipped(done, provider_name, directory, metrics)
                    continue
                run = Run(provider, conn, producer, settings.events_topic, report)
                try:
                    done.outcomes.append(outcome := await run.run(directory, itself))
                    if metrics is not None:
                        observe(metrics, provider_name, outcome)
                except ProviderError as exc:
                    failures.append(directory)
                    _log.error(
                        "reconcile.failed",
                        provider=provider_name,
                        directory_id=directory,
                        reason=str(exc),
                    )
        if metrics is not None:
            runs = await last_reconciliations(conn)
            twice = sum(r.drifted_twice for r in runs if r.provider == provider_name)
            metrics.drifted_twice.labels(provider_name).set(twice)
    finally:
        if producer is not None:
            await producer.close()
        await conn.close()
        await http.close()
    if failures and not done.outcomes and not done.skipped:
        raise ProviderError(f"every directory failed: {len(failures)}")
    return done


async def _targets(
    provider: Provider, conn: store.Conn, directories: Sequence[str]
) -> tuple[list[str], DirectoryCheck | None]:
    """The directories named; else those the provider lists united with the live ones
    dsync knows, each checked itself first (reconcile.directories); else (a provider that
    does not list directories) the live ones dsync knows."""
    if directories:
        return list(directories), None
    if isinstance(provider, DirectoryLister):
        found = await survey(provider, conn, datetime.now(UTC) - CLOCK_MARGIN)
        return found.targets, DirectoryCheck(provider, found)
    return await store.directories(conn, provider.name), None


def _skipped(
    done: Reconciled, provider: str, directory: str, metrics: ReconcileMetrics | None
) -> None:
    done.skipped.append(directory)
    _log.warning("reconcile.skipped", provider=provider, directory_id=directory, reason=SKIPPED)
    if metrics is not None:
        metrics.skipped.labels(provider).inc()


def observe(metrics: ReconcileMetrics, provider: str, outcome: Outcome) -> None:
    for kind, count in outcome.tally.found.items():
        metrics.drift.labels(provider, kind).inc(count)
    for kind, count in outcome.tally.repaired.items():
        metrics.repaired.labels(provider, kind).inc(count)


async def every(
    seconds: float,
    settings: Settings,
    provider_name: Source,
    directories: Sequence[str],
    metrics: ReconcileMetrics | None = None,
) -> None:
    """Reconcile, then wait `seconds`, until cancelled (Ctrl-C)."""
    while True:
        try:
            await reconcile(settings, provider_name, directories, dry_run=False, metrics=metrics)
        except ProviderError as exc:
            _log.error("reconcile.failed", provider=provider_name, reason=str(exc))
        await asyncio.sleep(seconds)
