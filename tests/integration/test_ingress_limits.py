"""What a hostile or broken client can hold of a real `dsync ingress`: header bytes are
capped (431), and slow headers and slow bodies are cut off at their timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.processes import Listening, start_ingress
from tests.support import signed_headers, user_event

pytestmark = pytest.mark.kafka

MiB = 1024 * 1024
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
# Room for a loaded machine (two cores, six engineers); the bound asserted is still the
# configured timeout plus this, far below the 30-40 s the probe of issue 17 saw.
SLACK = 2.5


@pytest.fixture
async def ingress(kafka_bootstrap: str, topic: str) -> AsyncIterator[Listening]:
    running = await start_ingress(
        kafka_bootstrap,
        topic,
        header_timeout_seconds=str(HEADER_TIMEOUT),
        body_timeout_seconds=str(BODY_TIMEOUT),
    )
    try:
        yield running
    finally:
        running.running.kill()
        await running.running.exited()


def signed_request(*, extra_headers: bytes = b"", body: bytes | None = None) -> bytes:
    payload = body if body is not None else json.dumps(user_event()).encode()
    headers = signed_headers(payload)
    lines = [
        b"POST /webhooks/workos HTTP/1.1",
        b"Host: ingress",
        *(f"{name}: {value}".encode() for name, value in headers.items()),
        f"Content-Length: {len(payload)}".encode(),
    ]
    return b"\r\n".join(lines) + b"\r\n" + extra_headers + b"\r\n" + payload


async def status_of(reader: asyncio.StreamReader, within: float = 60.0) -> int | None:
    """The response's status code, or None when the server closed without one."""
    try:
        async with asyncio.timeout(within):
            line = await reader.readline()
    except (ConnectionError, TimeoutError):
        return None
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


async def closed_after(reader: asyncio.StreamReader, started: float, within: float) -> float:
    """Seconds from `started` until the server closed the connection (inf: it did not)."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return float("inf")
    except ConnectionError:
        pass
    return time.monotonic() - started


async def send_padded(port: int, padding: list[bytes]) -> int | None:
    """A signed webhook whose header block carries `padding` (header lines) first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = signed_request()
        head, rest = request.split(b"\r\n", 1)
        writer.write(head + b"\r\n")
        for line in padding:
            writer.write(line)
            await writer.drain()
        writer.write(rest)
        await writer.drain()
    except ConnectionError:
        pass  # the server stopped reading: an answer may still be waiting
    status = await status_of(reader)
    await hang_up(writer)
    return status


