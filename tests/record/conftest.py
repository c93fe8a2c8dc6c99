"""PostgreSQL fixtures: a fresh database per test on the local server, and the skip-or-fail rule.

Without a server on 127.0.0.1:5432 the database tests are skipped with the reason, except under
CI=true, where they fail: CI must really run them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


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


@pytest.fixture
async def pg_db(pg_available: None) -> AsyncIterator[str]:
    """A DSN for a database created for this test only and dropped after it."""
    name = f"lcm_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pg_conn(pg_db: str) -> AsyncIterator[asyncpg.Connection]:
    """A separate connection to the test database, for reading back and for sabotage."""
    conn = await asyncpg.connect(pg_db)
    await conn.execute("SET TIME ZONE 'UTC'")
    try:
        yield conn
    finally:
        await conn.close()


class TcpProxy:
    """A loopback TCP forwarder the test can stop and restart, to make the server unreachable for the
    recorder only (the real server keeps running for everyone else)."""

    def __init__(self, target_port: int = PG_PORT) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, PG_HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection(PG_HOST, self.target_port)
        except OSError:
            cw.transport.abort()
            return
        self._writers.update((cw, sw))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.transport.abort()
                self._writers.discard(w)

        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))


@pytest.fixture
async def proxy(pg_available: None) -> AsyncIterator[TcpProxy]:
    p = TcpProxy()
    await p.start()
    try:
        yield p
    finally:
        if p._server is not None:
            await p.stop()


def free_port() -> int:
    """A port nothing listens on (bound then released), for an unreachable server."""
    with socket.socket() as s:
        s.bind((PG_HOST, 0))
        return s.getsockname()[1]
