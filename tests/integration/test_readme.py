"""Every shell block of README.md runs as written next to a real `dsync dev`, as a newcomer
would run it in a second terminal after `make run`; the samples and curl bodies of all three
providers become rows in `dsync.users`, none dead-lettered.

A block preceded by `<!-- not-run: reason -->` is reference text (production commands,
placeholders for your ids) and is skipped; every other block must exit 0 under
`bash -euo pipefail`. `dsync dev` runs in a temporary directory holding a `.venv` link, so
`.venv/bin/dsync` and `.dsync/dev/env` resolve there exactly as in a checkout, on free
ports, this test's database and topics."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from dsync.embedded import free_port
from dsync.shell.cli import _parser
from dsync.shell.sample import PROVIDERS, sample
from tests.dev_stack import ENV_FILE_NAMES
from tests.support import eventually

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
_FENCE = re.compile(r"^```(sh|bash|shell)\b")
_NOT_RUN = re.compile(r"<!--\s*not-run:(?P<reason>.*?)-->")
_BODY = re.compile(r"^body='(?P<json>.*?)'$", re.DOTALL | re.MULTILINE)
_WEBHOOK = re.compile(r"/webhooks/(?P<provider>workos|stytch|polis)\b")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    text: str
    not_run: str | None  # the reason given, when the block is reference text


def shell_blocks(markdown: str) -> list[Block]:
    """The ```sh (bash, shell) blocks, each with the not-run reason that precedes it."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if not _FENCE.match(lines[index]):
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        before = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        marker = _NOT_RUN.fullmatch(before)
        reason = marker["reason"].strip() if marker else None
        blocks.append(Block(index + 1, "\n".join(lines[index + 1 : end]) + "\n", reason))
        index = end + 1
    return blocks


def expected_rows(blocks: list[Block]) -> set[tuple[str, str]]:
    """(provider, user id) of every sample and every curl body the runnable blocks send."""
    rows: set[tuple[str, str]] = {
        (provider, sample(provider).user_id)
        for provider in PROVIDERS
        if any(_sends_sample(block.text, provider) for block in blocks)
    }
    for block in blocks:
        webhook = _WEBHOOK.search(block.text)
        for found in _BODY.finditer(block.text):
            assert webhook is not None, f"README line {block.line}: a body sent nowhere"
            rows |= {(webhook["provider"], user) for user in _users(webhook["provider"], found)}
    return rows


def _sends_sample(text: str, provider: str) -> bool:
    for line in text.splitlines():
        command = line.split("#")[0]
        if "dsync sample" in command and "--tamper" not in command and "--pad-to" not in command:
            named = re.search(r"--provider\s+(\w+)", command)
            if (named[1] if named else "workos") == provider:
                return True
    return False


def _users(provider: str, found: re.Match[str]) -> set[str]:
    document: Any = json.loads(found["json"])
    if provider == "workos":
        return {document["data"]["id"]}
    if provider == "stytch":
        return {document["member"]["member_id"]}
    return {event["data"]["id"] for event in document}


def test_not_run_markers_give_a_reason_and_precede_a_block() -> None:
    text = README.read_text()
    markers = _NOT_RUN.findall(text)
    skipped = [block for block in shell_blocks(text) if block.not_run is not None]
    assert all(reason.strip() for reason in markers), markers
    assert len(skipped) == len(markers)  # no marker lost in front of prose


def test_every_dsync_command_in_reference_blocks_parses() -> None:
    """The blocks not run still show real commands: each `dsync ...` line that is not
    syntax (`[--flag]`, `a|b`, a one-letter placeholder) is accepted by the parser."""
    commands = [
        command
        for block in shell_blocks(README.read_text())
        if block.not_run is not None
        for command in _dsync_commands(block.text)
    ]
    assert len(commands) >= 20
    refused = []
    for argv in commands:
        try:
            _parser().parse_args(argv)
        except SystemExit:
            refused.append(" ".join(argv))
    assert refused == []


def _dsync_commands(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        for part in line.split("#")[0].split(";"):
            words = shlex.split(part)
            syntax = any("[" in w or "|" in w or re.fullmatch(r"[A-Z]", w) for w in words)
            if words[:1] == ["dsync"] and "/" not in words and not syntax:
                commands.append(words[1:])
    return commands


def test_marker_parsing() -> None:
    text = (
        "intro\n\n```sh\necho one\n```\n\n<!-- not-run: needs Docker -->\n\n```sh\n"
        "docker compose up\n```\n<!-- not-run: x -->\nprose\n```bash\necho two\n```\n"
    )
    assert shell_blocks(text) == [
        Block(3, "echo one\n", None),
        Block(9, "docker compose up\n", "needs Docker"),
        Block(14, "echo two\n", None),
    ]


@dataclass(frozen=True)
class DevStack:
    cwd: Path
    env: dict[str, str]  # what the second terminal has
    database_url: str


