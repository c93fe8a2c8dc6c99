"""NATS JetStream fixtures: the server at $LCM_TEST_NATS_URL (default nats://127.0.0.1:4222), a unique
prefix per test (its streams and KV bucket are deleted after it), private servers for restart and
auth tests, and a fresh PostgreSQL database for the recorder tests.

Without a server the tests skip with the reason, except under CI=true, where they fail. The helpers
live in ``natsenv`` (import them from there); the names below are kept for older imports.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from natsenv import (
    NATS_SERVER,
    NATS_URL,
    PG_HOST,
    PG_PORT,
    PrivateNats,
    _answers,
    _need,
    free_port,
    wait_for,
)

from lcm_tui.runtime.bus.collector import delete_all
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.subjects import Names
from tests.pgtemp import temporary_database

__all__ = ["NATS_SERVER", "NATS_URL", "PrivateNats", "free_port", "wait_for"]


@pytest.fixture(scope="session")
def nats_url() -> str:
    p = urlsplit(NATS_URL)
    _need(f"no NATS server answers at {NATS_URL}", _answers(p.hostname or "127.0.0.1", p.port or 4222))
    return NATS_URL


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsOptions]:
    """Options for a prefix of this test only; its streams and bucket are removed afterwards."""
    opts = NatsOptions(url=nats_url, prefix=f"t{uuid.uuid4().hex[:12]}")
    yield opts
    nc = await connect(opts, name="test-cleanup")
    try:
        await delete_all(nc.jetstream(), Names(opts.prefix))
    finally:
        await nc.close()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    _need(f"no nats-server binary at {NATS_SERVER}", None if os.path.exists(NATS_SERVER) else "not found")
    srv = PrivateNats(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def pg_db() -> AsyncIterator[str]:
    """A DSN for a database created for this test only and dropped after it."""
    _need(f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT}", _answers(PG_HOST, PG_PORT))
    async with temporary_database(PG_HOST, PG_PORT) as dsn:
        yield dsn
