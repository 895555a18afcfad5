"""Errors shared by every provider's payload models."""

from __future__ import annotations

from pydantic import ValidationError


class InvalidPayload(Exception):
    """The body does not match the model of its event type; the message is safe to log
    (field paths and messages, never input values)."""


def describe_validation_error(exc: ValidationError) -> str:
    """A reason safe to store and log: field paths and messages, never input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        message = error["msg"].removeprefix("Value error, ")  # our validators' own words
        parts.append(f"{location}: {message}")
    return "; ".join(parts)
