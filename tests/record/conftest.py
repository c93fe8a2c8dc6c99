"""PostgreSQL fixtures: a fresh database per test on the local server, and the skip-or-fail rule.

Without a server on 127.0.0.1:5432 the database tests are skipped with the reason, except under
CI=true, where they fail: CI must really run them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import asyncpg
import pytest
from recnet import PG_HOST, PG_PORT, TcpProxy

from tests.pgtemp import temporary_database


def _server_answers() -> str | None:
    """None when a server accepts TCP on 127.0.0.1:5432, else why not."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1.0):
            return None
    except OSError as e:
        return f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT} ({e})"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def pg_available() -> None:
    why = _server_answers()
    if why is not None:
        if _in_ci():
            pytest.fail(f"{why}; CI=true, so the recorder tests must run", pytrace=False)
        pytest.skip(f"{why}; the recorder tests need it (they fail instead under CI=true)")


@pytest.fixture(autouse=True)
def _postgres_marker(request: pytest.FixtureRequest) -> None:
    """Tests marked ``postgres`` get the skip-or-fail rule without asking for a database."""
    if request.node.get_closest_marker("postgres") is not None:
        request.getfixturevalue("pg_available")


@pytest.fixture
async def pg_db(pg_available: None) -> AsyncIterator[str]:
    """A DSN for a database created for this test only and dropped after it."""
    async with temporary_database(PG_HOST, PG_PORT) as dsn:
        yield dsn


@pytest.fixture
async def pg_conn(pg_db: str) -> AsyncIterator[asyncpg.Connection]:
    """A separate connection to the test database, for reading back and for sabotage."""
    conn = await asyncpg.connect(pg_db)
    await conn.execute("SET TIME ZONE 'UTC'")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def proxy(pg_available: None) -> AsyncIterator[TcpProxy]:
    p = TcpProxy()
    await p.start()
    try:
        yield p
    finally:
        if p.listening:
            await p.stop()
