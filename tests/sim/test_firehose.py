"""The benchmark's pre-rendered Bybit spot feed (runtime/sim/firehose.py) is a valid feed forever.

Its frames are read off a real socket and replayed through the real ``BybitSpotAdapter``; the test
checks ``u`` continuity itself, keeps its own plain-dict book from the frames, and holds both the
adapter's book and its own to the simulator's true books (``BybitSpotSim`` over the same seeded
market, stepped here independently): at the turn of each cycle the book is the simulator's book
after the forward deltas, and at the end of each cycle it is the simulator's starting book again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections import Counter
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from lcm_tui.core.model import StreamStatus
from lcm_tui.core.settings import FeedsConfig, VenueConfig
from lcm_tui.runtime.runner import StreamRunner
from lcm_tui.runtime.sim.firehose import U_FIRST, U_LAST, FirehoseServer, build_cycles
from lcm_tui.runtime.sim.market import FairPrices, MarketSim
from lcm_tui.venues.bybit.adapter import BybitSpotAdapter
from lcm_tui.venues.bybit.sim import BybitSpotSim
from lcm_tui.venues.simbase import SimConn

SYMS = ["C0000USDT", "C0001USDT", "C0002USDT"]
FORWARD = 100  # deltas forward, so a cycle is 200
SEED = 11
# A client that stops reading a flat-out feed to close cannot see the server's close frame behind
# the frames it did not read: it gives up after its close timeout.
CLOSE_S = 0.2

Levels = list[tuple[str, str]]


def true_books(symbols: list[str], seed: int, forward: int) -> dict[str, tuple[tuple[Levels, Levels],
                                                                               tuple[Levels, Levels]]]:
    """Per symbol, the simulator's depth-200 book at the start and after ``forward`` deltas."""
    sim = BybitSpotSim(list(symbols))
    fair = FairPrices(seed)
    markets = {s: MarketSim(seed, sim.venue, s, sim.params[s], fair) for s in symbols}
    conn = SimConn(venue=sim.venue, path=sim.path)
    for s, m in markets.items():
        sim.load(s, *m.snapshot())
        sim.on_message(conn, json.dumps({"op": "subscribe", "args": [f"orderbook.200.{s}"]}))

    def book(s: str) -> tuple[Levels, Levels]:
        b = sim.true_book(s)
        return [tuple(lv) for lv in b.bids()], [tuple(lv) for lv in b.asks()]  # type: ignore[misc]

    start = {s: book(s) for s in symbols}
    seen: Counter[str] = Counter()
    turn: dict[str, tuple[Levels, Levels]] = {}
    t_ns = 0
    while len(turn) < len(symbols):
        t_ns += 100_000_000
        fair.step()
        for s in symbols:
            payload = sim.step(s, markets[s].step(), t_ns)
            if payload is not None and sim.frames_for(conn, s, payload):
                seen[s] += 1
                if seen[s] == forward:
                    turn[s] = book(s)
    return {s: (start[s], turn[s]) for s in symbols}


