"""`dsync sample`'s pure core: each provider's sample is signed the way its verifier in
webhook_ingress checks, the worker's model accepts it, and the answer it must get is known."""

from __future__ import annotations

import json
import time

import pytest
from starlette.datastructures import Headers

from dsync.settings import load_settings
from dsync.shell.sample import (
    PROVIDERS,
    Provider,
    default_url,
    expected_status,
    padded,
    sample,
    signed_headers,
    tampered,
)
from schemas import polis as polis_schema
from schemas import stytch as stytch_schema
from schemas import workos as workos_schema
from webhook_ingress import polis, stytch, workos
from webhook_ingress.verification import SignatureMismatch, Verified

SECRETS = {
    "workos": "sk_test_sample_secret",
    "stytch": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "polis": "polis-sample-secret",
}
VERIFY = {"workos": workos.verify, "stytch": stytch.verify, "polis": polis.verify}


def _verify(provider: Provider, body: bytes, headers: dict[str, str]) -> Verified:
    return VERIFY[provider](
        [SECRETS[provider]], Headers(headers), body, now=time.time(), tolerance=180.0
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sample_verifies_with_the_providers_own_verifier(provider: Provider) -> None:
    body = sample(provider).body
    headers = signed_headers(provider, SECRETS[provider], body, now=time.time())
    assert _verify(provider, body, headers).body == body


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tampered_sample_fails_verification(provider: Provider) -> None:
    body = sample(provider).body
    headers = signed_headers(provider, SECRETS[provider], body, now=time.time())
    changed = tampered(body)
    assert changed != body
    assert len(changed) == len(body)
    with pytest.raises(SignatureMismatch):
        _verify(provider, changed, headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sample_signed_with_another_secret_fails(provider: Provider) -> None:
    body = sample(provider).body
    other = "whsec_plJ3nmyCDGBKInavdOK15jsl" if provider == "stytch" else "another"
    headers = signed_headers(provider, other, body, now=time.time())
    with pytest.raises(SignatureMismatch):
        _verify(provider, body, headers)


def test_samples_satisfy_the_workers_models() -> None:
    workos_event = workos_schema.parse_event(sample("workos").body)
    assert isinstance(workos_event, workos_schema.UserEvent)
    assert workos_event.data.id == sample("workos").user_id
    stytch_event = stytch_schema.parse_event(sample("stytch").body)
    assert stytch_event.member is not None
    assert stytch_event.member.member_id == sample("stytch").user_id
    polis_event = polis_schema.parse_event(sample("polis").body)
    assert polis_event.event in polis_schema.KNOWN_EVENT_TYPES
    assert polis_event.user().id == sample("polis").user_id


def test_samples_name_different_users() -> None:
    assert len({sample(provider).user_id for provider in PROVIDERS}) == len(PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("size", [2_000, 1_048_577, 2_097_152])
def test_padded_body_has_exactly_the_size_and_stays_the_same_event(
    provider: Provider, size: int
) -> None:
    body = sample(provider).body
    grown = padded(body, size)
    assert len(grown) == size
    document = json.loads(grown)
    assert {key: value for key, value in document.items() if key != "padding"} == json.loads(body)


def test_padding_smaller_than_the_body_leaves_it_alone() -> None:
    body = sample("workos").body
    assert padded(body, len(body)) == body
    assert padded(body, 0) == body


@pytest.mark.parametrize(
    ("size", "tamper", "status"),
    [
        (1000, False, 200),
        (1000, True, 401),
        (1_048_576, False, 200),  # the cap itself is allowed
        (1_048_577, False, 413),
        (1_048_577, True, 413),  # the size is refused before the signature is read
    ],
)
def test_expected_status(size: int, tamper: bool, status: int) -> None:
    assert expected_status(size, tamper=tamper, max_body_bytes=1_048_576) == status


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123/webhooks/stytch"),
        ("0.0.0.0", "http://127.0.0.1:8123/webhooks/stytch"),  # noqa: S104 - listening address
        ("::", "http://[::1]:8123/webhooks/stytch"),
        ("::1", "http://[::1]:8123/webhooks/stytch"),
        ("dsync.internal", "http://dsync.internal:8123/webhooks/stytch"),
    ],
)
def test_default_url_is_the_providers_path_on_the_configured_ingress(host: str, url: str) -> None:
    settings = load_settings({"DSYNC_INGRESS_HOST": host, "DSYNC_INGRESS_PORT": "8123"})
    assert default_url(settings, "stytch") == url
