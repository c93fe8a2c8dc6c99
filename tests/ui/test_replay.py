"""The replay TUI: pacing, pause and speed keys, sampling on the capture clock, and a real capture."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from ui_fakes import NOW_NS, filled_market, settings

from lcm_tui.frontends.tui.replay import ReplayApp, speed_label

SEC = 10**9


@dataclass
class Rec:
    t_ns: int


class FakeReplayer:
    def __init__(self) -> None:
        self.fed: list[int] = []

    def feed(self, rec: Rec) -> None:
        self.fed.append(rec.t_ns)


async def until(pilot: Any, cond: Any, what: str, steps: int = 1000) -> None:
    for _ in range(steps):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_flat_out_replay_samples_on_the_capture_clock() -> None:
    m = filled_market()
    rep = FakeReplayer()
    recs = [Rec(NOW_NS + k * SEC // 2) for k in range(21)]  # 10 s of capture, a record every 0.5 s
    app = ReplayApp(settings(), m, rep, iter(recs), speed=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.done, "the end of the capture")
        assert rep.fed == [r.t_ns for r in recs]
        assert m.sample_calls == [NOW_NS + k * SEC for k in range(1, 11)]  # once per recorded second
        assert "replay 16:00:10 done 21 frames" in str(app.status_line.render())


async def test_pause_and_speed_keys_steer_a_paced_replay() -> None:
    m = filled_market()
    rep = FakeReplayer()
    recs = [Rec(NOW_NS), Rec(NOW_NS + 5 * SEC), Rec(NOW_NS + 10 * SEC)]
    app = ReplayApp(settings(), m, rep, iter(recs), speed=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(rep.fed) == 1, "the first record")
        await pilot.press("space")
        assert app.paused and "PAUSED" in str(app.status_line.render())
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


async def test_replay_of_a_real_capture_rebuilds_the_live_books(tmp_path: Any) -> None:
    """Capture the demo simulator for a moment, then replay it in the TUI: same books as ``replay --json``."""
    from lcm_tui.core.model import StreamStatus
    from lcm_tui.core.monitor import Monitor
    from lcm_tui.runtime.capture import Capture
    from lcm_tui.runtime.hub import FeedHub
    from lcm_tui.runtime.replay import open_replay, replay_file
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
    monitor = Monitor(s)
    replayer, records = open_replay(s, path, sink=monitor.on_event)
    for st in replayer.state_list():
        monitor.add(st)
    app = ReplayApp(s, monitor, replayer, records, speed=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.done, "the end of the capture")
        assert {k: st.book.to_dict() for k, st in replayer.states.items()} == expected
        assert ("binance", "BTCUSDT") in monitor.latest
        assert app.ladder._asks, "the ladder shows the replayed book"


def test_run_replay_rejects_a_missing_file_and_a_negative_speed(tmp_path: Any, capsys: Any) -> None:
    from lcm_tui.frontends.tui.app import run_replay_app

    assert run_replay_app(settings(), str(tmp_path / "nope.jsonl"), speed=1.0) == 2
    assert "cannot read capture" in capsys.readouterr().err
    assert run_replay_app(settings(), str(tmp_path / "nope.jsonl"), speed=-1.0) == 2
    assert "--speed must be >= 0" in capsys.readouterr().err
