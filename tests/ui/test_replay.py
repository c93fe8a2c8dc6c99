"""The replay TUI: pacing, pause and speed keys, sampling on the capture clock, and a real capture."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import orjson
import pytest
from ui_fakes import NOW_NS, FakeMarket, fake_view, filled_market, settings

from lcm_tui.frontends.tui.replay import ReplayApp, speed_label
from lcm_tui.runtime.engine import Engine, ReplaySession
from lcm_tui.runtime.replay import Record, Replayer

SEC = 10**9


class FakeReplayer:
    """Takes the records instead of adapters: the pacing and the sample clock are under test, not the books."""

    def __init__(self) -> None:
        self.fed: list[int] = []

    def feed(self, rec: Record) -> None:
        self.fed.append(rec.t_ns)


def rec(t_ns: int) -> Record:
    return Record(t_ns, "binance", "BTCUSDT", None)


def replay_app(m: FakeMarket, rep: FakeReplayer, recs: list[Record], **kw: Any) -> ReplayApp:
    """The app over the engine's real ReplaySession (its sample clock) feeding ``rep``; the screen shows ``m``."""
    engine = Engine(m.settings, mode="replay")
    engine.sample = m.sample  # type: ignore[method-assign,assignment]
    session = ReplaySession(engine, cast(Replayer, rep), iter(recs))
    return ReplayApp(m.settings, fake_view(m), session, **kw)


def status_text(app: ReplayApp) -> str:
    page = app.page_screen
    assert page is not None
    return str(page.status_line.render())