async def hang_up(writer: asyncio.StreamWriter, *tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def metric(ingress: Listening, sample: str) -> float:
    """A sample of the ingress's /metrics (0 when absent), e.g. 'name{label="v"}'."""
    async with httpx.AsyncClient(base_url=ingress.url) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def refused(reason: str) -> str:
    return f'dsync_ingress_connections_refused_total{{reason="{reason}"}}'


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def padding_of(shape: str) -> list[bytes]:
    """16 MiB of header lines: 16,384 headers of 1 KiB, or one header of 16 MiB."""
    if shape == "many":
        return [b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(16 * 1024)]
    value = b"a" * MiB
    return [b"X-Pad: ", *([value] * 16), b"\r\n"]


@pytest.mark.parametrize("shape", ["many", "one_huge"])
async def test_oversized_headers_get_431_or_a_close_and_memory_stays_bounded(
    ingress: Listening, shape: str
) -> None:
    pid = ingress.running.process.pid
    assert await send_padded(ingress.port, []) == 200  # warm: everything is loaded
    baseline = rss_kib(pid, "VmRSS")

    padding = padding_of(shape)
    answers = await asyncio.gather(*(send_padded(ingress.port, padding) for _ in range(20)))
    peak = rss_kib(pid, "VmHWM")
    print(f"ingress RSS {baseline // 1024} MiB, peak {peak // 1024} MiB, 20 x 16 MiB ({shape})")

    # Never 200: no such request reaches the app. Whether the 431 arrives depends on
    # how much the sender had in flight when the connection closed.
    assert set(answers) <= {431, None}
    assert peak - baseline < 64 * 1024  # KiB: was ~750 MB
    assert await metric(ingress, refused("headers_too_large")) == 20
    assert await send_padded(ingress.port, []) == 200  # and it still serves


async def test_a_sender_that_stops_after_too_many_header_bytes_reads_431(
    ingress: Listening,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(100))
    writer.write(signed_request(extra_headers=pad))
    await writer.drain()
    status = await status_of(reader)
    closed = await closed_after(reader, time.monotonic(), within=10)
    await hang_up(writer)

    assert status == 431
    assert closed < 10


async def test_headers_under_the_cap_with_a_large_body_are_served(ingress: Listening) -> None:
    """The header count stops at the end of the headers: body bytes that arrive in the
    same reads are not counted as header bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(30))
    event = user_event()
    event["pad"] = "b" * (900 * 1024)
    writer.write(signed_request(extra_headers=pad, body=json.dumps(event).encode()))
    await writer.drain()

    status = await status_of(reader)
    await hang_up(writer)

    assert status == 200


async def test_slow_and_silent_header_senders_are_closed_at_the_header_timeout(
    ingress: Listening,
) -> None:
    async def silent() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
        started = time.monotonic()
        took = await closed_after(reader, started, within=HEADER_TIMEOUT + 10)
        await hang_up(writer)
        return took

    async def trickling() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
        started = time.monotonic()
        writer.write(b"POST /webhooks/workos HTTP/1.1\r\nHost: ingress\r\n")

        async def drip() -> None:
            for n in range(100):
                writer.write(b"X-Slow-%d: 1\r\n" % n)
                await asyncio.sleep(0.2)

        dripping = asyncio.create_task(drip())
        took = await closed_after(reader, started, within=HEADER_TIMEOUT + 10)
        await hang_up(writer, dripping)
        return took

    took = await asyncio.gather(*(silent() for _ in range(50)), *(trickling() for _ in range(50)))

    assert max(took) < HEADER_TIMEOUT + SLACK
    # Not before the timeout: the client starts its clock only once its own (busy) loop
    # sees the connection, which can be later than the server arming the timer.
    assert min(took) >= HEADER_TIMEOUT * 0.5
    # Counted: the 50 that sent something (408); the silent ones are just closed.
    assert await metric(ingress, refused("header_timeout")) == 50


async def test_an_idle_keep_alive_connection_is_not_cut_by_the_header_timeout(
    ingress: Listening,
) -> None:
    """Between requests the keep-alive timeout (75 s) applies, not the header timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    writer.write(signed_request())
    first = await status_of(reader)
    await reader.readuntil(b"}")  # the body of the first answer
    await asyncio.sleep(HEADER_TIMEOUT * 2)
    writer.write(signed_request())
    second = await status_of(reader)
    await hang_up(writer)

    assert (first, second) == (200, 200)


async def test_a_slow_body_gets_408_and_a_close_at_the_body_timeout(ingress: Listening) -> None:
    async def slow_body() -> tuple[int | None, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
        body = json.dumps(user_event()).encode()
        request = signed_request(body=body)
        head = request[: len(request) - len(body)]
        started = time.monotonic()
        writer.write(head + body[:10])

        async def drip() -> None:
            for byte in body[10:]:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.2)

        dripping = asyncio.create_task(drip())
        status = await status_of(reader, within=BODY_TIMEOUT + 10)
        took = await closed_after(reader, started, within=BODY_TIMEOUT + 10)
        await hang_up(writer, dripping)
        return status, took

    answers = await asyncio.gather(*(slow_body() for _ in range(50)))

    assert {status for status, _ in answers} == {408}
    assert max(took for _, took in answers) < BODY_TIMEOUT + SLACK
    sample = (
        'dsync_ingress_requests_total{event_type="unknown",outcome="body_timeout",'
        'provider="workos"}'
    )
    assert await metric(ingress, sample) == 50


async def test_a_slow_body_nobody_reads_is_closed_too(ingress: Listening) -> None:
    """A path that answers without reading the body (here 405) must not keep the
    connection for as long as the sender drips."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    started = time.monotonic()
    writer.write(b"PUT /healthz HTTP/1.1\r\nHost: ingress\r\nContent-Length: 1000\r\n\r\nx")

    async def drip() -> None:
        for _ in range(200):
            writer.write(b"x")
            await asyncio.sleep(0.2)

    dripping = asyncio.create_task(drip())
    status = await status_of(reader, within=BODY_TIMEOUT + 10)
    took = await closed_after(reader, started, within=BODY_TIMEOUT + 10)
    await hang_up(writer, dripping)

    assert status == 405
    assert took < BODY_TIMEOUT + 1.0 + SLACK  # the body timeout, plus a second of grace
    assert await metric(ingress, refused("body_timeout")) == 1


async def test_a_huge_request_line_gets_431_or_a_close(ingress: Listening) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    try:
        writer.write(b"GET /healthz?" + b"q" * (4 * MiB))
        await writer.drain()
        writer.write(b" HTTP/1.1\r\nHost: ingress\r\n\r\n")
        await writer.drain()
    except ConnectionError:
        pass
    status = await status_of(reader)
    await hang_up(writer)

    assert status in {431, None}
    assert await metric(ingress, refused("headers_too_large")) == 1


async def test_a_kept_alive_connection_s_next_request_must_send_its_headers_in_time(
    ingress: Listening,
) -> None:
    """The header clock restarts at the first byte of each request on the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    writer.write(signed_request())
    first = await status_of(reader)
    await reader.readuntil(b"}")
    started = time.monotonic()
    writer.write(b"POST /webhooks/workos HTTP/1.1\r\n")

    async def drip() -> None:
        for n in range(100):
            writer.write(b"X-Slow-%d: 1\r\n" % n)
            await asyncio.sleep(0.2)

    dripping = asyncio.create_task(drip())
    second = await status_of(reader, within=HEADER_TIMEOUT + 10)
    took = await closed_after(reader, started, within=HEADER_TIMEOUT + 10)
    await hang_up(writer, dripping)

    assert (first, second) == (200, 408)
    assert HEADER_TIMEOUT * 0.9 <= took < HEADER_TIMEOUT + SLACK
