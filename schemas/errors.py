"""Errors shared by every provider's payload models."""

from __future__ import annotations


class InvalidPayload(Exception):
    """The body does not match the model of its event type; the message is safe to log
    (field paths and messages, never input values)."""
