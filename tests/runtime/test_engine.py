"""The composition root over real sockets: demo mode on the loopback simulator, capture, replay, the view.

The simulated market moves only when the test steps it and the engine's clock is a manual one, so
nothing depends on wall time. Metrics the view draws are checked against an exact Decimal
computation written here from metrics.md, on the very book the snapshot carries.
"""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from lcm_tui.config import Settings, parse_settings
from lcm_tui.core.model import FeedEventKind, MetricSample, StreamStatus
from lcm_tui.runtime.engine import END_OF_CAPTURE, Engine, EngineError, open_live, open_replay
from lcm_tui.runtime.replay import Record, iter_capture
from lcm_tui.runtime.sim.demo import demo_venues

T0 = 1_764_000_000_000_000_000  # a fixed start for the manual clock
SEC = 10**9
D = Decimal


def demo_settings(**extra: Any) -> Settings:
    raw: dict[str, Any] = {
        "exchanges": {"binance": {"symbols": ["BTCUSDT"]}, "okx": {"symbols": ["BTC-USDT"]}},
        "demo": {"symbols": ["BTC-USDT", "ETH-USDT"]},
        "feeds": {"stale_after_s": 30, "reconnect_min_s": 0.02, "reconnect_max_s": 0.2},
    }
    raw.update(extra)
    return parse_settings(raw)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


