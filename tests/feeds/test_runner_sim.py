"""The simulator the loopback tests rest on: a deterministic, realistic market and honest faults.

The market is checked with a reference written here (a dict per side, spread, depth and VWAP in plain
arithmetic over ticks and lots), never with lcm-tui's book or metrics: those are what the simulator
is used to test.
"""

from __future__ import annotations

import statistics

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from lcm_tui.runtime.http import http_get
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.market import MAX_LEVELS, MIN_LEVELS, FairPrices, MarketSim
from lcm_tui.runtime.sim.server import SimServer, venue_sims
from lcm_tui.venues import registry
from lcm_tui.venues.binance.sim import BinanceSim


def _market(seed=7, venue="binance", symbol="BTCUSDT"):
    fair = FairPrices(seed)
    return fair, MarketSim(seed, venue, symbol, BinanceSim([symbol]).params[symbol], fair)


def _run(seed, steps):
    fair, m = _market(seed)
    out = []
    for _ in range(steps):
        fair.step()
        out.append(m.step())
    return out


class RefBook:
    """A dict per side, price ticks -> lots: the test's own book."""

    def __init__(self, bids, asks):
        self.side = {"bid": dict(bids), "ask": dict(asks)}

    def apply(self, changes):
        for side, p, q in changes:
            assert isinstance(p, int) and isinstance(q, int) and p > 0 and q >= 0
            if q:
                self.side[side][p] = q
            else:
                self.side[side].pop(p, None)

    def best(self, side):
        return max(self.side["bid"]) if side == "bid" else min(self.side["ask"])

    def sorted(self, side):
        return sorted(self.side[side].items(), reverse=side == "bid")


def test_market_is_deterministic_from_the_seed():
    assert _run(7, 300) == _run(7, 300)
    assert _run(7, 300) != _run(8, 300)


def test_market_invariants_and_churn_near_the_top():
    fair, m = _market()
    book = RefBook(*m.snapshot())
    top_hits = changes = 0
    for _ in range(2000):
        fair.step()
        step = m.step()
        for side, p, _q in step:
            if book.side[side]:
                best = book.best(side)
                if abs(p - best) / best < 5e-4:  # within 5 bps of the top
                    top_hits += 1
            changes += 1
        book.apply(step)
        assert book.best("bid") < book.best("ask")
        assert MIN_LEVELS <= len(book.side["bid"]) <= MAX_LEVELS and MIN_LEVELS <= len(book.side["ask"]) <= MAX_LEVELS
    assert top_hits / changes > 0.5  # most activity is at the top of the book, as on real venues
    bids, asks = m.snapshot()
    assert book.sorted("bid") == bids and book.sorted("ask") == asks


def _measure(book: RefBook, tick: float, lot: float, notional: float) -> tuple[float, float, float]:
    """(spread bps, depth within 10 bps of the mid in quote, bps a market buy of ``notional`` pays)."""
    bid, ask = book.best("bid") * tick, book.best("ask") * tick
    mid = (bid + ask) / 2
    depth = sum(p * tick * q * lot for side in ("bid", "ask") for p, q in book.side[side].items()
                if abs(p * tick - mid) <= mid * 10e-4)
    left, cost, qty = notional, 0.0, 0.0
    for p, q in book.sorted("ask"):
        take = min(q * lot, left / (p * tick))
        cost += take * p * tick
        qty += take
        left -= take * p * tick
        if left <= 1e-9:
            break
    return (ask - bid) / mid * 1e4, depth, (cost / qty / mid - 1) * 1e4


def test_crunch_episodes_drain_depth_and_widen_spread():
    fair, m = _market()
    book = RefBook(*m.snapshot())
    tick, lot = 10.0 ** -m.params.tick_decimals, 10.0 ** -m.params.lot_decimals
    normal, crunch = [], []
    for i in range(6000):
        fair.step()
        book.apply(m.step())
        if i % 10 == 0:
            (crunch if m.crunch_left else normal).append(_measure(book, tick, lot, 100_000.0))
    assert m.crunches >= 2 and crunch
    med = [statistics.median(x) for x in zip(*normal, strict=True)]
    cmed = [statistics.median(x) for x in zip(*crunch, strict=True)]
    assert cmed[0] > 3 * med[0]  # spread jumps
    assert cmed[1] < 0.6 * med[1]  # depth near the mid drains
    assert cmed[2] > 1.5 * med[2]  # slippage jumps