class RefBook:
    """The test's own book: price -> size per side, best first on demand."""

    def __init__(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        self.bids = {p: q for p, q in bids}
        self.asks = {p: q for p, q in asks}

    def apply(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q

    def levels(self) -> tuple[Levels, Levels]:
        return (sorted(self.bids.items(), key=lambda lv: -float(lv[0])),
                sorted(self.asks.items(), key=lambda lv: float(lv[0])))


def adapter_levels(ad: BybitSpotAdapter, s: str) -> tuple[Levels, Levels]:
    book = ad.states[s].book
    return [tuple(lv) for lv in book.bids], [tuple(lv) for lv in book.asks]  # type: ignore[misc]


class Replay:
    """Frames off the socket into the adapter and the reference book, checked as they come."""

    def __init__(self, fh: FirehoseServer, truth: dict[str, Any]) -> None:
        self.fh = fh
        self.truth = truth
        self.ad = BybitSpotAdapter(VenueConfig("bybit-spot", symbols=list(fh.symbols)), list(fh.symbols))
        self.ref: dict[str, RefBook] = {}
        self.last_u: dict[str, int] = {}
        self.deltas: Counter[str] = Counter()  # since the symbol's last snapshot
        self.snapshots: Counter[str] = Counter()
        self.snapshot_u: dict[str, list[int]] = {s: [] for s in fh.symbols}
        self.checked: Counter[str] = Counter()  # cycle ends and turns compared with the simulator
        self.acks = 0

    def feed(self, msg: str | bytes) -> None:
        self.ad.on_frame(msg, 1)
        m = orjson.loads(msg)
        if "topic" not in m:
            assert m.get("success") is True, m
            self.acks += 1
            return
        d = m["data"]
        s, u = d["s"], d["u"]
        assert m["topic"] == f"orderbook.200.{s}" and d["seq"] == int(f"7{u}") and m["cts"] == m["ts"] - 2
        if m["type"] == "snapshot":
            self.ref[s] = RefBook(d["b"], d["a"])
            self.snapshots[s] += 1
            self.snapshot_u[s].append(u)
            self.deltas[s] = 0
            assert self.ref[s].levels() == self.truth[s][0], "a snapshot is not the simulator's starting book"
        else:
            assert m["type"] == "delta" and u == self.last_u[s] + 1, f"{s}: u {self.last_u[s]} -> {u}"
            self.ref[s].apply(d["b"], d["a"])
            self.deltas[s] += 1
        self.last_u[s] = u
        n = self.fh.cycles[s].frames
        at = self.deltas[s] % n
        if self.deltas[s] and at in (0, n // 2):
            want = self.truth[s][0 if at == 0 else 1]
            assert self.ref[s].levels() == want, f"{s}: reference book after {self.deltas[s]} deltas"
            assert adapter_levels(self.ad, s) == want, f"{s}: adapter book after {self.deltas[s]} deltas"
            self.checked[s] += 1

    def healthy(self) -> None:
        for s, st in self.ad.states.items():
            c = st.counters
            assert (c.gaps, c.resyncs, c.malformed, c.crossed) == (0, 0, 0, 0), (s, c)
            assert st.status is StreamStatus.LIVE, (s, st.status, st.status_detail)


async def read_until(ws: ClientConnection, rp: Replay, done: Any, limit: int = 200_000) -> None:
    async with asyncio.timeout(60):  # a feed that stopped fails the test instead of hanging it
        for _ in range(limit):
            rp.feed(await ws.recv())
            if done():
                return
    raise AssertionError("the feed did not get there")


async def subscribe(ws: ClientConnection, rp: Replay) -> None:
    for action in rp.ad.on_open(1):
        await ws.send(action.text)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return true_books(SYMS, SEED, FORWARD)


async def test_three_cycles_through_the_bybit_adapter_stay_gap_free_and_return_to_the_start(truth: Any) -> None:
    async with FirehoseServer(SYMS, seed=SEED, forward=FORWARD) as fh:
        assert {c.frames for c in fh.cycles.values()} == {2 * FORWARD}
        rp = Replay(fh, truth)
        async with connect(fh.endpoints()["ws_url"], compression=None, max_size=None, close_timeout=CLOSE_S) as ws:
            await subscribe(ws, rp)
            await read_until(ws, rp, lambda: min(rp.deltas[s] for s in SYMS) >= 3 * 2 * FORWARD)
            pong = await ws.ping()
            await read_until(ws, rp, pong.done)
            await ws.send(json.dumps({"op": "ping", "req_id": "p1"}))
            pongs = rp.ad.pongs
            await read_until(ws, rp, lambda: rp.ad.pongs > pongs)
        rp.healthy()
        assert all(rp.checked[s] >= 6 for s in SYMS), rp.checked  # 3 turns and 3 cycle ends each
        assert dict(rp.snapshots) == dict.fromkeys(SYMS, 1)
        assert fh.connections == 1 and fh.frames >= 3 * 2 * FORWARD * len(SYMS)


async def test_a_resubscribe_restarts_the_cycle_from_a_snapshot_with_a_later_u(truth: Any) -> None:
    async with FirehoseServer(SYMS, seed=SEED, forward=FORWARD) as fh:
        rp = Replay(fh, truth)
        async with connect(fh.endpoints()["ws_url"], compression=None, max_size=None, close_timeout=CLOSE_S) as ws:
            await subscribe(ws, rp)
            # Mid-cycle, as a client resyncing after a gap would: the new snapshot is the cycle's start.
            await read_until(ws, rp, lambda: rp.deltas[SYMS[0]] >= 2 * FORWARD + 37)
            await ws.send(json.dumps({"op": "unsubscribe", "args": [f"orderbook.200.{SYMS[0]}"]}))
            await ws.send(json.dumps({"op": "subscribe", "args": [f"orderbook.200.{SYMS[0]}"]}))
            await read_until(ws, rp, lambda: rp.snapshots[SYMS[0]] == 2 and rp.deltas[SYMS[0]] >= 2 * 2 * FORWARD)
        rp.healthy()
        first, second = rp.snapshot_u[SYMS[0]]
        assert second > first + 2 * FORWARD + 37 and second % 100 == 99


async def test_u_that_would_outgrow_ten_digits_restarts_with_a_snapshot(truth: Any) -> None:
    syms = SYMS[:1]
    # Two chunks before the digits run out, mid-cycle: the snapshot must restart the cycle too.
    async with FirehoseServer(syms, seed=SEED, forward=FORWARD, u_start=U_LAST - 160) as fh:
        rp = Replay(fh, {s: truth[s] for s in syms})
        async with connect(fh.endpoints()["ws_url"], compression=None, max_size=None, close_timeout=CLOSE_S) as ws:
            await subscribe(ws, rp)
            await read_until(ws, rp, lambda: rp.snapshots[syms[0]] == 2 and rp.deltas[syms[0]] >= 2 * FORWARD)
        rp.healthy()
        assert rp.snapshot_u[syms[0]] == [U_LAST - 100, U_FIRST + 99]
        assert rp.last_u[syms[0]] < U_LAST // 9


async def test_a_real_stream_runner_reading_flat_out_stays_live(truth: Any) -> None:
    """The runner the collectors use, against the unpaced feed: the server waits on the socket."""
    async with FirehoseServer(SYMS, seed=SEED, forward=FORWARD, write_buffer=16 * 1024) as fh:
        vc = VenueConfig("bybit-spot", symbols=list(SYMS), ws_url=fh.endpoints()["ws_url"])
        runner = StreamRunner(lambda: BybitSpotAdapter(vc, list(SYMS)), FeedsConfig(ping_interval_s=5.0), seed=1)
        task = asyncio.create_task(runner.run())
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while min(st.counters.frames for st in runner.states.values()) < 5 * 2 * FORWARD:
                assert loop.time() < end, {s: st.counters for s, st in runner.states.items()}
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for s, st in runner.states.items():
            c = st.counters
            assert (c.gaps, c.resyncs, c.malformed, c.reconnects) == (0, 0, 0, 0), (s, c)
        assert fh.connections == 1 and fh.snapshots == len(SYMS)
        assert fh.cycles_done >= 4 * len(SYMS)


async def test_a_set_rate_is_not_exceeded(truth: Any) -> None:
    rate = 400.0
    async with FirehoseServer(SYMS[:1], seed=SEED, forward=FORWARD, rate=rate, chunk_frames=1) as fh:
        rp = Replay(fh, {SYMS[0]: truth[SYMS[0]]})
        loop = asyncio.get_running_loop()
        async with connect(fh.endpoints()["ws_url"], compression=None, max_size=None, close_timeout=CLOSE_S) as ws:
            t0 = loop.time()
            await subscribe(ws, rp)
            await read_until(ws, rp, lambda: rp.deltas[SYMS[0]] >= 60)
            elapsed = loop.time() - t0
        rp.healthy()
        # The server's clock starts after the client's, and it never sends ahead of it.
        assert fh.frames <= rate * elapsed + 1


async def test_requests_bybit_refuses_are_refused() -> None:
    async with FirehoseServer(SYMS[:1], forward=50) as fh:
        async with connect(fh.endpoints()["ws_url"], compression=None, close_timeout=CLOSE_S) as ws:
            await ws.send(json.dumps({"op": "subscribe", "req_id": "a", "args": ["orderbook.50.C0000USDT"]}))
            assert orjson.loads(await ws.recv())["success"] is False
            await ws.send(json.dumps({"op": "subscribe", "args": [f"orderbook.200.X{i}" for i in range(11)]}))
            assert "args size" in orjson.loads(await ws.recv())["ret_msg"]
            await ws.send("not json")
            assert orjson.loads(await ws.recv())["ret_msg"] == "Invalid request"
        with pytest.raises(Exception, match="404"):
            async with connect(f"ws://{fh.host}:{fh.port}/okx/ws/v5/public"):
                pass
        assert fh.frames == 0


def test_cycles_are_hundreds_of_the_simulators_deltas_and_their_inverses() -> None:
    cy = build_cycles(SYMS[:1], seed=SEED, forward=120)[SYMS[0]]
    assert cy.frames == 300  # 120 rounded up to 150 forward, and back
    fwd, back = cy.deltas[:150], cy.deltas[150:]
    # Undoing a delta touches exactly the prices it set.
    for (fb, fa), (bb, ba) in zip(fwd, reversed(back), strict=True):
        assert [p for p, _ in fb] == [p for p, _ in bb] and [p for p, _ in fa] == [p for p, _ in ba]


def test_the_firehose_loads_no_adapter_or_core_code() -> None:
    """Like every simulator module (tests/sim/test_sim_imports.py), checked in a fresh interpreter."""
    code = ("import json, sys\nfrom lcm_tui.runtime.sim.firehose import build_cycles\n"
            "build_cycles(['C0000USDT'], forward=50)\nprint(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    mods = json.loads(out.stdout.strip().splitlines()[-1])
    bad = [m for m in mods if m.startswith(("lcm_tui.core", "lcm_tui.venues.base", "lcm_tui.config"))
           or m.endswith((".adapter", ".checksum", ".usdm"))]
    assert bad == []
    assert "lcm_tui.venues.bybit.sim" in mods  # the check saw the simulator load