async def poll(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def books_equal_truth(eng: Engine) -> bool:
    assert eng.sim is not None
    for st in eng.states():
        truth = eng.sim.sims[st.venue].true_book(st.symbol)
        if st.status is not StreamStatus.LIVE or list(st.book.bids) != truth.bids() or \
                list(st.book.asks) != truth.asks():
            return False
    return True


async def step_until(eng: Engine, pred: Callable[[], bool], what: str, steps: int = 400) -> None:
    assert eng.sim is not None
    for _ in range(steps):
        if pred():
            return
        await eng.sim.step()
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached after {steps} market steps: {what}")


async def step_and_settle(eng: Engine, n: int = 1) -> None:
    """Move the market ``n`` steps, then wait until every client book equals the simulator's true book."""
    assert eng.sim is not None
    await eng.sim.step(n)
    await poll(lambda: books_equal_truth(eng), "client books equal the simulator's")


# ------------------------------------------------------------------ an independent reference (metrics.md)
def ref_walk(levels: list[tuple[Decimal, Decimal]], notional: Decimal) -> tuple[Decimal | None, int, Decimal]:
    """(VWAP or None when unfillable, levels touched, quote filled): spend or receive ``notional``."""
    left = notional
    base = D(0)
    touched = 0
    for p, q in levels:
        touched += 1
        value = p * q
        if value >= left:
            base += left / p
            left = D(0)
            break
        base += q
        left -= value
    if left > 0:
        return None, touched, notional - left
    return notional / base, touched, notional


def ref_metrics(bids_s: list[tuple[str, str]], asks_s: list[tuple[str, str]], bands: list[int],
                notionals: list[float]) -> dict[str, Any]:
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        bids = [(D(p), D(q)) for p, q in bids_s]
        asks = [(D(p), D(q)) for p, q in asks_s]
        b1, a1 = bids[0][0], asks[0][0]
        m = (a1 + b1) / 2
        out: dict[str, Any] = {"mid": m, "spread_bps": 10_000 * (a1 - b1) / m, "depth_bid": {}, "depth_ask": {},
                               "imbalance": {}, "slip": {}}
        for x in bands:
            db = sum((p * q for p, q in bids if p >= m * (1 - D(x) / 10_000)), D(0))
            da = sum((p * q for p, q in asks if p <= m * (1 + D(x) / 10_000)), D(0))
            out["depth_bid"][x], out["depth_ask"][x] = db, da
            out["imbalance"][x] = (db - da) / (db + da) if db + da else D(0)
        for n in notionals:
            for side, levels, sign in (("buy", asks, 1), ("sell", bids, -1)):
                vwap, touched, filled = ref_walk(levels, D(n))
                slip = None if vwap is None else sign * 10_000 * (vwap - m) / m
                out["slip"][(side, n)] = (vwap, slip, touched, filled)
        return out


def close(a: float | None, b: Decimal | None, rel: float = 1e-9, abs_: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(D(a) - b) <= max(D(rel) * abs(b), D(abs_))


def assert_matches_reference(metrics: MetricSample, bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                             settings: Settings) -> None:
    ref = ref_metrics(bids, asks, list(settings.metrics.depth_bands_bps), list(settings.metrics.notionals))
    assert metrics.best_bid == bids[0][0] and metrics.best_ask == asks[0][0]
    assert close(metrics.mid, ref["mid"]) and close(metrics.spread_bps, ref["spread_bps"])
    for x in settings.metrics.depth_bands_bps:
        assert close(metrics.depth_bid[x], ref["depth_bid"][x]), (x, metrics.depth_bid[x], ref["depth_bid"][x])
        assert close(metrics.depth_ask[x], ref["depth_ask"][x]), (x, metrics.depth_ask[x], ref["depth_ask"][x])
        assert close(metrics.imbalance[x], ref["imbalance"][x])
    assert len(metrics.slippage) == 2 * len(settings.metrics.notionals)
    for s in metrics.slippage:
        vwap, slip, touched, filled = ref["slip"][(s.side, s.notional)]
        assert close(s.vwap, vwap) and close(s.slippage_bps, slip, abs_=1e-6), (s, vwap, slip)
        assert s.levels == touched and close(s.filled_quote, filled)


# ------------------------------------------------------------------ demo mode
async def test_demo_engine_goes_live_samples_on_its_clock_and_draws_metrics_of_the_drawn_book() -> None:
    settings = demo_settings()
    clock = Clock()
    expected = {(v, s) for v, syms in demo_venues(settings).items() for s in syms}
    async with open_live(settings, demo=True, demo_step_interval_s=0, demo_fault_rate=0, clock=clock) as eng:
        view = eng.view
        assert eng.mode == "demo" and eng.sim is not None and eng.sim.steps == 0
        assert {sv.key for sv in view.streams()} == expected
        await step_until(eng, lambda: all(sv.status is StreamStatus.LIVE for sv in view.streams()), "all live")
        await step_and_settle(eng)
        assert eng.monitor.last_sample_ns is None and all(view.latest(*k) is None for k in expected)

        for _ in range(4):
            clock.t += SEC
            eng.sample()
            await step_and_settle(eng, 2)  # the book moves on after the sample
        for venue, symbol in sorted(expected):
            latest = view.latest(venue, symbol)
            assert latest is not None and latest.ts_ns == clock.t  # stamped by the sample clock
            sig = {s.name: s for s in view.signals(venue, symbol)}
            assert set(sig) == {"depth", "spread", "slip_buy", "slip_sell"}
            assert all(len(s.history) <= 4 for s in sig.values())  # the detector saw 4 samples at most

            # What is drawn comes from the book now, not from the last sample: the market moved since.
            snap = view.snapshot(venue, symbol, 100_000)
            assert snap is not None and snap.metrics is not None and snap.ts_ns == clock.t
            truth = eng.sim.sims[venue].true_book(symbol)
            assert snap.bids == truth.bids() and snap.asks == truth.asks()  # the whole book, best first
            assert_matches_reference(snap.metrics, snap.bids, snap.asks, settings)
            # One instant: a buy never fills below the best ask drawn beside it, a sell never above the bid
            # (up to the rounding of N / base when the whole order fills at the best level).
            a1, b1 = float(snap.asks[0][0]), float(snap.bids[0][0])
            for s in snap.metrics.slippage:
                if s.vwap is not None:
                    assert s.vwap >= a1 * (1 - 1e-12) if s.side == "buy" else s.vwap <= b1 * (1 + 1e-12)
            top = view.snapshot(venue, symbol, 3)
            assert top is not None and top.bids == snap.bids[:3] and top.asks == snap.asks[:3]
            assert top.metrics == snap.metrics  # the top-N shown does not change the whole-book metrics
            # Drawing does not feed the detector: its clock is the sample clock.
            assert {s.name: list(s.history) for s in view.signals(venue, symbol)} == \
                {n: list(s.history) for n, s in sig.items()}

        assets = view.assets()
        assert assets == ["BTC", "ETH"]
        btc = view.consolidated("BTC")
        assert btc is not None and {s.venue for s in btc.sources} == {"binance", "okx"}
        assert btc.market is not None  # the sample clock ticked: the market signal exists
        hub_task = eng._feeds
        assert hub_task is not None and not hub_task.done()
    assert hub_task.done()  # leaving the block stops the feeds...
    assert eng.sim._server is None  # ...and the simulator


async def test_no_enabled_venue_is_a_one_line_error() -> None:
    with pytest.raises(EngineError, match="no enabled venue"):
        async with open_live(Settings()):
            pass


async def test_recorder_is_started_fed_and_closed_and_its_refusal_is_an_engine_error() -> None:
    made: list[Any] = []

    class Refused(RuntimeError):
        pass

    class FakeRecorder:
        def __init__(self, cfg: Any, refuse: bool = False) -> None:
            self.cfg, self.refuse, self.samples, self.closed = cfg, refuse, 0, False
            made.append(self)

        async def start(self) -> None:
            if self.refuse:
                raise Refused("recorder: login refused for user lcm")

        async def close(self) -> None:
            self.closed = True

        def on_sample(self, sample: Any, state: Any) -> None:
            self.samples += 1

        def status(self) -> str:
            return "ok"

    settings = demo_settings(recorder={"enabled": True})
    clock = Clock()
    async with open_live(settings, demo=True, demo_step_interval_s=0, demo_fault_rate=0, clock=clock,
                         recorder=FakeRecorder) as eng:
        assert eng.recorder is made[0]
        fake: Any = made[0]
        await step_until(eng, lambda: all(st.status is StreamStatus.LIVE for st in eng.states()), "all live")
        eng.sample()
        assert fake.samples == len(eng.states())
    assert fake.closed
    with pytest.raises(EngineError, match=r"^recorder: login refused for user lcm$"):
        async with open_live(settings, demo=True, demo_step_interval_s=0, clock=clock,
                             recorder=lambda cfg: FakeRecorder(cfg, refuse=True), recorder_errors=(Refused,)):
            pass


# ------------------------------------------------------------------ capture, then replay
async def test_capture_then_replay_ends_with_the_books_and_says_the_capture_ended(tmp_path: Any) -> None:
    settings = demo_settings()
    path = tmp_path / "demo.jsonl.gz"
    clock = Clock()
    async with open_live(settings, demo=True, capture=str(path), demo_step_interval_s=0, demo_fault_rate=0,
                         clock=clock) as eng:
        await step_until(eng, lambda: all(st.status is StreamStatus.LIVE for st in eng.states()), "all live")
        await step_and_settle(eng, 20)
        live_books = {st.key: st.book.to_dict() for st in eng.states()}
        live_counters = {st.key: (st.counters.frames, st.counters.gaps) for st in eng.states()}
    records = list(iter_capture(str(path)))  # complete: the engine closed the capture on the way out
    assert records and records[-1].event == "close"

    rep = open_replay(Settings(), str(path))  # no config entry needed: venues and symbols come from the file
    session = rep.replay
    assert session is not None and rep.mode == "replay"
    session.run()
    # Before finish() the trailing closes of the recording process show (what the TUI used to keep).
    assert all(st.status is not StreamStatus.LIVE for st in rep.states())
    session.finish()
    views = {sv.key: sv for sv in rep.view.streams()}
    assert set(views) == set(live_books)
    for key, sv in views.items():
        assert (sv.status, sv.detail) == (StreamStatus.LIVE, END_OF_CAPTURE)
        assert rep.monitor.states[key].book.to_dict() == live_books[key]
        assert (sv.counters.frames, sv.counters.gaps) == live_counters[key]
        # The final sample is of the final books, at the capture's last time: what replay --json reports.
        latest = rep.view.latest(*key)
        assert latest is not None and latest.ts_ns == max(r.t_ns for r in records)
        snap = rep.view.snapshot(key[0], key[1], 100_000)
        assert snap is not None and snap.metrics is not None
        assert_matches_reference(snap.metrics, snap.bids, snap.asks, rep.settings)

    # The sample clock ran on the capture's time: one sample per boundary crossed, plus the final one.
    iv = int(rep.settings.metrics.sample_interval_s * SEC)
    times = [r.t_ns for r in records if r.t_ns]
    first = times[0] - times[0] % iv + iv
    boundaries = len(range(first, times[-1] + 1, iv))
    assert session.samples == boundaries + (0 if times[-1] % iv == 0 else 1)


def test_a_far_future_record_does_not_stall_the_replay_clock(tmp_path: Any) -> None:
    path = tmp_path / "gap.jsonl"
    path.write_text('{"t_ns": 1000000000, "venue": "binance", "symbol": "BTCUSDT", "frame": "{}"}\n')
    rep = open_replay(Settings(), str(path))
    session = rep.replay
    assert session is not None
    session.run()
    session.feed(Record(10**300, "binance", "BTCUSDT", "{}"))  # a corrupt timestamp: 1e291 s later
    # The first stale_after_s (10 s at 1 s samples) of the gap as live sampled it, then the gap's end.
    assert session.jumps == 1 and session.samples == 10 + 1
    assert session.t_ns == 10**300
    session.feed(Record(10**300 + 3 * SEC, "binance", "BTCUSDT", "{}"))  # after the jump, the clock ticks again
    assert session.samples == 14 and session.jumps == 1


def test_an_unreadable_capture_is_an_engine_error(tmp_path: Any) -> None:
    with pytest.raises(EngineError, match="cannot read capture"):
        open_replay(Settings(), str(tmp_path / "missing.jsonl"))


# ------------------------------------------------------------------ the hub supervises its runners
async def test_a_crashing_runner_shows_down_with_its_reason_and_is_restarted() -> None:
    from lcm_tui.runtime.hub import FeedHub

    settings = demo_settings()
    events: list[Any] = []
    hub = FeedHub(settings, events.append, clock=lambda: T0)
    runner = hub.runners[0]
    calls = 0

    async def crashing() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    runner.run = crashing  # type: ignore[method-assign]
    for other in hub.runners[1:]:
        other.run = asyncio.Event().wait  # type: ignore[method-assign,assignment]  # idle, never crashes
    task = asyncio.create_task(hub.run())
    try:
        await poll(lambda: calls >= 3, "the runner restarted twice")
        for st in runner.states.values():
            assert st.status is StreamStatus.DOWN
            assert st.status_detail.startswith("runner crashed: RuntimeError: boom; restart in ")
        downs = [e for e in events if e.kind is FeedEventKind.DISCONNECT]
        assert {e.venue for e in downs} == {runner.venue} and downs[0].detail == "runner crashed: RuntimeError: boom"
        assert hub.crashes == {runner.venue: calls} or hub.crashes[runner.venue] >= 2
        assert not task.done()  # the other venues go on
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_tui_draws_the_demo_through_the_engine_view() -> None:
    """The app reads only ``engine.view`` (a MarketView) and ticks ``engine.sample``: no runner, no monitor."""
    import re

    from lcm_tui.frontends.tui.app import LcmApp

    def screen_text(app: LcmApp) -> str:
        return re.sub(r"<[^>]+>", "", app.export_screenshot()).replace("&#160;", " ")

    async with open_live(demo_settings(), demo=True, demo_step_interval_s=0.05, demo_fault_rate=0) as eng:
        app = LcmApp(eng.settings, eng.view, sample=eng.sample)
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(1000):
                if all(sv.status is StreamStatus.LIVE for sv in eng.view.streams()) and eng.monitor.last_sample_ns:
                    break
                await pilot.pause(0.02)
            assert eng.monitor.last_sample_ns is not None  # the app's timer drove the engine's sample clock
            await pilot.pause(0.2)
            text = screen_text(app)
            assert "BTCUSDT" in text and "LIVE" in text
            await pilot.press("c")
            await pilot.pause(0.2)
            assert "okx" in screen_text(app)  # the consolidated page, from view.consolidated()


async def test_an_unwritable_capture_is_one_line_before_anything_starts(tmp_path: Any) -> None:
    with pytest.raises(EngineError, match=r"^cannot write capture .*missing.*: No such file or directory$"):
        async with open_live(demo_settings(), demo=True, demo_step_interval_s=0,
                             capture=str(tmp_path / "missing" / "c.jsonl")):
            pass


async def test_a_venue_whose_adapter_does_not_load_is_shown_down_with_why(monkeypatch: Any) -> None:
    import lcm_tui.runtime.hub as hub_module
    from lcm_tui.frontends import jsonout

    real = hub_module.adapter_class

    def broken(venue: str) -> Any:
        if venue == "okx":
            raise ImportError("cannot import name 'OkxAdapter'")
        return real(venue)

    monkeypatch.setattr(hub_module, "adapter_class", broken)
    async with open_live(demo_settings(), demo=True, demo_step_interval_s=0, demo_fault_rate=0) as eng:
        okx = [sv for sv in eng.view.streams() if sv.venue == "okx"]
        down = StreamStatus.DOWN
        assert [(sv.symbol, sv.status) for sv in okx] == [("BTC-USDT", down), ("ETH-USDT", down)]
        assert okx[0].detail == "not running: cannot import name 'OkxAdapter'"
        assert eng.view.snapshot("okx", "BTC-USDT", 10) is None and eng.view.stream("okx", "BTC-USDT") == okx[0]
        lines = {(o["venue"], o["symbol"]): o for o in jsonout.market_objects(eng.view)}
        assert lines[("okx", "BTC-USDT")]["reason"] == "not running: cannot import name 'OkxAdapter'"


async def test_the_sample_clock_stops_when_told_or_when_its_reader_is_gone() -> None:
    settings = demo_settings(metrics={"sample_interval_s": 0.01})
    clock = Clock()
    eng = Engine(settings, mode="live", clock=clock)
    ticks: list[int] = []

    def on_tick(t_ns: int) -> bool:
        ticks.append(t_ns)
        clock.t += SEC
        return len(ticks) == 3  # e.g. stdout's reader went away after the third line

    stop = asyncio.Event()
    await asyncio.wait_for(eng.run_sample_clock(on_tick, stop), 10)
    assert ticks == [T0, T0 + SEC, T0 + 2 * SEC] and eng.monitor.last_sample_ns == T0 + 2 * SEC
    stop.set()
    await asyncio.wait_for(eng.run_sample_clock(on_tick, stop), 10)  # already stopped: no tick at all
    assert len(ticks) == 3


# ------------------------------------------------------------------ replay stopped at a time
def _binance_capture(path: Any, recs: list[tuple[int, dict[str, Any]]]) -> None:
    import json

    path.write_text("".join(json.dumps({"t_ns": t, "venue": "binance", "symbol": "BNBBTC", "frame": json.dumps(f)})
                            + "\n" for t, f in recs))


def _stepping_records() -> list[tuple[int, dict[str, Any]]]:
    """Binance's documented sync (a delta, the snapshot reply, then deltas), one delta every 0.4 s."""
    def diff(u: int, bid: str) -> dict[str, Any]:
        return {"e": "depthUpdate", "E": u, "s": "BNBBTC", "U": u, "u": u, "b": [[bid, "1"]], "a": []}

    snap = {"id": "d1xBNBBTC", "status": 200,
            "result": {"lastUpdateId": 100, "bids": [["0.0010", "1"]], "asks": [["0.0100", "1"]]}}
    recs = [(T0, diff(101, "0.0011")), (T0 + SEC // 10, snap)]
    recs += [(T0 + k * 4 * SEC // 10, diff(101 + k, f"0.00{11 + k}")) for k in range(1, 15)]
    return recs


def test_run_until_stops_at_a_time_takes_its_samples_and_goes_on_from_there(tmp_path: Any) -> None:
    recs = _stepping_records()
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    _binance_capture(full, recs)
    stop = T0 + 25 * SEC // 10  # 2.5 s: the records up to 2.4 s are in, the one at 2.8 s is not
    _binance_capture(part, [r for r in recs if r[0] <= stop])

    eng = open_replay(Settings(), str(full))
    session = eng.replay
    assert session is not None
    first = session.peek()
    assert first is not None and first.t_ns == T0 and session.peek() == first and session.fed == 0
    assert session.run_until(stop) == 8  # 2 + the deltas at 0.4 .. 2.4 s
    assert eng.now() == stop and session.last_record_ns == T0 + 24 * SEC // 10
    # The sample clock starts at the first record's next boundary (1 s) and has taken 1 s and 2 s.
    assert session.samples == 2 and eng.monitor.last_sample_ns == T0 + 2 * SEC
    assert session.run_until(stop + SEC // 10) == 0 and session.samples == 2  # nothing more is due yet

    truncated = open_replay(Settings(), str(part))
    assert truncated.replay is not None
    truncated.replay.run()
    key = ("binance", "BNBBTC")
    assert eng.monitor.states[key].book.to_dict() == truncated.monitor.states[key].book.to_dict()
    assert eng.monitor.states[key].status is StreamStatus.LIVE

    assert session.run() == len(recs) - 8  # the record held back at 2.8 s is fed first, then the rest
    whole = open_replay(Settings(), str(full))
    assert whole.replay is not None
    whole.replay.run()
    assert eng.monitor.states[key].book.to_dict() == whole.monitor.states[key].book.to_dict()
    assert eng.monitor.states[key].counters.frames == whole.monitor.states[key].counters.frames == len(recs)
