"""`dsync dev` (what `make run` runs): the whole pipeline on one machine.

Embedded PostgreSQL and broker unless DSYNC_DATABASE_URL / DSYNC_KAFKA_BOOTSTRAP_SERVERS
point at real ones; then migrations, topics, the ingress and the worker in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
from pathlib import Path

from pydantic import SecretStr

from dsync import eventloop
from dsync.embedded import EmbeddedBroker, EmbeddedPostgres
from dsync.logs import Log
from dsync.migrate import migrate
from dsync.servers import EmbeddedServer
from dsync.settings import Settings
from dsync.topics import ensure_topics
from webhook_ingress.main import server as ingress_server
from worker.main import run_worker

_log = Log("dsync.dev")


def run(settings: Settings, workdir: Path) -> None:
    with contextlib.ExitStack() as stack:
        updates: dict[str, object] = {}
        if settings.database_url is None:
            # The embedded broker forgets everything on restart, so the database starts fresh too.
            shutil.rmtree(workdir / "postgres", ignore_errors=True)
            postgres = EmbeddedPostgres(workdir / "postgres")
            stack.callback(postgres.stop)
            updates["database_url"] = SecretStr(postgres.start())
        if not settings.kafka_bootstrap_servers:
            broker = EmbeddedBroker(workdir / "broker.log")
            stack.callback(broker.stop)
            updates["kafka_bootstrap_servers"] = broker.start()
            if "database_url" not in updates:
                # A kept database has offsets of an earlier broker: use a group of our own.
                updates["worker_group_id"] = (
                    f"{settings.worker_group_id}-dev-{secrets.token_hex(4)}"
                )
        if not settings.workos_webhook_secrets:
            updates["workos_webhook_secrets"] = (SecretStr(f"dev_{secrets.token_urlsafe(24)}"),)
        eventloop.run(_serve(settings.model_copy(update=updates)))


async def _serve(settings: Settings) -> None:
    await migrate(settings.require_database_url())
    await ensure_topics(
        settings.require_bootstrap_servers(),
        settings.topic_partitions(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    server = EmbeddedServer(ingress_server(settings).config)
    worker = asyncio.create_task(run_worker(settings, stop), name="worker")
    ingress = asyncio.create_task(server.serve(), name="ingress")
    while not server.started and not ingress.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.05)
    if server.started:
        print(_banner(settings), flush=True)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({worker, ingress, stopped}, return_when=asyncio.FIRST_COMPLETED)
    _log.info("dev.stopping")
    stop.set()
    server.should_exit = True
    await asyncio.gather(worker, ingress)


def _banner(settings: Settings) -> str:
    base = f"http://{settings.ingress_host}:{settings.ingress_port}"
    secret = settings.workos_webhook_secrets[0].get_secret_value()
    database = settings.require_database_url()
    return f"""
dsync is running (Ctrl-C stops everything).

  WorkOS webhook URL   {base}/webhooks/workos
  Health / readiness   {base}/healthz   {base}/readyz
  Database URL         {database}
  Kafka bootstrap      {settings.kafka_bootstrap_servers}   (topic {settings.events_topic})

Send a correctly signed sample event (send it twice: the second changes nothing):

  DSYNC_WORKOS_WEBHOOK_SECRETS='{secret}' .venv/bin/dsync sample --url {base}/webhooks/workos

Then look at the table:

  .venv/bin/dsync query --database-url '{database}' 'SELECT id, state, updated_at FROM dsync.users'
"""
