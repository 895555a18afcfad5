"""dsync.provider_http against the WorkOS stand-in: retries that neither lose a read nor
storm the provider, Retry-After honoured, refusals not retried, the key never shown."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from dsync.provider_http import (
    ProviderHttp,
    ProviderRefused,
    ProviderUnavailable,
    Rate,
    RetryPolicy,
    retry_after,
)
from tests.standins.server import Fault
from tests.standins.workos import WorkOSStandIn

KEY = "sk_test_provider_http_0123456789"
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.04, max_retry_after=0.5)


class Sleeps:
    """Records each requested wait and waits a tenth of it (so tests stay fast)."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(min(seconds, 0.05))


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(KEY) as running:
        running.truth.add_directory()
        yield running


def _client(
    standin: WorkOSStandIn, sleeps: Sleeps, rng: random.Random | None = None
) -> ProviderHttp:
    return ProviderHttp(standin.url, SecretStr(KEY), timeout=2, policy=FAST, sleep=sleeps, rng=rng)


async def test_retry_after_is_honoured_and_capped(standin: WorkOSStandIn) -> None:
    standin.faults.add(Fault(429, retry_after="0"), Fault(429, retry_after="120"))
    sleeps = Sleeps()
    client = _client(standin, sleeps)
    try:
        document = await client.get_json("/directories")
    finally:
        await client.close()
    assert len(document["data"]) == 1
    assert sleeps.asked == [0.0, FAST.max_retry_after]
    assert client.statuses == {"429": 2, "200": 1}


async def test_backoff_without_retry_after_grows_with_jitter_and_cap(
    standin: WorkOSStandIn,
) -> None:
    standin.faults.add(Fault(429), Fault(503), Fault(drop=True))
    sleeps = Sleeps()
    client = _client(standin, sleeps, rng=random.Random(7))
    try:
        await client.get_json("/directories")
    finally:
        await client.close()
    ceilings = [0.01, 0.02, 0.04]
    assert len(sleeps.asked) == 3
    for asked, ceiling in zip(sleeps.asked, ceilings, strict=True):
        assert ceiling / 2 <= asked <= ceiling
    assert client.statuses == {"429": 1, "503": 1, "network": 1, "200": 1}
    assert standin.traffic.dropped == 1


async def test_persistent_failure_gives_up_after_max_attempts(standin: WorkOSStandIn) -> None:
    standin.faults.add(*[Fault(500) for _ in range(10)])
    client = _client(standin, Sleeps())
    try:
        with pytest.raises(ProviderUnavailable):
            await client.get_json("/directories")
    finally:
        await client.close()
    assert standin.traffic.total == FAST.max_attempts  # no storm: exactly the budget
    assert standin.faults.pending == 10 - FAST.max_attempts


async def test_refusal_is_not_retried_and_never_shows_the_key(
    standin: WorkOSStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = ProviderHttp(standin.url, SecretStr("sk_wrong_key_secret"), policy=FAST)
    try:
        with pytest.raises(ProviderRefused) as refused:
            await client.get_json("/directories", {"limit": "5"})
    finally:
        await client.close()
    assert refused.value.status == 401
    assert standin.traffic.total == 1
    assert "sk_wrong_key_secret" not in str(refused.value) + repr(client.__dict__)
    assert "sk_wrong_key_secret" not in caplog.text


async def test_keyed_rate_paces_one_key_only(standin: WorkOSStandIn) -> None:
    client = ProviderHttp(standin.url, SecretStr(KEY), keyed_rate=Rate(10.0, 2.0))
    try:
        started = time.monotonic()
        for _ in range(6):  # 2 from the burst, then 4 at 10 per second
            await client.get_json("/directories", rate_key="directory_a")
        paced = time.monotonic() - started
        started = time.monotonic()
        await client.get_json("/directories", rate_key="directory_b")
        other = time.monotonic() - started
    finally:
        await client.close()
    assert paced >= 0.35
    assert other < 0.1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("3", now=0) == 3.0
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == 10.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490) == 0.0
    assert retry_after("soon", now=0) is None
    assert retry_after(None, now=0) is None


HOSTILE_2XX_BODIES = [
    b"<html><body>proxy login</body></html>",
    b'{"data": [{"id": "\xff\xfe"}]}',  # not UTF-8
    b'{"data": "\\ud800"}',  # a lone surrogate: not a Unicode string
    b'{"data": [',  # cut short
    b"\x00" * 64,
]


async def test_a_2xx_that_is_not_json_is_retried_never_parsed_or_quoted(
    standin: WorkOSStandIn,
) -> None:
    """A proxy's page or a broken body under a 200 is no answer: retried within the budget,
    and once the budget is spent the error names no byte of it."""
    standin.faults.add(*[Fault(200, body=body) for body in HOSTILE_2XX_BODIES[:3]])
    client = _client(standin, Sleeps())
    try:
        document = await client.get_json("/directories")
        assert document["object"] == "list"
        assert standin.traffic.total == 4  # three refused bodies, then the real answer

        spent = [HOSTILE_2XX_BODIES[i] for i in (0, 3, 4, 0)]
        standin.faults.add(*[Fault(200, body=body) for body in spent])
        with pytest.raises(ProviderUnavailable) as unavailable:
            await client.get_json("/directories")
    finally:
        await client.close()
    assert standin.traffic.total == 4 + FAST.max_attempts
    assert "proxy" not in str(unavailable.value)
    assert "\\x00" not in repr(unavailable.value)
