"""Loopback fixtures: a real simulator server, real runners on real sockets, a manual market clock.

``sim_factory({"binance": ["BTCUSDT"]})`` starts the simulator (nothing moves until the test calls
``await sim.step()``), ``sim.start_runner("binance")`` runs a real ``StreamRunner`` against it, and
``sim.books_match(runner)`` compares the client's books with the simulator's true books string for
string. The true books are the simulator's own integer books (``SimBook``), rendered by its own
formatter, so the comparison holds the adapter and lcm-tui's ``OrderBook`` to an independent
reference. The ``wait_until`` fixture (``poll_until``) polls a condition and fails the test with
``msg`` on timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lcm_tui.config import FeedsConfig, Settings
from lcm_tui.core.model import FeedEvent, StreamStatus
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.runner import StreamRunner
from lcm_tui.runtime.sim.server import SimServer
from lcm_tui.venues.registry import adapter_class
from lcm_tui.venues.simbook import SimBook


async def poll_until(pred: Callable[[], bool], timeout: float = 5.0, msg: str = "") -> None:
    """Poll ``pred`` until it holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"condition not met within {timeout}s: {msg or pred}")
        await asyncio.sleep(0.005)


def book_mismatch(client: Any, truth: SimBook) -> str | None:
    """Where a client's book (anything with iterable ``bids``/``asks`` of string pairs, best first)
    differs from the simulator's true book, or None when they are equal string for string."""
    for name, mine, want in (("bids", list(client.bids), truth.bids()), ("asks", list(client.asks), truth.asks())):
        if mine == want:
            continue
        for i, (a, b) in enumerate(zip(mine, want, strict=False)):
            if tuple(a) != tuple(b):
                return f"{name}[{i}]: client {tuple(a)} != true {tuple(b)}"
        return f"{name}: client has {len(mine)} levels, true book {len(want)}"
    return None


def fast_feeds(**kw: Any) -> FeedsConfig:
    """Feed timings scaled down so fault tests finish in well under a second each."""
    base: dict[str, Any] = {"stale_after_s": 0.4, "reconnect_min_s": 0.02, "reconnect_max_s": 0.2,
                            "ping_interval_s": 5.0}
    base.update(kw)
    return FeedsConfig(**base)


class SimHarness:
    def __init__(self, server: SimServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.faults = server.faults
        self.events: list[FeedEvent] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.runners: list[StreamRunner] = []

    def adapter(self, venue: str) -> Any:
        vc = self.settings.venues[venue]
        return adapter_class(venue)(vc, list(vc.symbols), self.events.append)

    def start_runner(self, venue: str, capture: Capture | None = None, **feeds: Any) -> StreamRunner:
        vc = self.settings.venues[venue]
        cls = adapter_class(venue)
        runner = StreamRunner(lambda: cls(vc, list(vc.symbols), self.events.append),
                              fast_feeds(**feeds), capture, seed=1)
        self.runners.append(runner)
        self.tasks.append(asyncio.create_task(runner.run()))
        return runner

    async def step(self, n: int = 1) -> None:
        await self.server.step(n)

    @staticmethod
    def live(runner: StreamRunner) -> bool:
        return all(st.status is StreamStatus.LIVE for st in runner.states.values())

    async def step_until(self, pred: Callable[[], bool], timeout: float = 5.0, msg: str = "") -> None:
        """Keep the market moving (deltas are what trigger syncing) until ``pred`` holds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred():
            if loop.time() > end:
                raise AssertionError(f"condition not met within {timeout}s: {msg or pred}")
            await self.step()
            with contextlib.suppress(AssertionError):
                await poll_until(pred, 0.03)

    async def step_until_live(self, runner: StreamRunner, timeout: float = 5.0) -> None:
        await self.step_until(lambda: self.live(runner), timeout, f"{runner.venue} live")

    def books_match(self, runner: StreamRunner) -> bool:
        sim = self.server.sims[runner.venue]
        for sym, st in runner.states.items():
            if st.status is not StreamStatus.LIVE:
                return False
            if book_mismatch(st.book, sim.true_book(sym)) is not None:
                return False
        return True

    async def settle(self, runner: StreamRunner, timeout: float = 5.0) -> None:
        """Stop the market and wait until the client's books equal the true books exactly."""
        await poll_until(lambda: self.books_match(runner), timeout, f"{runner.venue} books match the simulator")

    async def stop_runners(self) -> None:
        """Cancel every runner (what Ctrl-C does); their capture lines are complete afterwards."""
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.tasks.clear()

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.server.close()


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Awaitable[SimHarness]]]:
    made: list[SimHarness] = []

    async def make(venues: dict[str, list[str]], **server_kw: Any) -> SimHarness:
        server_kw.setdefault("ping_interval_s", None)
        server = await SimServer(venues, **server_kw).start()
        h = SimHarness(server, server.configure(Settings()))
        made.append(h)
        return h

    yield make
    for h in made:
        await h.close()


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    return poll_until


@pytest.fixture(name="fast_feeds")
def fast_feeds_fixture() -> Callable[..., FeedsConfig]:
    return fast_feeds


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1, made with the openssl command (skipped without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    crt, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    return crt, key
