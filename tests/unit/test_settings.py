"""Settings come from an injected mapping, never implicitly from os.environ."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from dsync.settings import ConfigError, Settings, load_settings


def test_defaults_without_any_variable() -> None:
    settings = load_settings({})
    assert settings.ingress_port == 8000
    assert settings.database_url is None
    assert settings.workos_webhook_secrets == ()


def test_reads_dsync_variables_from_passed_mapping() -> None:
    settings = load_settings(
        {
            "DSYNC_INGRESS_PORT": "9000",
            "DSYNC_EVENTS_TOPIC": "custom.events",
            "DSYNC_SIGNATURE_TOLERANCE_SECONDS": "60.5",
            "DSYNC_KAFKA_IDEMPOTENT_PRODUCER": "true",
            "DSYNC_LOG_LEVEL": "debug",
        }
    )
    assert settings.ingress_port == 9000
    assert settings.events_topic == "custom.events"
    assert settings.signature_tolerance_seconds == 60.5
    assert settings.kafka_idempotent_producer is True
    assert settings.log_level == "debug"


def test_does_not_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSYNC_INGRESS_PORT", "1234")
    monkeypatch.setenv("DSYNC_DATABASE_URL", "postgresql://from-os-environ/db")
    settings = load_settings({})
    assert settings.ingress_port == 8000
    assert settings.database_url is None


def test_ignores_variables_without_prefix_and_unknown_dsync_variables() -> None:
    settings = load_settings(
        {
            "INGRESS_PORT": "1",
            "dsync_ingress_port": "2",
            "DSYNC_TEST_DATABASE_URL": "postgresql://test-only/db",
            "DSYNC_NOT_A_SETTING": "x",
        }
    )
    assert settings.ingress_port == 8000
    assert settings.database_url is None


def test_comma_separated_secrets_become_stripped_secret_tuple() -> None:
    settings = load_settings({"DSYNC_WORKOS_WEBHOOK_SECRETS": " sk_one , ,sk_two,, "})
    secrets = settings.workos_webhook_secrets
    assert isinstance(secrets, tuple)
    assert all(isinstance(secret, SecretStr) for secret in secrets)
    assert [secret.get_secret_value() for secret in secrets] == ["sk_one", "sk_two"]


def test_single_secret_becomes_one_element_tuple() -> None:
    settings = load_settings({"DSYNC_WORKOS_WEBHOOK_SECRETS": "sk_only"})
    assert [s.get_secret_value() for s in settings.workos_webhook_secrets] == ["sk_only"]


def test_repr_and_str_do_not_contain_secret_values() -> None:
    settings = load_settings(
        {
            "DSYNC_WORKOS_WEBHOOK_SECRETS": "sk_live_supersecret1,sk_live_supersecret2",
            "DSYNC_DATABASE_URL": "postgresql://user:hunter2@db/dsync",
        }
    )
    for text in (repr(settings), str(settings)):
        assert "supersecret" not in text
        assert "hunter2" not in text


def test_empty_string_is_treated_as_unset() -> None:
    settings = load_settings(
        {
            "DSYNC_INGRESS_PORT": "",
            "DSYNC_DATABASE_URL": "",
            "DSYNC_WORKOS_WEBHOOK_SECRETS": "",
            "DSYNC_EVENTS_TOPIC": "",
        }
    )
    assert settings.ingress_port == 8000
    assert settings.database_url is None
    assert settings.workos_webhook_secrets == ()
    assert settings.events_topic == "dsync.events"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DSYNC_INGRESS_PORT", "abc"),
        ("DSYNC_INGRESS_PORT", "70000"),
        ("DSYNC_MAX_BODY_BYTES", "10"),
        ("DSYNC_SIGNATURE_TOLERANCE_SECONDS", "0"),
        ("DSYNC_WORKER_MAX_BATCH", "0"),
        ("DSYNC_LOG_LEVEL", "verbose"),
    ],
)
def test_invalid_value_raises_validation_error(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        load_settings({name: value})


def test_overrides_win_over_environment() -> None:
    settings = load_settings({"DSYNC_INGRESS_PORT": "9000"}, ingress_port=9100)
    assert settings.ingress_port == 9100


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ValidationError):
        load_settings({}, not_a_setting=1)


def test_require_database_url_raises_config_error_when_unset() -> None:
    with pytest.raises(ConfigError, match="DSYNC_DATABASE_URL"):
        load_settings({}).require_database_url()


def test_require_database_url_returns_plain_value_when_set() -> None:
    url = "postgresql://user:pw@db/dsync"
    assert load_settings({"DSYNC_DATABASE_URL": url}).require_database_url() == url


def test_require_bootstrap_servers_raises_config_error_when_unset() -> None:
    with pytest.raises(ConfigError, match="DSYNC_KAFKA_BOOTSTRAP_SERVERS"):
        load_settings({}).require_bootstrap_servers()


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError):
        settings.ingress_port = 1  # type: ignore[misc]
    assert settings.ingress_port == 8000


def test_settings_model_is_frozen_and_forbids_extra() -> None:
    assert Settings.model_config.get("frozen") is True
    assert Settings.model_config.get("extra") == "forbid"
