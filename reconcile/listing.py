"""What reconciliation needs from a provider, whatever its API: pages of users and groups,
each group's members, a read that confirms an object is gone, and the provider's own event
for an object as listed (so the worker's mapper for that provider applies it).

A listing is not a snapshot: pages are read over minutes while the provider changes. The
run loop only relies on what each page says at the time it was read; the worker's merge
rules decide against anything newer (worker.merge).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import SecretStr

from dsync.provider_http import Rate
from dsync.settings import ConfigError, not_set
from schemas.envelope import EventEnvelope, Source
from worker.rows import DirectoryRow, GroupRow, UserRow

Object = dict[str, Any]
Kind = Literal["users", "groups"]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Object]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class Listed:
    """One listed object and the row the worker would store from its event."""

    kind: Kind
    id: str
    row: UserRow | GroupRow
    item: Object


class Provider(Protocol):
    """One provider's list API and event shapes, for one directory (`prepare` first)."""

    name: Source

    async def prepare(self, directory_id: str) -> None:
        """Read what the directory's listings and events need (e.g. Polis's tenant)."""

    async def users(self, cursor: str | None) -> Page: ...

    async def groups(self, cursor: str | None) -> Page: ...

    def members(self, group: Object) -> AsyncIterator[list[str]]:
        """The user ids of one group, page by page (empty for Stytch: see user_groups)."""

    def user_groups(self, user: Object) -> list[str]:
        """The group ids a listed user names itself (Stytch); [] where groups list members."""

    async def gone(self, kind: Kind, object_id: str) -> bool:
        """Whether a read now confirms the object no longer exists at the provider."""

    def read(self, kind: Kind, item: Object, at: datetime) -> Listed:
        """The listed object as the worker would store it. `at` is the run's time for
        providers whose objects carry none. Raises InvalidPayload for an unreadable item."""

    def event(self, listed: Listed, at: datetime, run_id: str, event_id: str) -> EventEnvelope:
        """The provider's own event for the object as listed, naming the run."""

    def key(self, kind: Kind, object_id: str) -> str | None:
        """The record key the provider's own events about the object use (None: the
        directory id, the default key)."""


@runtime_checkable
class DirectoryLister(Protocol):
    """A provider that also lists its directories (reconcile.directories)."""

    name: Source

    async def directories(self, cursor: str | None) -> Page: ...

    def read_directory(self, item: Object) -> DirectoryRow:
        """The listed directory as the worker would store it (the provider's own event
        vocabulary). Raises InvalidPayload for an unreadable item."""

    async def directory_gone(self, directory_id: str) -> bool:
        """Whether a read now confirms the directory no longer exists at the provider."""

    def directory_event(
        self, row: DirectoryRow, deleted_at: datetime | None, at: datetime, ids: tuple[str, str]
    ) -> EventEnvelope:
        """The provider's own event describing (or, with `deleted_at`, deleting) the
        directory, naming the run; `ids` = (event id, run id)."""


UNLIMITED = (Rate(1e9, 1e9), Rate(1e9, 1e9))  # B8 against a stand-in that has no limit


def required(value: SecretStr | None, variable: str) -> SecretStr:
    """A credential the provider's reader cannot do without (ConfigError naming it)."""
    if value is None:
        raise ConfigError(not_set(variable))
    return value
