"""The worker's kinds of failure (anything unclassified stops the worker loudly)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.cap import Breach


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
    """Too large a share of a partition's batch would be dead-lettered: more likely a bad
    deploy than bad data. The batch is rolled back and the partitions are held
    (worker/cap.py); the worker goes on with the others."""

    def __init__(self, breaches: Sequence[Breach]) -> None:
        super().__init__(
            ", ".join(f"partition {b.partition}: {b.dead} of {b.total}" for b in breaches)
        )
        self.breaches = list(breaches)
