"""The puller's composition root: settings -> provider client, cursor store (lock),
producer -> loop, with signals and a metrics port."""

from __future__ import annotations

import asyncio
import signal

from prometheus_client import start_http_server
from pydantic import SecretStr

from dsync import eventloop
from dsync.logs import Log, describe_bug
from dsync.producer import KafkaProducer
from dsync.provider_http import ProviderHttp, RetryPolicy
from dsync.settings import ConfigError, Settings
from dsync.source_metrics import PullMetrics
from pull.cursor_store import CursorStore
from pull.events_api import EventsApi
from pull.loop import PROVIDER, Puller, PullOptions, PullTotals, wait_or_stop

_log = Log("pull")
LOCK_RETRY_SECONDS = 1.0


async def run_puller(
    settings: Settings,
    options: PullOptions,
    stop: asyncio.Event,
    metrics: PullMetrics,
    policy: RetryPolicy | None = None,
) -> PullTotals:
    """Wait for the (provider, account) lock, then pull until `stop` (or drained, `once`).
    With `once` and another puller active, return at once: that puller does the work."""
    api_key = require_api_key(settings)
    store = await CursorStore.connect(settings.require_database_url(), PROVIDER, options.account)
    http = ProviderHttp(
        settings.workos_api_base_url,
        api_key,
        policy=policy,
        on_answer=lambda status: metrics.requests.labels(PROVIDER, status).inc(),
    )
    producer = KafkaProducer(
        settings.require_bootstrap_servers(),
        ack_timeout=settings.broker_ack_timeout_seconds,
        idempotent=settings.kafka_idempotent_producer,
    )
    try:
        if not await _lock(store, options, stop):
            return PullTotals()
        puller = Puller(EventsApi(http), store, producer, options, metrics)
        return await puller.run(stop)
    finally:
        await producer.close()
        await http.close()
        await store.close()


def require_api_key(settings: Settings) -> SecretStr:
    if settings.workos_api_key is None:
        raise ConfigError(
            "DSYNC_WORKOS_API_KEY is not set: set it to the WorkOS API key (sk_...) of the"
            " environment to pull"
        )
    return settings.workos_api_key


async def _lock(store: CursorStore, options: PullOptions, stop: asyncio.Event) -> bool:
    if await store.try_lock():
        _log.info("pull.lock_acquired", provider=PROVIDER, account=options.account)
        return True
    _log.info("pull.waiting_for_lock", provider=PROVIDER, account=options.account)
    if options.once:
        return False
    while not stop.is_set():  # a standby: the lock frees when the active puller's session ends
        await wait_or_stop(stop, LOCK_RETRY_SECONDS)
        if await store.try_lock():
            _log.info("pull.lock_acquired", provider=PROVIDER, account=options.account)
            return True
    return False


def main(settings: Settings, options: PullOptions, metrics_host: str, metrics_port: int) -> None:
    """`dsync pull workos`: run until SIGINT/SIGTERM (or drained, with --once)."""
    require_api_key(settings)  # before anything starts: a usage error, not a crash
    settings.require_database_url()
    settings.require_bootstrap_servers()
    metrics = PullMetrics()
    if metrics_port:
        start_http_server(metrics_port, metrics_host, registry=metrics.registry)

    async def serve() -> PullTotals:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _log.info("pull.started", provider=PROVIDER, account=options.account, once=options.once)
        try:
            totals = await run_puller(settings, options, stop, metrics)
        except BaseException as exc:
            _log.error("pull.fatal", **describe_bug(exc))
            raise
        _log.info("pull.stopped", pages=totals.pages, produced=totals.produced)
        return totals

    eventloop.run(serve())
