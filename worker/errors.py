"""The worker's three kinds of failure (anything else stops the worker loudly)."""

from __future__ import annotations


class InvalidEvent(Exception):
    """This event can never be applied as it is: dead-letter it and move on."""


class TransientError(Exception):
    """The database is briefly unavailable or a transaction lost a race: retry, commit nothing."""


class PermanentDbError(Exception):
    """The database refused a write for a reason retrying will not fix (SQLSTATE 22xxx/23xxx)."""

    def __init__(self, sqlstate: str, detail: str) -> None:
        super().__init__(f"{sqlstate}: {detail}")
        self.sqlstate = sqlstate


class DeadLetterCapExceeded(Exception):
    """Too large a share of one batch would be dead-lettered: more likely a bad deploy than
    bad data. The batch is rolled back and the worker stops."""
