"""The benchmark's own parts that could quietly measure the wrong thing: the load
generator's requests and parsing, its open-loop accounting, the baseline's verification
and the B4 stream. No timing assertions."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import uvicorn

from bench import bare
from bench.http1 import CONNECTION_ERROR, Head, Target, _Answers, parse_head, request_bytes
from bench.loadgen import Plan, percentile, run, summarize
from bench.streams import initial_sync_stream, steady_stream
from dsync.embedded import free_port
from tests.served import HOST, serving
from webhook_ingress import workos

SECRET = "whsec_bench_test"
NOW = 1_700_000_000.0
TARGET = Target("127.0.0.1", 8000, "/webhooks/workos")


def _split(request: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}, body


def test_request_carries_a_signature_the_ingress_accepts() -> None:
    body = b'{"id":"event_1"}'
    headers, sent = _split(request_bytes(TARGET, SECRET, body, NOW))
    assert sent == body
    assert headers["content-length"] == str(len(body))
    verified = workos.verify((SECRET,), headers, sent, now=NOW, tolerance=180)
    assert verified.body == body


def test_bare_baseline_accepts_what_workos_signs() -> None:
    body = b'{"id":"event_1"}'
    header = workos.sign(SECRET, body, int(NOW * 1000))
    assert bare.verify(SECRET.encode(), header, body, NOW)


@pytest.mark.parametrize(
    ("body", "now", "secret"),
    [
        (b'{"id":"event_2"}', NOW, SECRET),  # body changed after signing
        (b'{"id":"event_1"}', NOW + 181, SECRET),  # stale
        (b'{"id":"event_1"}', NOW, "whsec_other"),  # wrong secret
    ],
)
def test_bare_baseline_rejects_a_bad_signature(body: bytes, now: float, secret: str) -> None:
    header = workos.sign(SECRET, b'{"id":"event_1"}', int(NOW * 1000))
    assert not bare.verify(secret.encode(), header, body, now)


def test_bare_baseline_rejects_a_malformed_header() -> None:
    assert not bare.verify(SECRET.encode(), "garbage", b"{}", NOW)


def test_answer_head_gives_status_length_and_connection_close() -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: close"
    assert parse_head(head) == Head(503, 5, keep=False)
    assert parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 0") == Head(200, 0, keep=True)
    with pytest.raises(ValueError, match="chunked"):
        parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked")


async def test_answer_split_across_reads_resolves_once_its_body_arrived() -> None:
    answers = _Answers(asyncio.get_running_loop())
    first = answers.expect()
    for part in (b"HTTP/1.1 200 OK\r\ncontent-le", b"ngth: 4\r\n\r\nab", b"cd"):
        assert not first.done()
        answers.data_received(part)
    assert first.result() == Head(200, 4, keep=True)
    second = answers.expect()  # the body was consumed: the next answer parses on its own
    answers.data_received(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
    assert second.result() == Head(401, 0, keep=True)


async def test_answer_nobody_asked_for_fails_the_request() -> None:
    answers = _Answers(asyncio.get_running_loop())
    waiter = answers.expect()
    answers.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n")
    with pytest.raises(ValueError, match="nobody asked"):
        waiter.result()


def test_percentile_is_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 99) == 99.0
    assert percentile(ordered, 100) == 100.0
    assert percentile([], 99) == 0.0


def test_initial_sync_stream_has_the_asked_for_rows() -> None:
    events = initial_sync_stream(users=40, groups=12, memberships=90, directories=4)
    kinds = Counter(event["event"] for event in events)
    assert kinds == {
        "dsync.user.created": 40,
        "dsync.group.created": 12,
        "dsync.group.user_added": 90,
    }
    pairs = {
        (e["data"]["user"]["id"], e["data"]["group"]["id"])
        for e in events
        if e["event"] == "dsync.group.user_added"
    }
    assert len(pairs) == 90
    assert all(
        e["data"]["user"]["directory_id"] == e["data"]["group"]["directory_id"]
        for e in events
        if e["event"] == "dsync.group.user_added"
    )
    assert len({event["id"] for event in events}) == len(events)


@pytest.fixture
async def bare_server() -> AsyncIterator[Target]:
    port = free_port()
    config = uvicorn.Config(bare.create_app(SECRET), host=HOST, port=port, log_level="error")
    async with serving(config):
        yield Target(HOST, port, bare.PATH)


async def test_open_loop_sends_each_due_request_once(bare_server: Target) -> None:
    bodies = [json.dumps(e).encode() for e in steady_stream(7)]
    plan = Plan(connections=3, duration=None, count=None, rate=200.0, cycle=False)
    results, elapsed, _ = await run(bare_server, SECRET, bodies, plan)
    assert sorted(results.index) == list(range(7))
    assert set(results.status) == {"200"}
    summary = summarize(results, plan, elapsed, 0.0, 0.0)
    assert summary["ok"] == 7
    assert summary["errors"] == {}


async def test_closed_loop_counts_refusals_and_dead_servers(bare_server: Target) -> None:
    bodies = [b'{"id":"event_1"}']
    plan = Plan(connections=2, duration=None, count=5, rate=None, cycle=True)
    results, _, _ = await run(bare_server, "whsec_wrong", bodies, plan)
    assert results.status == ["401"] * 5
    gone = Target("127.0.0.1", free_port(), bare.PATH)
    results, _, _ = await run(gone, SECRET, bodies, plan)
    assert results.status == [CONNECTION_ERROR] * 5
