"""`python -m bench.scim_conformance` (`make scim-conformance`, run by .ci/run): the python-scim
conformance checker, scim2-tester, against a live `dsync scim` with a real `dsync worker`,
embedded PostgreSQL and the embedded broker. Every check must pass: the run exits 1 when any
check ends in ERROR, CRITICAL or DEVIATION (a SHOULD not followed), or is SKIPPED (what
scim2-tester reports for a feature the server does not offer, such as POST /.search across
resource types, which the server now answers: a skip is a check that did not run).

scim2-tester discovers the server (ServiceProviderConfig, ResourceTypes, Schemas), then
creates, reads, queries, replaces, patches and deletes Users and Groups with random values,
over HTTP, so every write goes through the broker and the worker before it is answered.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient
from scim2_client.client import RawResponse
from scim2_tester import CheckResult, Status, check_server

from bench.database import start_postgres
from bench.scim_service import ScimDirectory, scim_pipeline
from bench.services import Context
from dsync.embedded import EmbeddedBroker
from dsync.logs import configure_logging

FAILING = {Status.ERROR, Status.CRITICAL, Status.DEVIATION, Status.SKIPPED}
REQUEST_TIMEOUT = 60.0


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client's synchronous engine over httpx (the one this project already uses;
    scim2-client 0.13 ships its engine for the httpx2 fork only)."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = self.client.build_request("GET", endpoint).url
        base = self.client.base_url
        return url.host == base.host and url.port == base.port and url.path.startswith(base.path)

    def _parse_json(self, response: RawResponse) -> Any:
        return response.json()  # type: ignore[attr-defined]

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, **kwargs)


def check(directory: ScimDirectory) -> list[CheckResult]:
    """Every scim2-tester check against one directory's base URL (blocking)."""
    headers = {"Authorization": f"Bearer {directory.token}"}
    with httpx.Client(
        base_url=directory.base_url + "/", headers=headers, timeout=REQUEST_TIMEOUT
    ) as http:
        return check_server(HttpxSCIMClient(http))


def report(results: list[CheckResult]) -> tuple[str, bool]:
    """One line a check, a count by status, and whether every check passed."""
    lines = []
    for result in results:
        where = f"[{result.resource_type}] " if result.resource_type else ""
        lines.append(f"{result.status.name:<10} {where}{result.title}")
        if result.status in FAILING:
            lines.append(f"           reason: {result.reason}")
    counts = Counter(result.status.name for result in results)
    passed = bool(results) and not any(result.status in FAILING for result in results)
    lines.append(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
    lines.append("scim2-tester: every check passed" if passed else "scim2-tester: FAILED")
    return "\n".join(lines), passed


async def run(workdir: Path) -> list[CheckResult]:
    postgres, admin = await start_postgres(workdir / "postgres")
    broker = EmbeddedBroker(workdir / "broker.log")
    try:
        ctx = Context(admin, broker.start(), workdir, postgres.pid, broker.pid)
        async with scim_pipeline(ctx, "scim_conformance") as running:
            return await asyncio.to_thread(check, running.directory)
    finally:
        broker.stop()
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scim_conformance", description=__doc__)
    parser.parse_args()
    configure_logging("warning", "console")
    with tempfile.TemporaryDirectory(prefix="dsync-scim-conformance-") as workdir:
        results = asyncio.run(run(Path(workdir)))
    text, passed = report(results)
    print(text)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
