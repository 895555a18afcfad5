"""Databases of a test's own on the test PostgreSQL server: empty, or cloned from the
migrated template (CREATE DATABASE ... TEMPLATE is fast), and dropped even while a worker
still holds connections to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dsync.migrate import migrate


def database_url_for(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """Create `name` (a clone of `template` if given); its URL."""
    clone = f' TEMPLATE "{template}"' if template is not None else ""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{clone}')
    finally:
        await conn.close()
    return database_url_for(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrated_database(admin_url: str, name: str) -> str:
    """`name` made anew and migrated (the template every test clones; a benchmark's
    database); its URL."""
    await drop_database(admin_url, name)
    url = await create_database(admin_url, name)
    await migrate(url)
    return url


@asynccontextmanager
async def own_database(admin_url: str, template: str | None = None) -> AsyncIterator[str]:
    """A database of a fresh name for the block (a clone of `template` if given); its URL."""
    name = f"dsync_test_{uuid.uuid4().hex[:12]}"
    url = await create_database(admin_url, name, template)
    try:
        yield url
    finally:
        await drop_database(admin_url, name)
