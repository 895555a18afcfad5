"""One frozen settings object per process, built from an injectable environment mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from schemas.providers import WEBHOOK_PROVIDERS, Webhook

ENV_PREFIX = "DSYNC_"
# One secrets field per provider with a webhook (`Webhook.secrets_setting`), declared below
# so mypy knows it; the registry test asserts the two agree.
_WEBHOOKS: dict[str, Webhook] = {
    p.webhook.secrets_setting: p.webhook for p in WEBHOOK_PROVIDERS if p.webhook is not None
}

Secrets = tuple[SecretStr, ...]


class Settings(BaseModel):
    """Every knob of dsync. Environment variable = `DSYNC_` + field name in upper case."""

    # Inputs stay out of error messages: a bad secret would print every secret beside it.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    # Connections. None means "start an embedded server" (only `dsync dev` does that).
    database_url: SecretStr | None = None
    kafka_bootstrap_servers: str | None = None

    # Topics.
    events_topic: str = "dsync.events"
    events_topic_partitions: Annotated[int, Field(ge=1)] = 6
    # Events that verified but could not be applied (also kept in dsync_internal.dead_letters).
    dead_letter_topic: str = "dsync.events.dlq"
    # Access changes (account.deprovisioned, role.changed, ...) for downstream caches.
    changes_topic: str = "dsync.changes"
    changes_topic_partitions: Annotated[int, Field(ge=1)] = 6

    # Ingress.
    ingress_host: str = "127.0.0.1"
    ingress_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    workos_webhook_secrets: Secrets = ()
    stytch_webhook_secrets: Secrets = ()
    polis_webhook_secrets: Secrets = ()
    signature_tolerance_seconds: Annotated[float, Field(gt=0)] = 180.0
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    # The request line and headers together (AWS ALB's limit is 64 KiB too); more gets 431.
    max_header_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    # From connecting (or from a keep-alive request's first byte) to the end of its
    # headers; then 408 and close (HAProxy's usual `timeout http-request`).
    header_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # From the end of the headers to the end of the body (a whole webhook, at most
    # max_body_bytes); then 408 and close.
    body_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    broker_ack_timeout_seconds: Annotated[float, Field(gt=0)] = 3.0
    kafka_idempotent_producer: bool = False
    # After SIGTERM the ingress stops accepting connections and gives requests in flight
    # this long to finish; then it cancels them (their senders retry). Keep Kubernetes'
    # terminationGracePeriodSeconds above it.
    shutdown_grace_seconds: Annotated[int, Field(ge=1)] = 20

    # SCIM server (`dsync scim`). Its public URL, for `dsync scim connect`'s base_url and
    # meta.location; None: http://scim_host:scim_port.
    scim_host: str = "127.0.0.1"
    scim_port: Annotated[int, Field(ge=0, le=65535)] = 8001
    scim_public_url: str | None = None
    # How long a SCIM write waits for the worker's commit before answering 503 + Retry-After.
    scim_commit_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0

    # Worker.
    worker_group_id: str = "dsync-worker"
    worker_max_batch: Annotated[int, Field(ge=1)] = 2000
    # `dsync rebuild` is one transaction that nothing waits on batch by batch: larger
    # batches mean fewer statements and plans for the same rows (about 1 KB each in memory).
    rebuild_batch: Annotated[int, Field(ge=1)] = 10_000
    worker_poll_timeout_seconds: Annotated[float, Field(gt=0)] = 0.5
    # How long the broker may hold a fetch that has no data yet. Kafka answers as soon as
    # data arrives; a broker that holds the whole wait (the embedded one) adds up to this
    # much to every event's latency, so keep it small. Idle cost: one fetch per wait.
    worker_fetch_max_wait_ms: Annotated[int, Field(ge=1, le=10_000)] = 50
    # How long the group waits for a silent worker before giving its partitions away.
    # Some brokers (the embedded one) also hold every join for half of it, so `dsync dev`
    # shortens it on its own broker: its worker holds partitions 2 s after start, not 5.
    worker_session_timeout_ms: Annotated[int, Field(ge=1000)] = 10_000
    database_pool_size: Annotated[int, Field(ge=1)] = 4
    # A batch in which more than this share would be dead-lettered stops the worker
    # instead (a bad deploy must not dead-letter everything); batches under the minimum
    # size are exempt.
    dead_letter_max_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    dead_letter_min_batch: Annotated[int, Field(ge=1)] = 10
    worker_admin_host: str = "127.0.0.1"
    worker_admin_port: Annotated[int, Field(ge=0, le=65535)] = 9100  # 0: no admin port
    # An applied event slower than this (received at ingress -> committed) marks its
    # directory degraded until a batch of its events is back within it.
    sync_latency_budget_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Bearer token for `GET /diagnostics` on the admin port; None: the endpoint is off.
    diagnostics_token: SecretStr | None = None

    # Pull sources (`dsync pull workos`): the WorkOS API key of one environment (sk_...).
    workos_api_key: SecretStr | None = None
    workos_api_base_url: str = "https://api.workos.com"

    # Reconciliation (`dsync reconcile`) reads Stytch and Polis through their list APIs too.
    stytch_project_id: str | None = None
    stytch_secret: SecretStr | None = None
    stytch_api_base_url: str = "https://api.stytch.com"  # https://test.stytch.com for test
    polis_api_key: SecretStr | None = None
    polis_api_base_url: str | None = None  # self-hosted: the deployment's URL

    # Logs.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    @field_validator(*_WEBHOOKS, mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator(*_WEBHOOKS)
    @classmethod
    def _check_secrets(cls, value: Secrets, info: ValidationInfo) -> Secrets:
        """The provider's own check (its spec's `check_secret`), so a secret its verifier
        would misread fails at start rather than on every webhook."""
        check = _WEBHOOKS[str(info.field_name)].check_secret
        if check is not None:
            for secret in value:
                check(secret.get_secret_value())
        return value

    def webhook_secrets(self, setting: str) -> tuple[str, ...]:
        """The plain secrets in `setting`, a webhook's `secrets_setting`."""
        secrets: Secrets = getattr(self, setting)
        return tuple(secret.get_secret_value() for secret in secrets)

    def scim_base_url(self) -> str:
        return (self.scim_public_url or f"http://{self.scim_host}:{self.scim_port}").rstrip("/")

    def topic_partitions(self) -> dict[str, int]:
        """Every topic dsync produces to, with its partition count (`dsync topics`)."""
        return {
            self.events_topic: self.events_topic_partitions,
            self.dead_letter_topic: 1,
            self.changes_topic: self.changes_topic_partitions,
        }

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError(not_set("DSYNC_DATABASE_URL", "--database-url"))
        return self.database_url.get_secret_value()

    def require_bootstrap_servers(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise ConfigError(not_set("DSYNC_KAFKA_BOOTSTRAP_SERVERS", "--kafka-bootstrap-servers"))
        return self.kafka_bootstrap_servers


def not_set(variable: str, flag: str | None = None) -> str:
    """The message for a missing setting: every way to give it."""
    ways = f"set {variable}" + (f" or pass {flag}" if flag else "")
    return (
        f"{variable} is not set: {ways}, or start `dsync dev`"
        " (while it runs, the other commands read its .dsync/dev/env)"
    )


class ConfigError(Exception):
    """The configuration cannot run this command; the message says which setting."""


def load_settings(environ: Mapping[str, str], **overrides: object) -> Settings:
    """Build settings from `DSYNC_*` variables of `environ`; `overrides` win over it.

    Unknown `DSYNC_*` variables are ignored except that test-only ones never leak in.
    """
    known = Settings.model_fields
    values: dict[str, object] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in known and raw != "":
            values[name] = raw
    values.update(overrides)
    return Settings.model_validate(values)
