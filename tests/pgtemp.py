"""A database of one test's own on the local PostgreSQL, dropped after it (the recorder and bus suites).

Each test gets a fresh database rather than a schema, so the recorder's own migrations run as they
would on a new installation and tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg


@contextlib.asynccontextmanager
async def temporary_database(host: str, port: int) -> AsyncIterator[str]:
    """The DSN of a new database, created on entry and dropped (even if still connected to) on exit."""
    admin_dsn = f"postgresql://postgres@{host}:{port}/postgres"
    name = f"lcm_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql://postgres@{host}:{port}/{name}"
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
