"""A provider's reader, found by name: `reconcile/<source>.py` defines `open_reader` for
every provider the registry (schemas/providers.py) marks `list_api`, with the provider's
documented budget (provider-apis.md): WorkOS 6,000 requests per 60 s per key and 4 per
second per directory on /directory_users; Stytch Search Members 100 per minute; a
self-hosted Polis has no limiter, so dsync keeps itself to 20 per second. Retries take
tokens too (dsync.provider_http), so a 429 or 5xx storm never becomes a request storm."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from dsync.provider_http import ProviderHttp
from dsync.settings import ConfigError, Settings
from reconcile.listing import Provider
from schemas.providers import BY_SOURCE

OpenReader = Callable[..., tuple[Provider, ProviderHttp]]


def open_provider(
    settings: Settings, name: str, *, limited: bool = True
) -> tuple[Provider, ProviderHttp]:
    """The provider's reader and its HTTP client (the caller closes the client)."""
    spec = BY_SOURCE.get(name)
    if spec is None or not spec.list_api:
        raise ConfigError(f"{name} has no list API dsync can reconcile against")
    open_reader: OpenReader = importlib.import_module(f"reconcile.{name}").open_reader
    return open_reader(settings, limited=limited)
