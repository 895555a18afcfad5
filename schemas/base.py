"""Two bases: strict for contracts we own, lenient for payloads providers own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Our own contracts: unknown fields are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProviderModel(BaseModel):
    """What a provider sends: it adds fields over time, so unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def _as_utc(value: datetime) -> datetime:
    """Providers sometimes omit the zone (`2023-04-28 20:05:31.093`); they mean UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def utc_text(moment: datetime) -> str:
    """A UTC moment as dsync writes it in JSON and query strings (ISO 8601, `Z`)."""
    return moment.isoformat().replace("+00:00", "Z")
