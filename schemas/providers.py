"""The registry of providers: one `ProviderSpec` per provider, in the one list `PROVIDERS`.

A provider is one plug-in. Its spec holds what every layer needs to know about it; the
parts that need a layer's own dependencies live in that layer, in a module named after
the provider, found by name:

* `schemas/<source>.py`: its payload models and `route` (the spec points at them);
* `webhook_ingress/<source>.py`: `verify`, when it has a webhook;
* `worker/mappers/<source>.py`: `commands`, the events -> provider-neutral commands;
* `reconcile/<source>.py`: `open_reader`, when its list APIs can be read (`list_api`).

`tests/unit/test_provider_registry.py` fails when a registered provider misses a part, or a
layer holds a part of a provider that is not registered. docs/providers.md is the recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from schemas import polis, scim, stytch, workos
from schemas.routed import Route

# Every source an envelope may carry: the registry's names, spelt out so that mypy checks
# each use (a unit test asserts the two agree).
Source = Literal["workos", "stytch", "polis", "scim"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """The provider posts signed bodies to `/webhooks/<source>`."""

    # The Settings field of its secrets (environment `DSYNC_` + the name in upper case).
    secrets_setting: str
    # Raises ValueError (a message without the secret) for a secret its verifier would
    # misread, so a wrong configuration fails at start rather than on every webhook.
    check_secret: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider. `source` is its name everywhere: the envelope's `source`, the URL
    segment, the `provider` column, the metrics' `provider` label, and the module name of
    its part in each layer."""

    source: Source
    display_name: str
    # Event types it sends that may be metric labels (anything else is counted `other`).
    event_types: frozenset[str]
    # How a body it delivered becomes events; None for a source that builds its events
    # itself (a SCIM server).
    route: Route | None = None
    # For providers whose types are an open but bounded shape instead of a list.
    is_event_type: Callable[[str], bool] | None = None
    webhook: Webhook | None = None  # None: no webhook, the ingress answers 404
    # Its list APIs can be read to reconcile a directory: `reconcile/<source>.py` has
    # `open_reader` (dsync reconcile --provider offers exactly these providers).
    list_api: bool = False
    # It has an events API that `dsync pull <source>` reads (pull/).
    events_api: bool = False
    # Whether a deleted object may come back under the same id (Stytch reactivates a
    # member): then the latest deletion counts, not the first (worker/merge.py).
    reuses_ids: bool = False


PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "workos",
        "WorkOS",
        workos.KNOWN_EVENT_TYPES,
        workos.route,
        webhook=Webhook("workos_webhook_secrets"),
        list_api=True,
        events_api=True,
    ),
    ProviderSpec(
        "stytch",
        "Stytch",
        frozenset(),
        stytch.route,
        stytch.is_event_type,
        Webhook("stytch_webhook_secrets", stytch.check_webhook_secret),
        list_api=True,
        reuses_ids=True,
    ),
    ProviderSpec(
        "polis",
        "Ory Polis",
        polis.KNOWN_EVENT_TYPES,
        polis.route,
        webhook=Webhook("polis_webhook_secrets"),
        list_api=True,
    ),
    # dsync's own SCIM server (scim_server/) builds its events; no webhook, no route.
    ProviderSpec("scim", "SCIM", scim.EVENT_TYPES),
)

SOURCES: tuple[Source, ...] = get_args(Source)
BY_SOURCE: dict[str, ProviderSpec] = {spec.source: spec for spec in PROVIDERS}
WEBHOOK_PROVIDERS: tuple[ProviderSpec, ...] = tuple(p for p in PROVIDERS if p.webhook)
LISTED_SOURCES: tuple[Source, ...] = tuple(p.source for p in PROVIDERS if p.list_api)
PULLED_SOURCES: tuple[Source, ...] = tuple(p.source for p in PROVIDERS if p.events_api)
