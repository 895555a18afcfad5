"""`dsync dev` and `dsync sample` take their providers from the registry
(schemas/providers.py): every registered provider with a webhook gets a dev secret its
verifier accepts, a line in the env file, and a sample; one without (SCIM) gets none."""

from __future__ import annotations

from pydantic import SecretStr

from dsync.settings import load_settings
from dsync.shell import dev, sample
from schemas.providers import PROVIDERS as REGISTRY

WEBHOOK_SOURCES = tuple(spec.source for spec in REGISTRY if spec.webhook)


def test_the_lists_are_the_registrys_webhook_providers() -> None:
    assert sample.PROVIDERS == WEBHOOK_SOURCES
    assert dev.PROVIDERS == WEBHOOK_SOURCES
    assert "scim" not in WEBHOOK_SOURCES  # registered, but without a webhook


def test_every_webhook_provider_gets_a_dev_secret_its_check_accepts() -> None:
    settings = dev.with_dev_secrets(load_settings({}))

    for spec in REGISTRY:
        if spec.webhook is None:
            continue
        configured: tuple[SecretStr, ...] = getattr(settings, spec.webhook.secrets_setting)
        assert len(configured) == 1, spec.source
        if spec.webhook.check_secret is not None:
            spec.webhook.check_secret(configured[0].get_secret_value())  # raises if misread


def test_a_configured_secret_is_kept() -> None:
    settings = load_settings({"DSYNC_POLIS_WEBHOOK_SECRETS": "mine"})

    kept = dev.with_dev_secrets(settings).polis_webhook_secrets

    assert [s.get_secret_value() for s in kept] == ["mine"]


def test_the_env_file_names_every_webhook_providers_secrets() -> None:
    settings = dev.with_dev_secrets(
        load_settings(
            {"DSYNC_DATABASE_URL": "postgresql://x/y", "DSYNC_KAFKA_BOOTSTRAP_SERVERS": "k:9092"}
        )
    )

    values = dev.env_values(settings)

    for spec in REGISTRY:
        if spec.webhook is not None:
            variable = f"DSYNC_{spec.webhook.secrets_setting.upper()}"
            secret = getattr(settings, spec.webhook.secrets_setting)[0].get_secret_value()
            assert values[variable] == secret
