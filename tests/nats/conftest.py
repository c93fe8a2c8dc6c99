"""NATS JetStream fixtures: the server at $LCM_TEST_NATS_URL (default nats://127.0.0.1:4222), a unique
prefix per test (its streams and KV bucket are deleted after it), private servers for restart and
auth tests, and a fresh PostgreSQL database for the recorder tests.

Without a server the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lcm_tui.runtime.bus.collector import delete_all
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.subjects import Names

NATS_URL = os.environ.get("LCM_TEST_NATS_URL") or "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _answers(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as e:
        return str(e)


def _need(what: str, why: str | None) -> None:
    if why is None:
        return
    if _in_ci():
        pytest.fail(f"{what} ({why}); CI=true, so these tests must run", pytrace=False)
    pytest.skip(f"{what} ({why}); these tests need it (they fail instead under CI=true)")


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateNats:
    """A ``nats-server -js`` of the test's own, on a free port with its store in a temp dir: safe to kill."""

    def __init__(self, root: Path, config: str = "") -> None:
        self.root = root
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.conf = root / "nats.conf"
        self.conf.write_text(f'port: {self.port}\nlisten: "127.0.0.1:{self.port}"\n'
                             f'jetstream {{ store_dir: "{root / "js"}" }}\n{config}')
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([NATS_SERVER, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while _answers("127.0.0.1", self.port) is not None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("private nats-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


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
    import asyncpg

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


async def wait_for(pred: object, timeout: float, step: float = 0.05) -> float:
    """Poll ``pred()`` until true; returns the seconds it took. Fails the test on timeout."""
    t0 = time.monotonic()
    while True:
        if pred():  # type: ignore[operator]
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield
