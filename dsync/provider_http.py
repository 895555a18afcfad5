"""Reads from a provider's REST API (WorkOS today): one home for bearer auth, timeouts,
rate limits and retries, shared by the Events API puller and reconciliation.

Contracts:
- A 2xx answer's JSON is returned; nothing else is.
- 429 waits `Retry-After` when the provider sends it (seconds or an HTTP date, capped),
  else a capped exponential backoff with jitter; 5xx, network loss (connect, read,
  timeout, dropped connection) and a 2xx whose body is not JSON (a proxy's page) wait the
  same backoff. After `max_attempts` the caller gets `ProviderUnavailable` (a retry later
  may work). Other 4xx raise `ProviderRefused` at once: the same request cannot succeed.
- Every request first takes a token from the global bucket (the provider's per-key budget)
  and, when the caller names a `rate_key` (WorkOS: a directory for `/directory_users`), from
  that key's bucket too. Retries take tokens as well, so a 5xx storm cannot become a
  request storm.
- The API key never reaches a log line, an exception message or `repr`: it lives in a
  SecretStr until the header is built, and httpx's own request log is silenced.
- `statuses` counts every answer by status code (`"network"` for no answer): tests assert
  on it, and `on_answer` feeds the process's metrics.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

Sleep = Callable[[float], Awaitable[None]]


class ProviderError(Exception):
    """A provider read failed. The message holds a status and a path, never a key or body."""


class ProviderUnavailable(ProviderError):
    """Retries ran out on 429, 5xx or network loss; trying again later may succeed."""


class ProviderRefused(ProviderError):
    """The provider refused the request (a 4xx other than 429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0  # the first backoff; doubles per attempt
    max_delay: float = 30.0  # backoff cap (the WorkOS Python SDK's)
    max_retry_after: float = 60.0  # cap on a provider's Retry-After (the Node SDK's)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Attempt 0's delay is about base_delay; jitter keeps half of it, so concurrent
        clients spread out without any of them retrying at once."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**attempt)
        return ceiling * rng.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float


class TokenBucket:
    """`acquire` waits until a token is free. Tokens refill continuously up to `burst`."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    async def acquire(self, sleep: Sleep) -> None:
        async with self._lock:  # waiters queue up in order instead of racing for refills
            while True:
                now = self._clock()
                self._tokens = min(
                    self._rate.burst, self._tokens + (now - self._at) * self._rate.per_second
                )
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await sleep((1 - self._tokens) / self._rate.per_second)


class ProviderHttp:
    """One API key's client. Owns an httpx.AsyncClient; call `close`."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        global_rate: Rate = Rate(100.0, 100.0),  # WorkOS: 6,000 per 60 s per key
        keyed_rate: Rate = Rate(4.0, 4.0),  # WorkOS: /directory_users, per directory
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_answer: Callable[[str], None] | None = None,
        scheme: str = "Bearer",
    ) -> None:
        for name in ("httpx", "httpcore"):  # httpx logs every URL (query included) at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._key = api_key
        self._scheme = scheme  # Stytch: "Basic" (key = base64 of project:secret); Polis: "Api-Key"
        self._policy = policy or RetryPolicy()
        self._global = TokenBucket(global_rate)
        self._keyed_rate = keyed_rate
        self._keyed: dict[str, TokenBucket] = {}
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._on_answer = on_answer
        self.statuses: Counter[str] = Counter()

    async def get_json(
        self, path: str, params: Mapping[str, str] | None = None, *, rate_key: str | None = None
    ) -> Any:
        """GET `path` and return its JSON, retrying as the module docstring says."""
        return await self._json("GET", path, params, None, rate_key)

    async def post_json(self, path: str, body: Any, *, rate_key: str | None = None) -> Any:
        """POST a JSON body (a read, e.g. Stytch's Search Members: safe to repeat)."""
        return await self._json("POST", path, None, body, rate_key)

    async def _json(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        rate_key: str | None,
    ) -> Any:
        policy = self._policy
        for attempt in range(policy.max_attempts):
            await self._take_tokens(rate_key)
            response = await self._send(method, path, params, body)
            if response is not None and not retried(response.status_code):
                if not response.is_success:
                    status = response.status_code
                    raise ProviderRefused(f"{method} {path}: HTTP {status}", status)
                document = _json_or_missing(response)
                if document is not _NOT_JSON:
                    return document
                response = None  # a 2xx that is not JSON (a proxy's page): retry it
            if attempt + 1 < policy.max_attempts:
                await self._sleep(self._delay(response, attempt))
        raise ProviderUnavailable(
            f"{method} {path}: no usable answer in {policy.max_attempts} tries"
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _take_tokens(self, rate_key: str | None) -> None:
        await self._global.acquire(self._sleep)
        if rate_key is not None:
            bucket = self._keyed.get(rate_key)
            if bucket is None:
                bucket = self._keyed[rate_key] = TokenBucket(self._keyed_rate)
            await bucket.acquire(self._sleep)

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any
    ) -> httpx.Response | None:
        headers = {"Authorization": f"{self._scheme} {self._key.get_secret_value()}"}
        try:
            response = await self._client.request(
                method, path, params=params, json=body, headers=headers
            )
        except httpx.TransportError:  # connect, read, write, timeout, protocol: no answer
            self._count("network")
            return None
        self._count(str(response.status_code))
        return response

    def _count(self, status: str) -> None:
        self.statuses[status] += 1
        if self._on_answer is not None:
            self._on_answer(status)

    def _delay(self, response: httpx.Response | None, attempt: int) -> float:
        if response is not None:
            waited = retry_after(response.headers.get("retry-after"), time.time())
            if waited is not None:
                return min(waited, self._policy.max_retry_after)
        return self._policy.backoff(attempt, self._rng)


def retried(status: int) -> bool:
    """429 and every 5xx: a later try may succeed (the SDKs retry 500/502/503/504; a
    501 or 505 from a proxy in between is no more permanent than those)."""
    return status == 429 or status >= 500


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), or None
    when it is absent or unreadable (the caller backs off instead)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - now)


_NOT_JSON = object()


def _json_or_missing(response: httpx.Response) -> Any:
    """The body's JSON, or _NOT_JSON (never the parser's message: it could quote the body).
    orjson: a page of 100 users parses in a quarter of the standard library's time."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return _NOT_JSON
