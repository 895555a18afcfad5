"""The readiness check is shared: a flood of probes costs the broker one check per second."""

from __future__ import annotations

import asyncio

import pytest

from webhook_ingress.readiness import SharedCheck


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowCheck:
    """Counts its runs; each run waits until released."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.runs += 1
        await self.release.wait()
        return f"answer {self.runs}"


async def test_a_flood_of_concurrent_probes_runs_one_check() -> None:
    check, clock = SlowCheck(), Clock()
    shared = SharedCheck(check, 1.0, clock)

    probes = [asyncio.create_task(shared()) for _ in range(500)]
    await asyncio.sleep(0)
    check.release.set()
    answers = await asyncio.gather(*probes)

    assert check.runs == 1
    assert set(answers) == {"answer 1"}


async def test_the_answer_is_reused_for_the_ttl_then_checked_again() -> None:
    check, clock = SlowCheck(), Clock()
    check.release.set()
    shared = SharedCheck(check, 1.0, clock)

    first = await shared()
    clock.now += 0.99
    within = [await shared() for _ in range(100)]
    clock.now += 0.02
    after = await shared()

    assert (first, set(within), after) == ("answer 1", {"answer 1"}, "answer 2")
    assert check.runs == 2


async def test_a_probe_that_goes_away_does_not_cancel_the_shared_check() -> None:
    check, clock = SlowCheck(), Clock()
    shared = SharedCheck(check, 1.0, clock)

    leaving = asyncio.create_task(shared())
    staying = asyncio.create_task(shared())
    await asyncio.sleep(0)
    leaving.cancel()
    check.release.set()

    assert await staying == "answer 1"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert check.runs == 1


async def test_a_failed_check_is_not_cached() -> None:
    clock = Clock()
    runs = 0

    async def failing_once() -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("bug")
        return "ready"

    shared = SharedCheck(failing_once, 1.0, clock)

    with pytest.raises(RuntimeError):
        await shared()
    assert await shared() == "ready"
