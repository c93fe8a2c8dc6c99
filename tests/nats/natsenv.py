"""Helpers of the NATS tests (servers, waiting), in a module of its own name: ``from conftest import``
would pick up another directory's conftest when the whole suite runs in one session."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

NATS_URL = os.environ.get("LCM_TEST_NATS_URL") or "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
PG_HOST, PG_PORT = "127.0.0.1", 5432


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


async def wait_for(pred: object, timeout: float, step: float = 0.05) -> float:
    """Poll ``pred()`` until true; returns the seconds it took. Fails the test on timeout."""
    t0 = time.monotonic()
    while True:
        if pred():  # type: ignore[operator]
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
