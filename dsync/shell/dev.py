"""`dsync dev` (what `make run` runs): the whole pipeline on one machine.

Embedded PostgreSQL and broker unless DSYNC_DATABASE_URL / DSYNC_KAFKA_BOOTSTRAP_SERVERS
point at real ones; then migrations, topics, the worker and, once the worker holds its
partitions (so an event sent at the banner applies at once), the ingress. Every provider
gets a dev secret unless one is set. While it runs, `<workdir>/env` tells the other
commands where everything is (dsync.devenv).

Stopping is bounded: the first Ctrl-C (or SIGTERM) stops the ingress and the worker,
then the embedded servers; whatever is still running after STOP_DEADLINE seconds, or at
a second Ctrl-C, is abandoned: the servers are stopped and the process exits. If an
embedded server dies, everything stops with a message and a non-zero status.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import SecretStr

from dsync import devenv, eventloop
from dsync.devservers import DevServers
from dsync.logs import Log, describe_bug
from dsync.migrate import migrate
from dsync.servers import HostedServer
from dsync.settings import ConfigError, Settings
from dsync.topics import ensure_topics
from schemas.providers import PROVIDERS as REGISTRY
from scim_server.main import server as scim_server
from webhook_ingress.main import server as ingress_server
from worker.main import run_worker

_log = Log("dsync.dev")

STOP_DEADLINE = 6.0  # seconds from the first Ctrl-C to a forced exit
_WATCH_INTERVAL = 0.2
# The registered providers that post webhooks, in the registry's order, with the Settings
# field of their secrets: each gets a dev secret, a URL and a sample line in the banner.
WEBHOOK_SECRETS = {spec.source: spec.webhook.secrets_setting for spec in REGISTRY if spec.webhook}
PROVIDERS = tuple(WEBHOOK_SECRETS)


def run(settings: Settings, workdir: Path) -> None:
    env_file = workdir / "env"
    if (owner := devenv.live_owner(env_file)) is not None:
        raise ConfigError(
            f"another dsync dev (process {owner}) runs in {workdir}: stop it or pass --workdir"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    servers = DevServers(workdir)
    code = 1
    try:
        settings = with_dev_secrets(servers.start(settings))
        code = eventloop.run(_Run(settings, servers, env_file).main())
    except KeyboardInterrupt:  # Ctrl-C before the event loop took the signals over
        code = 130
    finally:
        devenv.remove(env_file)
        servers.stop()
    _log.info("dev.stopped", status=code)
    if code:
        sys.exit(code)


def _svix_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _plain_secret() -> str:
    return f"dev_{secrets.token_urlsafe(24)}"


# A provider whose verifier reads its secret in a format of its own (the registry's
# check_secret refuses anything else); the others take any string.
_SECRET_FORMATS: dict[str, Callable[[], str]] = {"stytch": _svix_secret}


def with_dev_secrets(settings: Settings) -> Settings:
    """A random secret for every webhook provider that has none."""
    generated = {
        setting: _SECRET_FORMATS.get(source, _plain_secret)()
        for source, setting in WEBHOOK_SECRETS.items()
    }
    return settings.model_copy(
        update={
            name: (SecretStr(secret),)
            for name, secret in generated.items()
            if not getattr(settings, name)
        }
    )


class _Run:
    """One run of the stack inside the event loop; `main` returns the exit status."""

    def __init__(self, settings: Settings, servers: DevServers, env_file: Path) -> None:
        self._settings = settings
        self._servers = servers
        self._env_file = env_file
        self._stop = asyncio.Event()
        self._code = 0

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        # SIGHUP: the terminal was closed; stop as cleanly as for Ctrl-C.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._on_signal)
        watcher = asyncio.create_task(self._watch_servers())
        try:
            await self._run()
        except Exception as exc:  # migrations, topics: say what, then stop
            _log.error("dev.failed", step="startup", **describe_bug(exc))
            self._fail(f"could not start: {type(exc).__name__}: {exc}")
        finally:
            watcher.cancel()
        return self._code

    async def _run(self) -> None:
        settings = self._settings
        await migrate(settings.require_database_url())
        await ensure_topics(settings.require_bootstrap_servers(), settings.topic_partitions())
        if self._stop.is_set():
            return
        ready = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, self._stop, ready=ready))
        server = HostedServer(ingress_server(settings).config)
        scim = HostedServer(scim_server(settings).config)
        ingress: asyncio.Task[None] | None = None
        scim_task: asyncio.Task[None] | None = None
        try:
            if await self._until(ready.wait(), worker):
                ingress = asyncio.create_task(server.serve())
                scim_task = asyncio.create_task(scim.serve())
                if await self._until(_started(server), ingress) and await self._until(
                    _started(scim), scim_task
                ):
                    self._announce()
                    await self._until(worker, ingress, scim_task)
            if not self._stop.is_set():
                self._fail("the worker, the ingress or the SCIM server stopped on its own")
        finally:
            self._begin_stop()
            server.should_exit = scim.should_exit = True
            tasks = [t for t in (worker, ingress, scim_task) if t is not None]
            names = ("worker", "ingress", "scim")
            for name, outcome in zip(names, await _settled(tasks), strict=False):
                if outcome is not None:
                    _log.error("dev.failed", step=name, **describe_bug(outcome))
                    self._fail(_failure(name, outcome, settings))

    async def _until(self, *waits: Coroutine[Any, Any, Any] | asyncio.Task[Any]) -> bool:
        """Wait until one of `waits` ends or the stack is stopping; True unless stopping.
        Coroutines are wrapped in tasks of our own and cancelled after; the tasks given
        (worker, ingress) never are."""
        stopping = asyncio.create_task(self._stop.wait())
        helpers = [asyncio.create_task(w) for w in waits if asyncio.iscoroutine(w)]
        tasks = [w for w in waits if isinstance(w, asyncio.Task)]
        try:
            await asyncio.wait([stopping, *helpers, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for helper in (stopping, *helpers):
                helper.cancel()
        return not self._stop.is_set()

    def _announce(self) -> None:
        devenv.write(self._env_file, env_values(self._settings))
        print(banner(self._settings, self._env_file), flush=True)
        _log.info("dev.ready")

    async def _watch_servers(self) -> None:
        while (died := self._servers.died()) is None:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(_WATCH_INTERVAL)
        if not self._stop.is_set():
            _log.error("dev.server_died", detail=died)
            self._fail(f"{died}; stopping everything")

    def _on_signal(self) -> None:
        if self._stop.is_set():
            self._force(130, "second Ctrl-C: stopped without waiting")
        self._begin_stop()

    def _fail(self, message: str) -> None:
        if self._code == 0:
            print(f"dsync dev: {message}", file=sys.stderr, flush=True)
            self._code = 1
        self._begin_stop()

    def _begin_stop(self) -> None:
        if self._stop.is_set():
            return
        devenv.remove(self._env_file)  # nobody may find servers that are going away
        self._stop.set()
        _log.info("dev.stopping")
        asyncio.get_running_loop().call_later(
            STOP_DEADLINE,
            self._force,
            self._code or 1,
            f"the ingress and the worker did not stop within {STOP_DEADLINE:.0f} s",
        )

    def _force(self, code: int, why: str) -> NoReturn:
        """Abandon whatever still runs: stop the servers and exit now."""
        _log.warning("dev.forced_stop", reason=why)
        print(f"dsync dev: {why}", file=sys.stderr, flush=True)
        devenv.remove(self._env_file)
        self._servers.stop()
        sys.stdout.flush()
        os._exit(code)


def _failure(name: str, error: BaseException, settings: Settings) -> str:
    if name == "ingress" and isinstance(error, SystemExit):  # uvicorn's answer to a bind error
        where = f"{settings.ingress_host}:{settings.ingress_port}"
        return f"the ingress could not listen on {where} (set DSYNC_INGRESS_PORT to another port)"
    if name == "scim" and isinstance(error, SystemExit):
        where = f"{settings.scim_host}:{settings.scim_port}"
        return f"the SCIM server could not listen on {where} (set DSYNC_SCIM_PORT to another port)"
    return f"the {name} failed ({type(error).__name__})"


async def _started(server: HostedServer) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event for it
        await asyncio.sleep(0.02)


async def _settled(tasks: Sequence[asyncio.Task[Any]]) -> list[BaseException | None]:
    """Each task's exception (None: it ended normally)."""
    await asyncio.gather(*tasks, return_exceptions=True)
    return [None if t.cancelled() else t.exception() for t in tasks]


