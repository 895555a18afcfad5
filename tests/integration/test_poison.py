"""Poison records never stop the worker: text PostgreSQL cannot hold (NUL, a lone
surrogate) in any envelope header, header name or body field, of each provider, produced
straight to the topic (as an older ingress or another producer would), is dead-lettered
with a reason, and later good events of the same and of other directories apply."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from dsync.producer import KafkaProducer
from dsync.settings import Settings
from schemas.envelope import EventEnvelope
from tests.support import (
    DIRECTORY,
    consume_all,
    eventually,
    iso,
    running_worker,
    stored_offsets_total,
    user_event,
)
from worker import repository as repo
from worker.dlq import original_headers, redrive
from worker.rows import DeadLetter
from worker.store import Store

pytestmark = [pytest.mark.db, pytest.mark.kafka]

MARK = "POISONMARK"  # stands for the hostile value in a clean record until it is poisoned
NUL = "\x00"
SURROGATE = "\ud800"
OTHER_DIRECTORY = "directory_02OTHER"
STYTCH_ORG = "organization-1"
POLIS_DIRECTORY = "polis-dir"


def workos(path: str) -> EventEnvelope:
    event = user_event(user_id="directory_user_poison")
    _set(event, path, MARK)
    directory = event["data"]["directory_id"]
    return _envelope("workos", event["id"], event["event"], directory, event)


def stytch(path: str) -> EventEnvelope:
    body = _stytch_body("member-poison")
    _set(body, path, MARK)
    member = body["member"]
    key = f"member:{body['id']}"
    return _envelope(
        "stytch", body["event_id"], "scim.member.update", member["organization_id"], body, key
    )


def stytch_group(path: str) -> EventEnvelope:
    body: dict[str, Any] = {
        "event_id": f"webhook-event-{uuid.uuid4()}",
        "action": "UPDATE",
        "object_type": "idp_group",
        "source": "SCIM",
        "id": "group-poison",
        "timestamp": iso(1_700_000_001),
        "idp_group": {"group_id": "group-poison", "group_name": "Admins"},
        "organization_id": STYTCH_ORG,
    }
    _set(body, path, MARK)
    key = f"idp_group:{body['idp_group']['group_id']}"
    return _envelope("stytch", body["event_id"], "scim.idp_group.update", STYTCH_ORG, body, key)


def polis(path: str) -> EventEnvelope:
    event = _polis_body("polis-poison")
    _set(event, path, MARK)
    return _envelope(
        "polis", f"polis_{uuid.uuid4().hex}", event["event"], event["directory_id"], event
    )


def _set(document: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    for part in parents:
        document = document[part]
    document[last] = value


def _envelope(
    source: Any, event_id: str, kind: str, directory: str, body: object, key: str | None = None
) -> EventEnvelope:
    return EventEnvelope(
        source=source,
        event_id=event_id,
        event_type=kind,
        directory_id=directory,
        received_at=datetime.now(UTC),
        occurred_at=datetime.now(UTC),
        body=json.dumps(body).encode(),
        key=key,
    )


def _stytch_body(member_id: str) -> dict[str, Any]:
    return {
        "event_id": f"webhook-event-{uuid.uuid4()}",
        "action": "UPDATE",
        "object_type": "member",
        "source": "SCIM",
        "id": member_id,
        "timestamp": iso(1_700_000_001),
        "member": {
            "member_id": member_id,
            "organization_id": STYTCH_ORG,
            "email_address": "ada@stytch.example.com",
            "name": "Ada Lovelace",
            "status": "active",
        },
    }


def _polis_body(user_id: str) -> dict[str, Any]:
    return {
        "event": "user.created",
        "tenant": "acme",
        "product": "app",
        "directory_id": POLIS_DIRECTORY,
        "data": {"id": user_id, "email": "ada@polis.example.com", "active": True},
    }


Produced = tuple[bytes | None, bytes, list[tuple[str, bytes]]]  # key, value, headers


def poisoned(
    envelope: EventEnvelope, value: str, *, header_name: str = "", header_value: bool = False
) -> Produced:
    """The record of `envelope` with MARK replaced by `value`: in headers and key as its
    UTF-8 bytes (a surrogate's own, as surrogatepass writes them), in the body as JSON
    spells it (\\u0000, \\ud800). One more header: named `header_name` + `value`, or
    holding `value` when `header_value`."""
    raw = value.encode("utf-8", "surrogatepass")
    spelled = json.dumps(value)[1:-1].encode()
    headers = [(name, v.replace(MARK.encode(), raw)) for name, v in envelope.headers()]
    if header_name:
        headers.append((header_name + value, b"x" + raw))
    if header_value:
        headers.append(("x-extra", b"x" + raw))
    key = envelope.partition_key().replace(MARK.encode(), raw)
    return key, envelope.body.replace(MARK.encode(), spelled), headers


def hostile_records() -> dict[str, Produced]:
    """Every text field that reaches a key, a header or a dead letter, for each provider."""
    records: dict[str, Produced] = {}
    fields = {
        "workos id": workos("id"),
        "workos event type": workos("event"),
        "workos data.directory_id": workos("data.directory_id"),
        "workos data.id": workos("data.id"),
        "workos data.first_name": workos("data.first_name"),
        # (an email holding either is no address: the email rule drops it, see test_decode)
        "workos data.last_name": workos("data.last_name"),
        "workos custom attribute": workos("data.custom_attributes.department"),
        "stytch event_id": stytch("event_id"),
        "stytch member.organization_id": stytch("member.organization_id"),
        "stytch member.member_id": stytch("member.member_id"),
        "stytch member.name": stytch("member.name"),
        "stytch idp_group.group_id": stytch_group("idp_group.group_id"),
        "stytch idp_group.group_name": stytch_group("idp_group.group_name"),
        "polis directory_id": polis("directory_id"),
        "polis event": polis("event"),
        "polis data.id": polis("data.id"),
        "polis data.first_name": polis("data.first_name"),
    }
    for name, envelope in fields.items():
        for label, value in (("nul", f"a{NUL}b"), ("surrogate", f"a{SURROGATE}b")):
            records[f"{name} ({label})"] = poisoned(envelope, value)
    # A dead letter's headers are stored too: a hostile header name beside a hostile body.
    first_name = workos("data.first_name")
    # (aiokafka cannot send a header name with a lone surrogate: it encodes names strictly.)
    records["header name (nul)"] = poisoned(first_name, NUL, header_name="x-extra")
    records["header value (surrogate)"] = poisoned(first_name, SURROGATE, header_value=True)
    return records


def good_records() -> list[EventEnvelope]:
    """One per directory the poison touched, and one of a directory it did not."""
    same = user_event(user_id="directory_user_good")
    other = user_event(user_id="directory_user_other", directory_id=OTHER_DIRECTORY)
    stytch_body = _stytch_body("member-good")
    polis_body = _polis_body("polis-good")
    return [
        _envelope("workos", same["id"], same["event"], DIRECTORY, same),
        _envelope("workos", other["id"], other["event"], OTHER_DIRECTORY, other),
        _envelope(
            "stytch",
            stytch_body["event_id"],
            "scim.member.update",
            STYTCH_ORG,
            stytch_body,
            "member:member-good",
        ),
        _envelope(
            "polis", f"polis_{uuid.uuid4().hex}", "user.created", POLIS_DIRECTORY, polis_body
        ),
    ]


async def produce_raw(bootstrap: str, topic: str, records: list[Produced]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        acks = [await producer.send(topic, v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def test_poison_of_every_provider_is_dead_lettered_and_the_worker_goes_on(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    # Nearly every record here is poison: the dead-letter share cap (a bad-deploy guard,
    # tested on its own) would stop the worker by design.
    settings = worker_settings.model_copy(update={"dead_letter_max_share": 1.0})
    hostile = hostile_records()
    good = good_records()
    bootstrap = settings.require_bootstrap_servers()
    await produce_raw(bootstrap, settings.events_topic, list(hostile.values()))
    await produce_raw(
        bootstrap,
        settings.events_topic,
        [(e.partition_key(), e.body, e.headers()) for e in good],
    )
    total = len(hostile) + len(good)

    async with running_worker(settings) as task:

        async def progress() -> tuple[bool, int]:
            return task.done(), await stored_offsets_total(db)

        done, consumed = await eventually(progress, lambda p: p[0] or p[1] >= total, within=60)
        assert not done, f"the worker stopped: {task.exception()!r}"
        assert consumed == total
        await eventually(lambda: outbox_size(db), lambda n: n == 0)  # relayed

    letters = await db.fetch(
        'SELECT partition, "offset", reason, headers, body FROM dsync_internal.dead_letters'
    )
    assert len(letters) == len(hostile)
    assert all(letter["reason"] for letter in letters)
    bodies = {bytes(letter["body"]) for letter in letters}
    assert bodies == {value for _, value, _ in hostile.values()}  # the raw bytes, kept
    users = {row["id"] for row in await db.fetch("SELECT id FROM dsync.users")}
    assert users == {"directory_user_good", "directory_user_other", "member-good", "polis-good"}
    on_topic = await consume_all(bootstrap, settings.dead_letter_topic, len(hostile))
    assert {record.value for record in on_topic} == bodies


async def outbox_size(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM dsync_internal.outbox"))


async def test_redrive_sends_a_poison_record_back_byte_for_byte(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    """Its stored headers are escaped; redrive must not send `a\\x00b` as a new, valid id."""
    settings = worker_settings
    bootstrap = settings.require_bootstrap_servers()
    records = [
        poisoned(workos("id"), f"a{NUL}b", header_name="x-extra"),
        poisoned(stytch("member.organization_id"), f"a{SURROGATE}b"),
        poisoned(polis("data.first_name"), f"a{NUL}b"),
    ]
    await produce_raw(bootstrap, settings.events_topic, records)
    async with running_worker(settings):
        await eventually(lambda: stored_offsets_total(db), lambda n: n >= len(records))
    store = await Store.open(settings.require_database_url(), size=1)
    producer = KafkaProducer(bootstrap, ack_timeout=5, idempotent=False)
    try:
        redriven = await redrive(store, producer, settings.events_topic, ids=None, directory=None)
    finally:
        await producer.close()
        await store.close()

    assert len(redriven) == len(records)
    again = await consume_all(bootstrap, settings.events_topic, 2 * len(records))
    sent = sorted((value, sorted(headers)) for _, value, headers in records)
    back = sorted((r.value, sorted(r.headers)) for r in again)
    assert back == sorted(sent + sent)


@pytest.mark.parametrize("value", [NUL, f"a{NUL}", SURROGATE, f"x{SURROGATE}{NUL}"])
async def test_a_dead_letter_can_always_be_stored(database_url: str, value: str) -> None:
    """Whatever its fields hold, the letter goes in (escaped), with its exact headers."""
    raw = value.encode("utf-8", "surrogatepass")
    letter = DeadLetter(
        source=value,
        event_id=value,
        event_type=value,
        directory_id=value,
        topic=f"topic{value}",
        partition=0,
        offset=7,
        reason=f"reason {value}",
        headers=((f"name{value}", raw), ("dsync-event-id", raw), ("dsync-event-id", b"\xff")),
        body=raw,
    )
    store = await Store.open(database_url, size=1)
    try:
        async with store.transaction() as conn:
            await repo.dead_letter(conn, [letter])
            row = await conn.fetchrow("SELECT * FROM dsync_internal.dead_letters")
            outbox = await conn.fetchval("SELECT count(*) FROM dsync_internal.outbox")
    finally:
        await store.close()

    assert row is not None
    assert bytes(row["body"]) == raw
    assert "\\x00" in row["event_id"] or "\\ud800" in row["event_id"]
    headers = row["headers"]  # the store decodes jsonb
    # A redrive sends the record's own headers again, byte for byte, repeats included.
    assert original_headers(headers) == letter.headers
    assert outbox == 1


async def test_a_dead_letter_the_database_refuses_is_stored_bare(
    database_url: str, db: asyncpg.Connection
) -> None:
    """A refusal nobody foresaw (here a trigger) neither escapes nor spoils the batch's
    transaction: the letter is stored without its fields, its body kept."""
    await db.execute(
        """
        CREATE FUNCTION refuse_letters() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.reason LIKE 'refuse me%' THEN
                RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON dsync_internal.dead_letters
            FOR EACH ROW EXECUTE FUNCTION refuse_letters();
        """
    )
    letter = DeadLetter(
        source="workos",
        event_id="event_1",
        event_type="dsync.user.created",
        directory_id=DIRECTORY,
        topic="topic",
        partition=1,
        offset=9,
        reason="refuse me",
        headers=(("dsync-event-id", b"event_1"),),
        body=b"body",
    )
    store = await Store.open(database_url, size=1)
    try:
        async with store.transaction() as conn:
            await conn.execute(  # the batch's own write, before the letter
                "INSERT INTO dsync_internal.consumer_offsets VALUES ('group', 'topic', 1, 10)"
            )
            await repo.dead_letter(conn, [letter])
    finally:
        await store.close()

    row = await db.fetchrow("SELECT * FROM dsync_internal.dead_letters")
    assert row is not None
    assert row["reason"].startswith("the database refused this dead letter (23514")
    assert (row["event_id"], bytes(row["body"]), row["offset"]) == (None, b"body", 9)
    assert await db.fetchval("SELECT count(*) FROM dsync_internal.consumer_offsets") == 1
