"""The embedded servers of one `dsync dev` run: started unless the settings name real
ones, watched for an unexpected exit, stopped last, and guarded by the watchdog in case
`dsync dev` itself is killed."""

from __future__ import annotations

import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import SecretStr

from dsync.embedded import EmbeddedBroker, EmbeddedPostgres
from dsync.settings import Settings
from dsync.watchdog import Watchdog

# The embedded broker holds a group join for half the session timeout (5 s by default):
# 3 s makes it 2 s (measured). A worker whose event loop stalls that long loses its partitions for
# a moment, harmless on a laptop (offsets live in PostgreSQL).
DEV_SESSION_TIMEOUT_MS = 3000


class DevServers:
    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._postgres: EmbeddedPostgres | None = None
        self._broker: EmbeddedBroker | None = None
        self._watchdog: Watchdog | None = None

    def start(self, settings: Settings) -> Settings:
        """Start what `settings` leaves unset; the settings pointing at them. Blocking."""
        updates: dict[str, object] = {}
        if settings.database_url is None:
            # The embedded broker forgets everything on restart, so the database starts fresh too.
            data_dir = self._workdir / "postgres"
            shutil.rmtree(data_dir, ignore_errors=True)
            self._postgres = EmbeddedPostgres(data_dir)
            self._guard().watch_postgres(data_dir)  # before start: pg_ctl may be interrupted
            updates["database_url"] = SecretStr(self._postgres.start())
        if not settings.kafka_bootstrap_servers:
            self._broker = EmbeddedBroker(self._workdir / "broker.log")
            updates["kafka_bootstrap_servers"] = self._broker.start()
            self._guard().watch_broker(self._broker.pid)
            if "worker_session_timeout_ms" not in settings.model_fields_set:
                updates["worker_session_timeout_ms"] = DEV_SESSION_TIMEOUT_MS
            if "database_url" not in updates:
                # A kept database has offsets of an earlier broker: use a group of our own.
                updates["worker_group_id"] = (
                    f"{settings.worker_group_id}-dev-{secrets.token_hex(4)}"
                )
        return settings.model_copy(update=updates)

    def died(self) -> str | None:
        """What stopped on its own, said for a person; None while everything runs."""
        if self._broker is not None and (status := self._broker.exit_status()) is not None:
            return f"the embedded broker exited (status {status})"
        if self._postgres is not None and not self._postgres.running():
            return "the embedded PostgreSQL stopped"
        return None

    def stop(self) -> None:
        """Stop every server (bounded; idempotent), then release the watchdog. Side by
        side: the broker takes over a second to honour SIGTERM, PostgreSQL a fraction."""
        running = [server for server in (self._broker, self._postgres) if server is not None]
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda server: server.stop(), running))
        self._broker = self._postgres = None
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None

    def _guard(self) -> Watchdog:
        if self._watchdog is None:
            self._watchdog = Watchdog(self._workdir / "watchdog.log")
        return self._watchdog