def test_the_simulated_venues_are_the_registry_venues():
    """The registry is the one list: every venue it names has a simulator, in the same order."""
    assert list(venue_sims()) == list(registry.names())
    for name, cls in venue_sims().items():
        assert cls.venue == name


@pytest.mark.parametrize("venue", registry.names())
def test_sim_symbol_rules_agree_with_the_spec(venue):
    """The simulator states its own spelling; it must be the one the venue's spec documents."""
    spec, cls = registry.spec(venue), registry.sim_class(venue)
    for base, quote in (("BTC", "USDT"), ("ETH", "USDC"), ("SOL", "EUR")):
        spelled = cls.join_symbol(base, quote)
        assert spelled == spec.symbol(base, quote)
        assert cls.split_symbol(spelled)[0] == base
    for sym in spec.example_symbols:
        base = cls.split_symbol(sym)[0]
        assert base and sym.upper().startswith(base)


async def test_server_serves_every_registry_venue():
    """One server over every venue: each handler builds its books from the same seeded market."""
    venues = {v.name: list(v.example_symbols) for v in registry.VENUES}
    async with SimServer(venues, ping_interval_s=None) as server:
        await server.step(3)
        for name, sim in server.sims.items():
            for sym in venues[name]:
                book = sim.books[sym]
                assert min(book.depth()) >= MIN_LEVELS and not book.is_crossed(), (name, sym)
                bid, ask = book.best_bid(), book.best_ask()
                assert bid is not None and ask is not None


def test_fault_plan_consumes_only_what_fired():
    plan = FaultPlan()
    f = plan.schedule("drop", "binance", "BTCUSDT", count=2)
    assert plan.peek({FaultKind.DROP}, "binance", "ETHUSDT") is None
    assert plan.peek({FaultKind.MALFORMED}, "binance", "BTCUSDT") is None
    plan.consume(plan.peek({FaultKind.DROP}, "binance", "BTCUSDT"), "BTCUSDT")
    assert plan.pending() == [f] and f.count == 1
    plan.consume(f, "BTCUSDT")
    assert plan.pending() == [] and plan.fired == [(FaultKind.DROP, "binance", "BTCUSDT")] * 2
    a = FaultPlan(random_rate=0.5, random_kinds=(FaultKind.DROP,))
    for _ in range(20):
        a.roll("binance", "BTCUSDT")
    assert 0 < len(a.pending()) < 20


async def test_server_routes_by_path_and_rejects_unknown(sim_factory):
    sim = await sim_factory({"binance": ["BTCUSDT"]})
    base = f"ws://127.0.0.1:{sim.server.port}"
    async with connect(f"{base}/nowhere/ws") as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1008
    async with connect(f"{base}/binance/ws-api/v3") as ws:
        await ws.send('{"id":"x1","method":"depth","params":{"symbol":"BTCUSDT","limit":3}}')
        reply = await ws.recv()
        assert '"status":200' in reply and '"rateLimits"' in reply and reply.count("],[") == 4
    assert (await http_get(f"http://127.0.0.1:{sim.server.port}/binance/nope"))[0] == 404
    assert (await http_get(f"http://127.0.0.1:{sim.server.port}/binance/api/v3/depth?symbol=BTCUSDT"))[0] == 200


@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.DISCONNECT])
@pytest.mark.parametrize("venue", registry.names())
async def test_socket_fault_matrix_every_registry_venue(sim_factory, venue, kind):
    """Real runner, real sockets, every venue of the registry: a lost frame or a dropped connection
    ends with the books equal to the simulator's own, string for string."""
    syms = list(registry.spec(venue).example_symbols)
    sim = await sim_factory({venue: syms}, shutdown_grace_s=0.05)
    if venue == "kraken":
        sim.settings.venues[venue].depth = 10
    runner = sim.start_runner(venue)
    await sim.step_until_live(runner)
    sim.faults.schedule(kind, venue, syms[0])
    await sim.step_until(lambda: not sim.faults.pending() and sim.books_match(runner), timeout=8,
                         msg=f"{kind} fired on {venue} and the books match again")
    st = runner.states[syms[0]].counters
    if kind is FaultKind.DISCONNECT:
        assert runner.connects >= 2 and sim.server.connections >= 2
    else:
        assert st.gaps + st.checksum_failures + st.resyncs > 0
