"""Pure parts of the outbox relay and of `dsync dlq`."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from schemas.storable import unstorable
from tests.support import settings_for
from worker.dlq import (
    Letter,
    original_headers,
    plain,
    redrive_message,
    stored_headers,
    table,
)
from worker.outbox import OutboxRow, kafka_headers, message_of, topic_for

SETTINGS = settings_for(dead_letter_topic="dlq", changes_topic="changes", events_topic="events")


def test_each_stream_goes_to_its_topic() -> None:
    assert topic_for("changes", SETTINGS) == "changes"
    assert topic_for("dead_letters", SETTINGS) == "dlq"


def test_headers_become_bytes_and_non_strings_their_json() -> None:
    headers = kafka_headers({"dsync-event-id": "event_1", "count": 2, "flags": ["a"]})

    assert headers == (("dsync-event-id", b"event_1"), ("count", b"2"), ("flags", b'["a"]'))


def test_an_outbox_row_becomes_its_message() -> None:
    row = OutboxRow(7, "dead_letters", "directory_1", {"dsync-dead-letter-id": "3"}, b"{}")

    message = message_of(row, SETTINGS)

    assert (message.topic, message.key, message.value) == ("dlq", b"directory_1", b"{}")
    assert message.headers == (("dsync-dead-letter-id", b"3"),)


def test_a_row_without_key_is_produced_without_key() -> None:
    assert message_of(OutboxRow(1, "changes", None, {}, b"x"), SETTINGS).key is None


def test_redrive_strips_the_dead_letter_headers_only() -> None:
    headers = {
        "dsync-envelope": "1",
        "dsync-event-id": "event_1",
        "dsync-dead-letter-id": "3",
        "dsync-dead-letter-reason": "invalid",
    }

    assert original_headers(headers) == (("dsync-envelope", b"1"), ("dsync-event-id", b"event_1"))


def test_redrive_produces_the_original_record_to_the_events_topic() -> None:
    letter = Letter(3, "event_1", "directory_1", {"dsync-event-id": "event_1"}, b"body")

    message = redrive_message(letter, "events")

    assert message.topic == "events"
    assert (message.key, message.value) == (b"directory_1", b"body")
    assert message.headers == (("dsync-event-id", b"event_1"),)


def test_redrive_key_falls_back_to_the_event_id_then_the_row_id() -> None:
    assert redrive_message(Letter(3, "event_1", None, {}, None), "e").key == b"event_1"
    assert redrive_message(Letter(3, None, None, {}, None), "e").key == b"3"


def test_listing_renders_times_as_iso_and_missing_values_empty() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = plain(
        {
            "id": 1,
            "created_at": moment,
            "source": "workos",
            "event_type": None,
            "event_id": None,
            "directory_id": None,
            "topic": "events",
            "partition": 0,
            "offset": 9,
            "reason": "invalid envelope",
            "redrive_count": 0,
            "redriven_at": None,
        }
    )

    assert row["created_at"] == "2026-01-02T03:04:05+00:00"
    header, line = table([row]).splitlines()
    assert header.split("\t")[0] == "id"
    assert line.split("\t") == [
        "1", "2026-01-02T03:04:05+00:00", "workos", "", "", "", "events", "0", "9",
        "invalid envelope", "0", "",
    ]  # fmt: skip


HEADER_NAMES = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | (
    st.sampled_from(["dsync-dead-letter-raw-headers", "dsync-dead-letter-id", "dsync-event-id"])
)


@given(st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=24)), max_size=6))
def test_stored_headers_are_storable_and_give_the_record_its_exact_headers_back(
    raw: list[tuple[str, bytes]],
) -> None:
    stored = stored_headers(raw)

    for name, value in stored.items():
        assert unstorable(name) is None
        assert unstorable(value) is None
    assert original_headers(stored) == tuple(raw)


def test_clean_headers_are_stored_as_they_are() -> None:
    raw = [("dsync-envelope", b"1"), ("dsync-event-id", "évènement".encode())]

    assert stored_headers(raw) == {"dsync-envelope": "1", "dsync-event-id": "évènement"}