async def until(pilot: Any, cond: Any, what: str, steps: int = 1000) -> None:
    for _ in range(steps):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_flat_out_replay_samples_on_the_capture_clock() -> None:
    m = filled_market()
    rep = FakeReplayer()
    recs = [rec(NOW_NS + k * SEC // 2) for k in range(21)]  # 10 s of capture, a record every 0.5 s
    app = replay_app(m, rep, recs, speed=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.done, "the end of the capture")
        assert rep.fed == [r.t_ns for r in recs]
        assert m.sample_calls == [NOW_NS + k * SEC for k in range(1, 11)]  # once per recorded second
        assert "replay 16:00:10 done 21 frames" in status_text(app)


async def test_pause_and_speed_keys_steer_a_paced_replay() -> None:
    m = filled_market()
    rep = FakeReplayer()
    recs = [rec(NOW_NS), rec(NOW_NS + 5 * SEC), rec(NOW_NS + 10 * SEC)]
    app = replay_app(m, rep, recs, speed=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(rep.fed) == 1, "the first record")
        await pilot.press("space")
        assert app.paused and "PAUSED" in status_text(app)
        await pilot.press("plus", "plus")
        assert app.speed == 5.0
        await pilot.press("minus")
        assert app.speed == 2.0
        await pilot.press("plus", "plus", "plus", "plus", "plus")  # 5, 10, 50, max and it stays at max
        assert app.speed == 0 and speed_label(app.speed) == "max"
        await pilot.pause(0.05)
        assert len(rep.fed) == 1  # paused: nothing more is fed even at max speed
        await pilot.press("space")
        await until(pilot, lambda: app.done, "the rest of the capture at max speed")
        assert rep.fed == [r.t_ns for r in recs]


async def test_replay_of_a_real_capture_rebuilds_the_live_books(tmp_path: Any, capsys: Any) -> None:
    """Capture the demo simulator for a moment, then replay it in the TUI: same books as ``replay --json``."""
    from lcm_tui.core.model import StreamStatus
    from lcm_tui.frontends.jsonout import run_replay_json
    from lcm_tui.runtime.capture import Capture
    from lcm_tui.runtime.engine import open_replay
    from lcm_tui.runtime.hub import FeedHub
    from lcm_tui.runtime.replay import replay_file
    from lcm_tui.runtime.sim.demo import start_demo

    s = settings()
    s.metrics.sample_interval_s = 0.1  # several samples inside a capture of well under a second
    s.demo.symbols = ["BTC-USDT"]
    for name in list(s.venues):
        if name != "binance":
            s.venues[name].enabled = False
    path = str(tmp_path / "cap.jsonl")
    async with start_demo(s, step_interval_s=0.02, fault_rate=0.0) as demo:
        with Capture(path) as cap:
            hub = FeedHub(demo, None, capture=cap)
            task = asyncio.create_task(hub.run())
            try:
                for _ in range(500):
                    if all(st.status is StreamStatus.LIVE and st.counters.frames >= 20 for st in hub.states()):
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("the demo streams never went live")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    expected = {k: st.book.to_dict() for k, st in replay_file(s, path).states.items()}
    assert run_replay_json(s, path) == 0
    json_report = [o for o in orjson.loads(capsys.readouterr().out) if o["venue"] != "consolidated"]
    engine = open_replay(s, path)
    session = engine.replay
    assert session is not None
    app = ReplayApp(s, engine.view, session, speed=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.done, "the end of the capture")
        assert {k: st.book.to_dict() for k, st in session.replayer.states.items()} == expected
        assert ("binance", "BTCUSDT") in engine.monitor.latest
        assert app.book.ladder._asks, "the ladder shows the replayed book"
        # The end of the capture as `replay --json` reports it: LIVE (the capture's trailing closes say
        # nothing about the books), and the slippage table of the final book, not of an older sample.
        final = {o["symbol"]: o for o in json_report}
        assert final["BTCUSDT"]["status"] == "live"
        text = status_text(app)
        assert " LIVE " in text and "CONNECTING" not in text and "closed" not in text
        walks = app.book.slippage.walks
        assert walks is not None
        by = {(w["side"], w["notional"]): w for w in final["BTCUSDT"]["slippage"]}
        assert [(w.side, w.notional, w.vwap) for w in walks] == [
            (w.side, w.notional, by[(w.side, w.notional)]["vwap"]) for w in walks]


def test_run_replay_rejects_a_missing_file_and_a_negative_speed(tmp_path: Any, capsys: Any) -> None:
    from lcm_tui.frontends.tui.replay import run_replay as run_replay_app

    assert run_replay_app(settings(), str(tmp_path / "nope.jsonl"), speed=1.0) == 2
    assert "cannot read capture" in capsys.readouterr().err
    assert run_replay_app(settings(), str(tmp_path / "nope.jsonl"), speed=-1.0) == 2
    assert "--speed must be >= 0" in capsys.readouterr().err


class TooManySamples(BaseException):
    """Raised past a bound so that a replay stuck sampling a gap ends its worker instead of hanging the test."""


class BoundedMarket(FakeMarket):
    def sample(self, t_ns: int) -> list[Any]:
        if len(self.sample_calls) >= 1000:
            raise TooManySamples(t_ns)
        return super().sample(t_ns)


def bounded_market() -> BoundedMarket:
    src = filled_market()
    m = BoundedMarket(src.settings)
    m.__dict__.update({k: v for k, v in src.__dict__.items() if k != "sample_calls"})
    return m


async def test_a_ten_day_gap_is_skipped_and_sampled_at_its_ends() -> None:
    """Paced at x1, ten quiet days are not waited for. The sample clock samples the gap as live did until the
    stream would have gone STALE (``feeds.stale_after_s``, 10 s: ten 1 s samples), then the gap's last second."""
    m = bounded_market()
    rep = FakeReplayer()
    later = NOW_NS + 10 * 86_400 * SEC
    app = replay_app(m, rep, [rec(NOW_NS), rec(later)], speed=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.done, "the end of the capture", steps=300)
        assert rep.fed == [NOW_NS, later]
        assert m.sample_calls == [NOW_NS + k * SEC for k in range(1, 11)] + [later]
        assert "done 2 frames (skipped 10d of gaps)" in status_text(app)


@pytest.mark.parametrize("speed", [1.0, 0.0])
async def test_a_far_future_timestamp_never_hangs_the_replay(speed: float) -> None:
    """t_ns = 1e300 (a corrupt capture line): the replay ends, the header says what it can, and q still quits."""
    m = bounded_market()
    rep = FakeReplayer()
    far = int(1e300)
    app = replay_app(m, rep, [rec(NOW_NS), rec(far), rec(far + 1)], speed=speed)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.done, "the end of the capture", steps=300)
        assert rep.fed == [NOW_NS, far, far + 1]
        # ten samples until STALE, the gap's last boundary, and the final sample at the last record
        assert m.sample_calls[:10] == [NOW_NS + k * SEC for k in range(1, 11)]
        assert len(m.sample_calls) == 12 and m.sample_calls[-1] == far + 1
        assert "replay ??:??:?? done 3 frames" in status_text(app)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "q to quit", steps=300)
