"""Text PostgreSQL can hold: the envelope refuses the rest, and dead letters escape it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.envelope import (
    H_DIRECTORY_ID,
    H_EVENT_ID,
    H_EVENT_TYPE,
    H_RECEIVED_AT,
    H_SOURCE,
    H_VERSION,
    EnvelopeError,
    EventEnvelope,
    decode_envelope,
)
from schemas.storable import (
    escaped,
    escaped_bytes,
    first_unstorable,
    may_hold_unstorable,
    unstorable,
)

RECEIVED_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
# Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out
# of text() by default).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
HOSTILE = ["\x00", "a\x00b", "\ud800", "x\udfff", "\ud800\x00"]


def _envelope(**fields: object) -> EventEnvelope:
    values: dict[str, object] = {
        "source": "workos",
        "event_id": "event_1",
        "event_type": "dsync.user.created",
        "directory_id": "directory_1",
        "received_at": RECEIVED_AT,
        "body": b"{}",
    }
    values.update(fields)
    return EventEnvelope.model_validate(values)


def _holds_unstorable(value: str) -> bool:
    return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)


@pytest.mark.parametrize("field", ["event_id", "event_type", "directory_id", "key"])
@pytest.mark.parametrize("value", HOSTILE)
def test_envelope_refuses_text_postgresql_cannot_hold(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _envelope(**{field: value})

    [error] = caught.value.errors()
    assert error["loc"] == (field,)
    # pydantic's own str check refuses a lone surrogate first, in its words.
    assert any(word in error["msg"] for word in ("NUL", "surrogate", "unicode string"))


@pytest.mark.parametrize("length", [256, 300, 512])
def test_envelope_refuses_ids_over_255_characters(length: int) -> None:
    with pytest.raises(ValidationError):
        _envelope(event_id="e" * length)


@given(ANY_TEXT)
def test_unstorable_names_exactly_nul_and_lone_surrogates(value: str) -> None:
    assert (unstorable(value) is not None) == _holds_unstorable(value)


@given(ANY_TEXT)
def test_envelope_accepts_a_value_iff_postgresql_can_hold_it(value: str) -> None:
    storable = 0 < len(value) <= 255 and not _holds_unstorable(value)
    try:
        envelope = _envelope(event_id=value, directory_id=value)
    except ValidationError:
        assert not storable
        return
    assert storable
    # What the envelope accepted travels as headers and comes back the same.
    again = decode_envelope(envelope.headers(), envelope.body)
    assert (again.event_id, again.directory_id) == (value, value)


@given(ANY_TEXT)
def test_escaped_text_is_always_storable_and_leaves_clean_text_alone(value: str) -> None:
    result = escaped(value)

    assert unstorable(result) is None
    result.encode()  # raises on a lone surrogate
    if not _holds_unstorable(value):
        assert result == value


@given(st.binary(max_size=64))
def test_escaped_bytes_are_always_storable(raw: bytes) -> None:
    result = escaped_bytes(raw)

    assert unstorable(result) is None
    try:
        clean = raw.decode()
    except UnicodeDecodeError:
        return
    if "\x00" not in clean:
        assert result == clean


def _headers(**overrides: bytes) -> list[tuple[str, bytes]]:
    fields = {
        H_VERSION: b"1",
        H_SOURCE: b"workos",
        H_EVENT_ID: b"event_1",
        H_EVENT_TYPE: b"dsync.user.created",
        H_DIRECTORY_ID: b"directory_1",
        H_RECEIVED_AT: RECEIVED_AT.isoformat().encode(),
    }
    fields.update(overrides)
    return list(fields.items())


@pytest.mark.parametrize("header", [H_EVENT_ID, H_EVENT_TYPE, H_DIRECTORY_ID])
@pytest.mark.parametrize(
    "raw",
    [b"\x00", b"directory\x00_1", "\ud800".encode("utf-8", "surrogatepass"), b"\xff", b"a" * 256],
)
def test_decode_refuses_records_an_older_ingress_let_through(header: str, raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(_headers(**{header: raw}), b"{}")


@given(st.dictionaries(st.sampled_from([H_EVENT_ID, H_EVENT_TYPE, H_DIRECTORY_ID]), st.binary()))
def test_whatever_decode_accepts_postgresql_can_hold(overrides: dict[str, bytes]) -> None:
    try:
        envelope = decode_envelope(_headers(**overrides), b"{}")
    except EnvelopeError:
        return
    for value in (envelope.event_id, envelope.event_type, envelope.directory_id or ""):
        assert unstorable(value) is None


@given(st.recursive(ANY_TEXT, lambda inner: st.lists(inner) | st.dictionaries(ANY_TEXT, inner)))
def test_a_body_that_holds_unstorable_text_is_never_passed_over(document: object) -> None:
    """The fast path may only say "clean" when no parser can read NUL or a surrogate."""
    holds = first_unstorable(document, "body") is not None
    for ascii_only in (True, False):
        try:
            body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        except UnicodeEncodeError:
            continue
        if holds:
            assert may_hold_unstorable(body)


@pytest.mark.parametrize(
    "body",
    [b'"\\u0000"', b'"\\uD800"', b'"\\udfff"', b'"\\uDbFf"', b'"\xed\xa0\x80"', b'"a\xffb"'],
)
def test_every_spelling_of_nul_or_a_surrogate_is_looked_at(body: bytes) -> None:
    assert may_hold_unstorable(body)


@pytest.mark.parametrize("body", [b'"Zo\\u00eb"', "Zoë 😀".encode(), b'"\\u0041"', b"{}"])
def test_clean_bodies_take_the_fast_path(body: bytes) -> None:
    assert not may_hold_unstorable(body)
