"""`dsync sample` as a real process against a real ingress: one per provider, and the exit
status says whether the answer was the one asked for (200, 401 with --tamper, 413 with
--pad-to past the cap)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dsync.embedded import free_port
from tests.processes import Listening, run_dsync, start_ingress

pytestmark = [pytest.mark.kafka]

SECRETS = {
    "DSYNC_WORKOS_WEBHOOK_SECRETS": "sk_test_sample_command",
    "DSYNC_STYTCH_WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "DSYNC_POLIS_WEBHOOK_SECRETS": "polis-sample-command",
}


@pytest.fixture
async def ingress(kafka_bootstrap: str, topic: str) -> AsyncIterator[Listening]:
    running = await start_ingress(
        kafka_bootstrap, topic, **{name[len("DSYNC_") :]: value for name, value in SECRETS.items()}
    )
    try:
        yield running
    finally:
        await running.running.terminate()


def _env(ingress: Listening, **changes: str) -> dict[str, str]:
    """What a shell next to this ingress would have: its address and secrets."""
    return {
        "DSYNC_INGRESS_HOST": ingress.host,
        "DSYNC_INGRESS_PORT": str(ingress.port),
        **SECRETS,
        **changes,
    }


@pytest.mark.parametrize("provider", ["workos", "stytch", "polis"])
async def test_each_provider_gets_what_it_asked_for(ingress: Listening, provider: str) -> None:
    env = _env(ingress)
    normal = await run_dsync(env, "sample", "--provider", provider)
    tamper = await run_dsync(env, "sample", "--provider", provider, "--tamper")
    large = await run_dsync(env, "sample", "--provider", provider, "--pad-to", "2097152")
    padded = await run_dsync(env, "sample", "--provider", provider, "--pad-to", "500000")

    assert (normal[0], normal[1].split()[0]) == (0, "200"), normal
    assert (tamper[0], tamper[1].split()[0]) == (0, "401"), tamper
    assert (large[0], large[1][:3]) == (0, "413"), large
    assert (padded[0], padded[1].split()[0]) == (0, "200"), padded


async def test_workos_is_the_default_provider(ingress: Listening) -> None:
    code, out, err = await run_dsync(
        _env(ingress, DSYNC_STYTCH_WEBHOOK_SECRETS="", DSYNC_POLIS_WEBHOOK_SECRETS=""), "sample"
    )
    assert (code, out.split()[0]) == (0, "200"), (out, err)


@pytest.mark.parametrize(
    ("provider", "variable", "wrong"),
    [
        ("workos", "DSYNC_WORKOS_WEBHOOK_SECRETS", "not-the-ingress-secret"),
        ("stytch", "DSYNC_STYTCH_WEBHOOK_SECRETS", "whsec_plJ3nmyCDGBKInavdOK15jsl"),
        ("polis", "DSYNC_POLIS_WEBHOOK_SECRETS", "not-the-ingress-secret"),
    ],
)
async def test_an_answer_other_than_the_one_asked_for_exits_non_zero(
    ingress: Listening, provider: str, variable: str, wrong: str
) -> None:
    env = _env(ingress, **{variable: wrong})
    code, out, err = await run_dsync(env, "sample", "--provider", provider)
    assert code != 0
    assert out.split()[0] == "401"
    assert "expected 200, got 401" in err
    assert wrong not in out + err  # the secret is never echoed


async def test_tamper_answered_other_than_401_exits_non_zero(ingress: Listening) -> None:
    """--tamper asks for a 401: a 404 (no secret configured for the provider) is not it."""
    url = f"{ingress.url}/webhooks/nonexistent"
    code, _out, err = await run_dsync(_env(ingress), "sample", "--tamper", "--url", url)
    assert code != 0
    assert "expected 401" in err


async def test_unreachable_ingress_exits_non_zero_with_a_message() -> None:
    env = {**SECRETS, "DSYNC_INGRESS_HOST": "127.0.0.1", "DSYNC_INGRESS_PORT": str(free_port())}
    code, _out, err = await run_dsync(env, "sample", "--provider", "polis")
    assert code != 0
    assert "Traceback" not in err
    assert "cannot reach" in err


async def test_missing_secret_names_the_variable(ingress: Listening) -> None:
    env = _env(ingress, DSYNC_STYTCH_WEBHOOK_SECRETS="")
    code, _out, err = await run_dsync(env, "sample", "--provider", "stytch")
    assert code != 0
    assert "DSYNC_STYTCH_WEBHOOK_SECRETS" in err
