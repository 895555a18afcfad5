"""`dsync dev` runs the SCIM server beside the ingress and the worker and shows it in its
banner; `dsync scim connect` (reading dev's env file) gives a URL and token that work."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.dev_stack import dev_stack, sourced
from tests.processes import run_dsync
from tests.scim_stack import okta_user

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_dev_serves_scim_from_its_banner(tmp_path: Path) -> None:
    async with dev_stack(tmp_path) as dev:
        await dev.banner()
        env = sourced(dev.env_file)
        code, out, err = await run_dsync(
            {"DSYNC_DEV_ENV": str(dev.env_file)}, "scim", "connect", "--organization", "org_dev"
        )
        assert code == 0, err
        directory = json.loads(out)
        headers = {"Authorization": f"Bearer {directory['token']}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            created = await client.post(
                f"{directory['base_url']}/Users", json=okta_user("d@x.test")
            )
            found = await client.get(
                f"{directory['base_url']}/Users", params={"filter": 'userName eq "D@X.test"'}
            )
        dev.interrupt()
        stopped = await dev.exited(10.0)

    banner = dev.stdout.decode()
    port = env["DSYNC_SCIM_PORT"]
    assert f"http://127.0.0.1:{port}/scim/v2/directories/<id>" in banner
    assert directory["base_url"].startswith(f"http://127.0.0.1:{port}/scim/v2/directories/")
    assert created.status_code == 201, created.text
    assert found.json()["totalResults"] == 1
    assert stopped == 0