def env_values(settings: Settings) -> dict[str, str]:
    """What the other commands need to reach this stack (dsync.devenv's contract)."""

    def joined(values: tuple[SecretStr, ...]) -> str:
        return ",".join(value.get_secret_value() for value in values)

    return {
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        **{
            f"DSYNC_{setting.upper()}": joined(getattr(settings, setting))
            for setting in WEBHOOK_SECRETS.values()
        },
        "DSYNC_INGRESS_HOST": settings.ingress_host,
        "DSYNC_INGRESS_PORT": str(settings.ingress_port),
        "DSYNC_SCIM_HOST": settings.scim_host,
        "DSYNC_SCIM_PORT": str(settings.scim_port),
        "DSYNC_WORKER_GROUP_ID": settings.worker_group_id,
        "DSYNC_WORKER_ADMIN_PORT": str(settings.worker_admin_port),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
        "DSYNC_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "DSYNC_CHANGES_TOPIC": settings.changes_topic,
    }


def banner(settings: Settings, env_file: Path) -> str:
    base = f"http://{settings.ingress_host}:{settings.ingress_port}"
    admin = f"http://{settings.worker_admin_host}:{settings.worker_admin_port}"
    # `dsync sample` posts to 127.0.0.1:8000 unless told otherwise.
    url = "" if base == "http://127.0.0.1:8000" else " --url {base}/webhooks/{provider}"
    pad = " " * 23
    webhooks = f"\n{pad}".join(f"{base}/webhooks/{provider}" for provider in PROVIDERS)
    samples = "\n".join(
        f"  .venv/bin/dsync sample --provider {provider}" + url.format(base=base, provider=provider)
        for provider in PROVIDERS
    )
    elsewhere = (
        ""
        if env_file == devenv.DEFAULT_PATH
        else f"\nIn another terminal, first:  export {devenv.PATH_VARIABLE}='{env_file}'\n"
    )
    worker_metrics = f"{admin}/metrics" if settings.worker_admin_port else "(off)"
    return f"""
dsync is running (Ctrl-C stops everything).

  Webhook URLs         {webhooks}
  Health / readiness   {base}/healthz   {base}/readyz
  Ingress metrics      {base}/metrics
  Worker metrics       {worker_metrics}
  SCIM server          {settings.scim_base_url()}/scim/v2/directories/<id>   (dsync scim connect)
  Kafka bootstrap      {settings.kafka_bootstrap_servers}   (topic {settings.events_topic})
  Settings             {env_file}   (the other dsync commands read it while this runs)
{elsewhere}
Send a correctly signed sample event (send one twice: the second changes nothing):

{samples}

Then look at the table:

  .venv/bin/dsync query 'SELECT id, provider, state, updated_at FROM dsync.users'

Database URL, secrets and the rest in your shell (for psql and other tools):

  . {env_file}
"""
