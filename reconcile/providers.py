"""Each provider's client, built from settings with the provider's documented budget
(provider-apis.md): WorkOS 6,000 requests per 60 s per key and 4 per second per directory
on /directory_users; Stytch Search Members 100 per minute (the SDK's figure, the lower of
the two the reference found); Polis self-hosted has no limiter, so dsync keeps itself to 20
per second. Retries take tokens too (dsync.provider_http), so a 429 or 5xx storm never
becomes a request storm."""

from __future__ import annotations

import base64

from pydantic import SecretStr

from dsync.provider_http import ProviderHttp, Rate
from dsync.settings import ConfigError, Settings, not_set
from reconcile.listing import Provider
from reconcile.polis import Polis
from reconcile.stytch import Stytch
from reconcile.workos import WorkOS
from schemas.envelope import Source

WORKOS = (Rate(100.0, 100.0), Rate(3.8, 1.0))  # no burst, 5% under: never 5 in a second
STYTCH = (Rate(100 / 60, 5.0), Rate(100 / 60, 5.0))
POLIS = (Rate(20.0, 20.0), Rate(20.0, 20.0))
UNLIMITED = (Rate(1e9, 1e9), Rate(1e9, 1e9))  # B8 against a stand-in that has no limit


def open_provider(
    settings: Settings, name: Source, *, limited: bool = True
) -> tuple[Provider, ProviderHttp]:
    """The provider and its HTTP client (the caller closes the client). `limited=False`
    drops the client's own budget: only for a benchmark against a stand-in."""
    if name == "workos":
        key = _required(settings.workos_api_key, "DSYNC_WORKOS_API_KEY")
        rates = WORKOS if limited else UNLIMITED
        http = ProviderHttp(
            settings.workos_api_base_url, key, global_rate=rates[0], keyed_rate=rates[1]
        )
        return WorkOS(http), http
    if name == "stytch":
        project = settings.stytch_project_id
        secret = _required(settings.stytch_secret, "DSYNC_STYTCH_SECRET")
        if not project:
            raise ConfigError(not_set("DSYNC_STYTCH_PROJECT_ID"))
        basic = base64.b64encode(f"{project}:{secret.get_secret_value()}".encode()).decode()
        http = ProviderHttp(
            settings.stytch_api_base_url,
            SecretStr(basic),
            scheme="Basic",
            global_rate=STYTCH[0],
            keyed_rate=STYTCH[1],
        )
        return Stytch(http), http
    key = _required(settings.polis_api_key, "DSYNC_POLIS_API_KEY")
    if not settings.polis_api_base_url:
        raise ConfigError(not_set("DSYNC_POLIS_API_BASE_URL"))
    http = ProviderHttp(
        settings.polis_api_base_url,
        key,
        scheme="Api-Key",
        global_rate=POLIS[0],
        keyed_rate=POLIS[1],
    )
    return Polis(http), http


def _required(value: SecretStr | None, variable: str) -> SecretStr:
    if value is None:
        raise ConfigError(not_set(variable))
    return value
