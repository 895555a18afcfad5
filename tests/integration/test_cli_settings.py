"""Where the operator commands take their settings from, and what they say when one is
missing (issue 18.4)."""

from __future__ import annotations

import os

import pytest

from tests.processes import run_dsync

pytestmark = [pytest.mark.db]


def bare(**settings: str) -> dict[str, str]:
    """No DSYNC_* setting from the caller, no dev env file: only `settings`."""
    for name in [name for name in os.environ if name.startswith("DSYNC_")]:
        settings.setdefault(name, "")
    return {**settings, "DSYNC_DEV_ENV": ""}


async def test_status_needs_only_the_database(database_url: str) -> None:
    code, out, err = await run_dsync(bare(DSYNC_DATABASE_URL=database_url), "status")

    assert code == 0, err
    assert "(no events applied yet)" in out
    assert "unknown: no broker address (set DSYNC_KAFKA_BOOTSTRAP_SERVERS)" in out


async def test_the_flags_stand_in_for_the_variables(database_url: str) -> None:
    code, out, err = await run_dsync(bare(), "status", "--json", "--database-url", database_url)

    assert code == 0, err
    assert '"total": null' in out


@pytest.mark.parametrize(
    ("command", "variable", "flag"),
    [
        (["status"], "DSYNC_DATABASE_URL", "--database-url"),
        (["dlq", "list"], "DSYNC_DATABASE_URL", "--database-url"),
        (["replay", "--from-beginning"], "DSYNC_DATABASE_URL", "--database-url"),
        (["roles", "mappings", "--organization", "o"], "DSYNC_DATABASE_URL", "--database-url"),
        (["audit", "verify"], "DSYNC_DATABASE_URL", "--database-url"),
        (["query", "SELECT 1"], "DSYNC_DATABASE_URL", "--database-url"),
        (["topics"], "DSYNC_KAFKA_BOOTSTRAP_SERVERS", "--kafka-bootstrap-servers"),
    ],
)
async def test_a_missing_setting_names_its_variable_and_flag(
    command: list[str], variable: str, flag: str
) -> None:
    code, _, err = await run_dsync(bare(), *command)

    assert code != 0
    assert f"{variable} is not set" in err
    assert flag in err
    assert "Traceback" not in err
