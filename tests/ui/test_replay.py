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


# ---- the time machine: seek, go to a time, step, alert to alert ---------------------------------------------
# Expectations come from `replay --json --at TIME` (a fresh session run to TIME by the CLI, not the TUI)
# and, for the book itself, from Binance's documented sync applied by hand to the capture written here.

T0 = 1_796_115_600 * SEC  # 2026-12-01T09:00:00Z


def _diff(u: int, bids: list[list[str]], asks: list[list[str]], first: int | None = None) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": u, "s": "BNBBTC", "U": u if first is None else first, "u": u, "b": bids, "a": asks}


def _snapshot(last: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    return {"id": "d1xBNBBTC", "status": 200, "result": {"lastUpdateId": last, "bids": bids, "asks": asks}}


def _write_capture(path: Any, recs: list[tuple[int, dict[str, Any]]]) -> None:
    path.write_text("".join(orjson.dumps({"t_ns": t, "venue": "binance", "symbol": "BNBBTC",
                                          "frame": orjson.dumps(f).decode()}).decode() + "\n" for t, f in recs))


# Three minutes of one book: every 5 s the best bid moves to 99.00 + k/100 with size k (the old one deleted).
LONG_SNAP = _snapshot(100, [["98.0", "1"]], [["101.0", "3"]])
LONG_DIFFS = [(0.0, _diff(101, [["99.00", "1"]], []))] + [
    (5.0 * k, _diff(101 + k, [[f"{99 + k / 100:.2f}", str(k)], [f"{99 + (k - 1) / 100:.2f}", "0"]], []))
    for k in range(1, 37)]


@pytest.fixture
def long_capture(tmp_path: Any) -> Any:
    path = tmp_path / "long.jsonl"
    recs = [(T0 + int(at * SEC), d) for at, d in LONG_DIFFS]
    recs.insert(1, (T0 + SEC // 2, LONG_SNAP))
    _write_capture(path, recs)
    return path


def reference_best_bid(until_s: float) -> tuple[str, str] | None:
    """The best bid by hand: the snapshot, then each diff with u > lastUpdateId up to ``until_s``; None
    before the snapshot reply (0.5 s): the book is still syncing."""
    if until_s < 0.5:
        return None
    bids = {p: q for p, q in LONG_SNAP["result"]["bids"]}
    for at, d in LONG_DIFFS:
        if at <= until_s and d["u"] > LONG_SNAP["result"]["lastUpdateId"]:
            for p, q in d["b"]:
                if float(q) == 0:
                    bids.pop(p, None)
                else:
                    bids[p] = q
    best = max(bids, key=float)
    return best, bids[best]


def json_at(capsys: Any, s: Any, path: Any, t_ns: int) -> list[Any]:
    """What `lcm-tui replay FILE --json --at TIME` prints for ``t_ns``, without its summary line."""
    from lcm_tui.frontends.jsonout import run_replay_json

    assert run_replay_json(s, str(path), at=f"{t_ns // SEC}.{t_ns % SEC:09d}") == 0, capsys.readouterr().err
    out = orjson.loads(capsys.readouterr().out)
    assert out[-1]["venue"] == "replay" and out[-1]["at_ns"] == t_ns
    return list(out[:-1])


def shown_state(app: ReplayApp) -> list[Any]:
    """The app's market in the JSON form `replay --json --at` prints (the same encoder over the app's view)."""
    from lcm_tui.frontends.jsonout import alert_object, encode_array, market_objects

    objs = market_objects(app.view, latest=False) + [alert_object(a) for a in app.view.alerts()]
    return list(orjson.loads(encode_array(objs)))


def best_bid(state: list[Any]) -> tuple[str | None, dict[str, Any]]:
    (o,) = [o for o in state if o["venue"] == "binance" and o["symbol"] == "BNBBTC"]
    return o["best_bid"], o


def tui_replay(s: Any, path: Any, **kw: Any) -> ReplayApp:
    from lcm_tui.frontends.tui.replay import scan_end
    from lcm_tui.runtime.engine import open_replay

    def reopen() -> tuple[Any, Any]:
        e = open_replay(s, str(path))
        return e.view, e.replay

    engine = open_replay(s, str(path))
    assert engine.replay is not None
    return ReplayApp(s, engine.view, engine.replay, reopen=reopen, scan=lambda: scan_end(str(path)), **kw)


async def settle(pilot: Any, app: ReplayApp) -> None:
    await until(pilot, lambda: app.seeking is None and not any(
        w.group == "replay" and w.is_running and w.name != "_play" for w in app.workers), "the seek to finish")
    await pilot.pause()


async def test_seek_forward_and_back_lands_on_the_state_a_fresh_replay_gives(capsys: Any, long_capture: Any) -> None:
    s = settings()
    seq = [(".", 10), (">", 70), (",", 60), ("<", 0), (">", 60)]  # key, seconds after T0 it lands on
    expected = {at: json_at(capsys, s, long_capture, T0 + at * SEC) for _, at in seq}
    app = tui_replay(s, long_capture, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.end_ns is not None, "the capture scan")
        assert app.end_ns == T0 + 180 * SEC and app.total_records == len(LONG_DIFFS) + 1
        sessions = [app.session]
        for key, at in seq:
            await pilot.press({".": "full_stop", ">": "greater_than_sign", ",": "comma", "<": "less_than_sign"}[key])
            await settle(pilot, app)
            assert app.replay_t_ns == T0 + at * SEC, key
            state = shown_state(app)
            assert state == expected[at], f"after {key!r} at +{at}s"
            bid, _o = best_bid(state)
            ref = reference_best_bid(at)
            assert (bid is None) if ref is None else (bid is not None and float(bid) == float(ref[0])), (at, bid, ref)
            sessions.append(app.session)
        # forward seeks go on with the same session; each backward one re-ran the capture in a fresh one
        assert [sessions[i + 1] is sessions[i] for i in range(len(seq))] == [True, True, False, False, True]
        assert app.paused  # a seek keeps the replay paused


async def test_go_to_a_typed_time_and_step_one_record(capsys: Any, long_capture: Any) -> None:
    s = settings()
    at = T0 + 123 * SEC  # 09:02:03, between the records at 120 s and 125 s
    exp_at = json_at(capsys, s, long_capture, at)
    exp_step = json_at(capsys, s, long_capture, T0 + 125 * SEC)  # the next record
    app = tui_replay(s, long_capture, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash")
        await pilot.pause()
        for ch in "noon":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        err = str(app.screen.query_one("#jump-error").render())
        assert "not a time: give ISO-8601" in err  # one line, the dialog stays open
        inp = app.screen.query_one("#jump-input")
        inp.value = ""  # type: ignore[attr-defined]
        for ch in "09:02:03":
            await pilot.press({":": "colon"}.get(ch, ch))
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.replay_t_ns == at and shown_state(app) == exp_at
        await pilot.press("i")
        await settle(pilot, app)
        assert shown_state(app) == exp_step
        ref = reference_best_bid(125)
        bid = best_bid(shown_state(app))[0]
        assert ref is not None and bid is not None and float(bid) == float(ref[0])


def _crunch_capture(path: Any) -> None:
    """Depth halves at 8.5 s and is restored at 9.5 s: the sample at 9 s opens a depth alert (as in
    tests/runtime/test_jsonout.py, where `replay --json --at` is checked against it)."""
    recs: list[tuple[int, dict[str, Any]]] = [(T0, _diff(101, [["100.0", "10"]], [])),
                                              (T0 + SEC // 10, _snapshot(100, [["100.0", "10"]], [["100.1", "10"]]))]
    sizes = ["12", "10"] * 4 + ["0.5", "10", "12", "10"] + ["12", "10"] * 4 + ["0.5", "10", "12", "10"]
    for k, q in enumerate(sizes):
        recs.append((T0 + k * SEC + SEC // 2, _diff(102 + k, [["100.0", q]], [])))
    _write_capture(path, recs)


async def test_next_and_previous_alert_stop_where_the_alerts_open(capsys: Any, tmp_path: Any) -> None:
    s = settings()
    s.detector.warmup_samples, s.detector.consecutive, s.detector.half_life_s = 3, 1, 2.0
    path = tmp_path / "crunch.jsonl"
    _crunch_capture(path)
    # The alert times by the independent route: the last `--json --at` before each opening has none more.
    opened = [o["alert"]["opened_ns"] for o in json_at(capsys, s, path, T0 + 23 * SEC) if o["venue"] == "alert"]
    assert len(opened) == 2 and opened[0] == T0 + 9 * SEC, opened
    exp = {t: json_at(capsys, s, path, t) for t in opened}
    app = tui_replay(s, path, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await settle(pilot, app)
        assert app.replay_t_ns == opened[0] and shown_state(app) == exp[opened[0]]
        await pilot.press("l")
        await settle(pilot, app)
        assert app.replay_t_ns == opened[1] and shown_state(app) == exp[opened[1]]
        await pilot.press("i", "i")  # a little past it
        await settle(pilot, app)
        await pilot.press("b")  # back to the second alert's opening (it opened before now)
        await settle(pilot, app)
        assert app.replay_t_ns == opened[1] and shown_state(app) == exp[opened[1]]
        await pilot.press("b")  # and to the first
        await settle(pilot, app)
        assert app.replay_t_ns == opened[0] and shown_state(app) == exp[opened[0]]


async def test_the_header_shows_position_of_total_and_seeking(long_capture: Any) -> None:
    from lcm_tui.frontends.tui.widgets.progress import ReplayProgress, progress_text

    s = settings()
    app = tui_replay(s, long_capture, start_paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.end_ns is not None, "the capture scan")
        await pilot.press("greater_than_sign")
        await settle(pilot, app)
        page = app.page_screen
        assert page is not None
        line = page.status_line.render().plain.splitlines()[2]
        # 60 s of 180 s: a third of the bar, the time of day at the position, the total, the speed
        assert "09:01:00" in line and "1:00 / 3:00" in line and "33%" in line and "x1" in line, line
        assert page.status_line.size.height == 3
    seeking = progress_text(ReplayProgress(T0, T0 + 180 * SEC, T0, "x1", "seeking to 09:01:00…"), 100).plain
    assert seeking.endswith("seeking to 09:01:00…") and seeking.startswith(" 09:00:00 ")


def test_replay_snapshot_with_the_progress_bar(snap_compare: Any, long_capture: Any, monkeypatch: Any) -> None:
    """Paused at 09:01:10 of a three-minute capture: the third header line is the progress bar."""
    monkeypatch.chdir(long_capture.parent)
    app = tui_replay(settings(), long_capture.name, start_paused=True)

    async def seek(pilot: Any) -> None:
        await until(pilot, lambda: app.end_ns is not None, "the capture scan")
        await pilot.press("greater_than_sign", "full_stop")
        await settle(pilot, app)

    assert snap_compare(app, run_before=seek, terminal_size=(100, 30))


async def test_replay_help_lists_the_time_machine_keys() -> None:
    m = filled_market()
    app = replay_app(m, FakeReplayer(), [rec(NOW_NS)], speed=0)
    async with app.run_test(size=(80, 24)):
        rows = dict(app.help_rows())
    assert rows[", / ."] == "seek back / forward 10 s" and rows["< / >"] == "seek back / forward 1 min"
    assert "go to a typed time" in rows["/"] and "one record" in rows["i"] and "next / previous alert" in rows["l / b"]
    assert rows["space"] == "pause / resume the replay"