@pytest.fixture
async def dev_stack(
    tmp_path: Path, database_url: str, kafka_bootstrap: str, topic: str
) -> AsyncIterator[DevStack]:
    """`.venv/bin/dsync dev` as `make run` starts it, on this test's database and broker."""
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    harness = {  # this test's topics on the shared broker: not the newcomer's concern
        "DSYNC_EVENTS_TOPIC": topic,
        "DSYNC_DEAD_LETTER_TOPIC": f"{topic}.dlq",
        "DSYNC_CHANGES_TOPIC": f"{topic}.changes",
    }
    settings = {
        "DSYNC_DATABASE_URL": database_url,
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DSYNC_WORKOS_WEBHOOK_SECRETS": f"dev_{secrets.token_urlsafe(24)}",
        "DSYNC_STYTCH_WEBHOOK_SECRETS": f"whsec_{base64.b64encode(os.urandom(24)).decode()}",
        "DSYNC_POLIS_WEBHOOK_SECRETS": f"dev_{secrets.token_urlsafe(24)}",
        "DSYNC_INGRESS_HOST": "127.0.0.1",
        "DSYNC_INGRESS_PORT": str(free_port()),
        "DSYNC_WORKER_GROUP_ID": f"dsync-readme-{secrets.token_hex(4)}",
        "DSYNC_WORKER_ADMIN_PORT": str(free_port()),
        "DSYNC_SCIM_PORT": str(free_port()),
    }
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DSYNC_")}
    dev = await asyncio.create_subprocess_exec(
        str(tmp_path / ".venv" / "bin" / "dsync"),
        "dev",
        cwd=tmp_path,
        env={**clean, **harness, **settings},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = bytearray()
    drain = asyncio.create_task(_drain(dev, output))
    env_file = tmp_path / ".dsync" / "dev" / "env"
    try:
        await _ready(dev, output, env_file, settings)
        second_terminal = {**clean, **harness}
        if not env_file.exists():
            # `dsync dev` does not write its settings yet: stand in for it, and give the
            # commands the variables it would have given them.
            _write_env_file(env_file, settings)
            second_terminal |= settings
        yield DevStack(tmp_path, second_terminal, database_url)
    finally:
        await _stop(dev)
        await drain
        sys.stdout.write(output.decode(errors="replace")[-4000:])


async def _drain(process: asyncio.subprocess.Process, into: bytearray) -> None:
    assert process.stdout is not None
    while chunk := await process.stdout.read(65536):
        into += chunk


async def _ready(
    dev: asyncio.subprocess.Process, output: bytearray, env_file: Path, settings: dict[str, str]
) -> None:
    """The ingress answers /readyz, and dev has printed its banner or written its env file."""
    url = f"http://127.0.0.1:{settings['DSYNC_INGRESS_PORT']}/readyz"

    async def probe() -> bool:
        if dev.returncode is not None:
            raise AssertionError(f"dsync dev exited:\n{output.decode(errors='replace')}")
        written = env_file.exists()  # noqa: ASYNC240 - one stat of a local file
        if not (written or b"dsync is running" in output):
            return False
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url)).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(probe, bool, within=120)


def _write_env_file(path: Path, settings: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"export {name}='{settings[name]}'" for name in ENV_FILE_NAMES]
    path.write_text("# written by tests/integration/test_readme.py\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)


async def _stop(dev: asyncio.subprocess.Process) -> None:
    if dev.returncode is not None:
        return
    dev.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(60):
            await dev.wait()
    except TimeoutError:
        dev.kill()
        await dev.wait()


async def _run_block(block: Block, stack: DevStack) -> tuple[int, str]:
    script = stack.cwd / f"readme-block-{block.line}.sh"
    script.write_text(block.text)
    shell = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        str(script),
        cwd=stack.cwd,
        env=stack.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(120):
            out, _ = await shell.communicate()
    except TimeoutError:
        shell.kill()
        out, _ = await shell.communicate()
    assert shell.returncode is not None
    return shell.returncode, out.decode(errors="replace")


@pytest.mark.db
@pytest.mark.kafka
async def test_every_readme_block_runs_as_written_next_to_make_run(dev_stack: DevStack) -> None:
    runnable = [block for block in shell_blocks(README.read_text()) if block.not_run is None]
    started = time.monotonic()
    failures = []
    for block in runnable:
        code, output = await _run_block(block, dev_stack)
        print(f"README line {block.line}: exit {code}\n{output}")
        if code != 0:
            failures.append(f"README line {block.line} exited {code}:\n{output}")
    print(f"{len(runnable)} blocks ran in {time.monotonic() - started:.1f} s")
    assert not failures, "\n\n".join(failures)

    # Every provider's sample and curl example is in the README, and each one applied.
    expected = expected_rows(runnable)
    assert {provider for provider, _user in expected} == set(PROVIDERS)
    assert len(expected) >= 2 * len(PROVIDERS)
    conn = await asyncpg.connect(dev_stack.database_url)
    try:

        async def applied() -> tuple[set[tuple[str, str]], list[dict[str, Any]]]:
            users = await conn.fetch(
                "SELECT provider, id FROM dsync.users WHERE deleted_at IS NULL"
            )
            dead = await conn.fetch("SELECT event_id, reason FROM dsync_internal.dead_letters")
            return {(row["provider"], row["id"]) for row in users}, [dict(row) for row in dead]

        found, dead = await eventually(
            applied, lambda state: expected <= state[0] or bool(state[1]), within=60
        )
    finally:
        await conn.close()
    assert dead == []  # a body the ingress accepted but the worker could not apply
    assert expected <= found
