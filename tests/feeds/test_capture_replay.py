"""Capture a live run over loopback, replay it, and get the same books string for string."""

from __future__ import annotations

import json

import orjson
import pytest

from lcm_tui.config import Settings
from lcm_tui.core.model import StreamStatus
from lcm_tui.frontends.jsonout import run_replay_json as replay_json
from lcm_tui.runtime.capture import Capture, open_text
from lcm_tui.runtime.replay import iter_capture, open_replay, replay_file
from lcm_tui.runtime.sim.faults import FaultKind

SYMS = ["BTCUSDT", "ETHUSDT"]


async def _live_capture(sim_factory, path, faults=True):
    sim = await sim_factory({"binance": SYMS, "binance-usdm": SYMS})
    cap = Capture(str(path), flush_every=50)
    spot = sim.start_runner("binance", capture=cap)
    fut = sim.start_runner("binance-usdm", capture=cap)
    await sim.step_until(lambda: sim.live(spot) and sim.live(fut), msg="both live")
    if faults:
        sim.faults.schedule(FaultKind.DROP, "binance", "BTCUSDT")
        sim.faults.schedule(FaultKind.TRUNCATED, "binance-usdm", "ETHUSDT")
        await sim.step(3)
        sim.faults.schedule(FaultKind.SERVER_SHUTDOWN, "binance")
        sim.faults.schedule(FaultKind.DISCONNECT, "binance-usdm")
        await sim.step_until(lambda: spot.rollovers == 1 and fut.connects == 2 and sim.live(fut),
                             msg="rolled over and reconnected")
    await sim.step(10)
    await sim.settle(spot)
    await sim.settle(fut)
    await sim.stop_runners()
    cap.close()
    return sim, {"binance": spot, "binance-usdm": fut}, cap


def _books(runners):
    return {(v, s): st.book.to_dict() for v, r in runners.items() for s, st in r.states.items()}


@pytest.mark.parametrize("name", ["cap.jsonl", "cap.jsonl.gz"])
async def test_capture_then_replay_reproduces_the_books(sim_factory, tmp_path, name):
    path = tmp_path / name
    _, runners, cap = await _live_capture(sim_factory, path)
    lines = list(iter_capture(str(path)))
    assert len(lines) == cap.lines
    assert {r.event for r in lines} >= {"open", "switch", "close"}
    rep = replay_file(Settings(), str(path))
    assert rep.errors == 0
    assert {k: st.book.to_dict() for k, st in rep.states.items()} == _books(runners)
    for (v, s), st in rep.states.items():
        live = runners[v].states[s]
        assert st.status is live.status, (v, s, [(r.venue, r.conn, r.event, r.mode) for r in lines if r.event])
        assert (st.counters.gaps, st.counters.resyncs, st.counters.malformed) == (
            live.counters.gaps, live.counters.resyncs, live.counters.malformed)
    assert rep.states[("binance", "BTCUSDT")].counters.gaps == 1


async def test_raw_and_combined_binance_captures_replay_alike(sim_factory, tmp_path):
    combined = tmp_path / "combined.jsonl"
    _, runners, _ = await _live_capture(sim_factory, combined, faults=False)
    raw = tmp_path / "raw.jsonl"
    with open_text(str(combined), "r") as src, open(raw, "w") as dst:
        for line in src:
            o = json.loads(line)
            if o["frame"] is not None and o["venue"] == "binance":
                msg = orjson.loads(o["frame"])
                if "stream" in msg:
                    o["frame"] = orjson.dumps(msg["data"]).decode()
            dst.write(json.dumps(o) + "\n")
    assert raw.read_text().count('\\"stream\\"') < combined.read_text().count('\\"stream\\"')
    a = replay_file(Settings(), str(combined))
    b = replay_file(Settings(), str(raw))
    assert {k: st.book.to_dict() for k, st in a.states.items()} == {k: st.book.to_dict() for k, st in b.states.items()}
    assert {k: st.book.to_dict() for k, st in b.states.items()} == _books(runners)


async def test_replay_json_needs_no_config(sim_factory, tmp_path, capsys):
    path = tmp_path / "c.jsonl"
    _, runners, _ = await _live_capture(sim_factory, path, faults=False)
    assert replay_json(Settings(), str(path)) == 0
    everything = json.loads(capsys.readouterr().out)
    *everything, summary = everything
    assert summary["snapshots"] == 4  # one fetched snapshot per venue and symbol, marked in the capture
    assert summary == {"venue": "replay", "symbol": "", "frames": summary["frames"], "snapshots": 4,
                       "unattributed": {}, "unattributed_total": 0, "errors": 0, "skipped_venues": {}}
    out = [o for o in everything if o["venue"] != "consolidated"]
    assert {(o["venue"], o["symbol"]) for o in out} == {(v, s) for v in runners for s in SYMS}
    # The cross-venue view comes after the venues: one entry per asset with every LIVE venue and the split.
    cons = {o["symbol"]: o for o in everything if o["venue"] == "consolidated"}
    assert everything[len(out):] == list(cons.values())
    for asset, c in cons.items():
        mine = [o for o in out if o["symbol"].startswith(asset)]
        assert {x["venue"] for x in c["sources"]} == {o["venue"] for o in mine} and c["excluded"] == []
        assert c["best_bid"] == max(float(o["best_bid"]) for o in mine)
        assert c["best_ask"] == min(float(o["best_ask"]) for o in mine)
        assert {(x["side"], x["notional"]) for x in c["splits"]} == {
            (side, n) for side in ("buy", "sell") for n in (10_000.0, 100_000.0, 1_000_000.0)}
    for o in out:
        book = runners[o["venue"]].states[o["symbol"]].book
        assert o["status"] == "live"  # as of the last frame, not after the final shutdown
        assert o["best_bid"] == book.best_bid()[0] and o["best_ask"] == book.best_ask()[0]
        assert set(o["depth_bid"]) == {"10", "50", "100", "200"} and set(o["imbalance"]) == set(o["depth_ask"])
        assert o["spread_bps"] > 0 and o["mid"] > 0
        assert {s["side"] for s in o["slippage"]} == {"buy", "sell"}
        assert o["counters"]["frames"] > 0


def test_hand_written_raw_capture_without_lifecycle_lines(tmp_path, capsys):
    """The minimal format: {"t_ns","venue","symbol","frame"} with raw Binance frames."""
    d1 = {"e": "depthUpdate", "E": 1, "s": "BNBBTC", "U": 157, "u": 160, "b": [["0.0024", "10"]], "a": []}
    d2 = {"e": "depthUpdate", "E": 2, "s": "BNBBTC", "U": 161, "u": 161, "b": [], "a": [["0.0026", "100"]]}
    snap = {"id": "d1xBNBBTC", "status": 200,
            "result": {"lastUpdateId": 158, "bids": [["0.0024", "3"], ["0.0023", "1"]], "asks": [["0.0027", "5"]]}}
    lines = [
        {"t_ns": 1, "venue": "binance", "symbol": "BNBBTC", "frame": orjson.dumps(d1).decode()},
        "this line is not JSON",
        {"t_ns": 2, "venue": "binance", "symbol": "BNBBTC", "frame": orjson.dumps(snap).decode()},
        {"t_ns": 3, "venue": "binance", "symbol": "BNBBTC", "frame": orjson.dumps(d2).decode()},
    ]
    path = tmp_path / "hand.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    rep = replay_file(Settings(), str(path))
    st = rep.states[("binance", "BNBBTC")]
    assert st.status is StreamStatus.LIVE
    assert st.book.to_dict() == {"bids": [("0.0024", "10"), ("0.0023", "1")],
                                 "asks": [("0.0026", "100"), ("0.0027", "5")]}
    assert replay_json(Settings(), str(path)) == 0
    o, cons, summary = json.loads(capsys.readouterr().out)
    assert (summary["venue"], summary["snapshots"], summary["unattributed_total"]) == ("replay", 1, 0)
    assert (o["best_bid"], o["best_ask"]) == ("0.0024", "0.0026")
    # BNB quoted in BTC has no rate in consolidated.quote_rates: shown as excluded, with the reason.
    assert (cons["venue"], cons["symbol"], cons["sources"]) == ("consolidated", "BNB", [])
    assert [(e["venue"], "BTC" in e["reason"]) for e in cons["excluded"]] == [("binance", True)]


async def test_open_replay_is_a_paceable_generator(sim_factory, tmp_path):
    path = tmp_path / "c.jsonl"
    _, runners, _ = await _live_capture(sim_factory, path, faults=False)
    replayer, records = open_replay(Settings(), str(path))
    assert len(replayer.state_list()) == 4  # states exist before the first frame (the UI adds them up front)
    assert all(st.book.is_empty() for st in replayer.state_list())
    last = 0
    for rec in records:
        assert rec.t_ns >= last
        last = rec.t_ns
        replayer.feed(rec)
    assert {k: st.book.to_dict() for k, st in replayer.states.items()} == _books(runners)


def test_capture_buffers_and_flushes_on_close(tmp_path):
    path = tmp_path / "x.jsonl"
    cap = Capture(str(path), flush_every=100)
    cap.frame(1, "binance", "BTCUSDT", b'{"a":1}', 3)
    assert path.read_text() == ""  # buffered
    cap.close()
    (rec,) = iter_capture(str(path))
    assert (rec.t_ns, rec.venue, rec.symbol, rec.frame, rec.conn) == (1, "binance", "BTCUSDT", '{"a":1}', 3)


async def test_a_gzip_capture_cut_short_still_replays(sim_factory, tmp_path):
    path = tmp_path / "killed.jsonl.gz"
    await _live_capture(sim_factory, path, faults=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # what a SIGKILL mid-write leaves behind
    rep = replay_file(Settings(), str(path))
    assert rep.frames > 0 and rep.errors == 0


# ---- captures of other tools (issue 10.6) ------------------------------------------------------

D1 = {"e": "depthUpdate", "E": 1, "s": "BNBBTC", "U": 157, "u": 160, "b": [["0.0024", "10"]], "a": []}
D2 = {"e": "depthUpdate", "E": 2, "s": "BNBBTC", "U": 161, "u": 161, "b": [], "a": [["0.0026", "100"]]}
SNAP = {"lastUpdateId": 158, "bids": [["0.0024", "3"], ["0.0023", "1"]], "asks": [["0.0027", "5"]]}


def _write(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(path)


def _rec(t, frame, symbol="BNBBTC", venue="binance", **kw):
    return {"t_ns": t, "venue": venue, "symbol": symbol, "frame": orjson.dumps(frame).decode(), **kw}


@pytest.mark.parametrize("reply", [
    SNAP,  # a REST body: names no symbol
    {"id": "another-tools-id-42", "status": 200, "result": SNAP},  # a WS-API reply with someone else's id
])
@pytest.mark.parametrize("marked", [True, False])
def test_a_snapshot_belongs_to_its_records_symbol(tmp_path, reply, marked):
    kw = {"snapshot": True} if marked else {}
    path = _write(tmp_path / "c.jsonl", [_rec(1, D1), _rec(2, reply, **kw), _rec(3, D2)])
    rep = replay_file(Settings(), path)
    st = rep.states[("binance", "BNBBTC")]
    assert st.book.to_dict() == {"bids": [("0.0024", "10"), ("0.0023", "1")],
                                 "asks": [("0.0026", "100"), ("0.0027", "5")]}
    assert st.status is StreamStatus.LIVE and rep.snapshots == 1


def test_a_snapshot_no_event_bridges_is_not_live(tmp_path):
    """Every buffered event is older than the snapshot: LIVE waits for the event that straddles it."""
    old = dict(D1, U=150, u=158)
    path = _write(tmp_path / "c.jsonl", [_rec(1, old), _rec(2, SNAP, snapshot=True)])
    st = replay_file(Settings(), path).states[("binance", "BNBBTC")]
    assert st.book.to_dict()["bids"] == [("0.0024", "3"), ("0.0023", "1")]
    assert st.status is not StreamStatus.LIVE
    path = _write(tmp_path / "d.jsonl", [_rec(1, old), _rec(2, SNAP, snapshot=True), _rec(3, dict(D2, U=159, u=161))])
    st = replay_file(Settings(), path).states[("binance", "BNBBTC")]
    assert st.status is StreamStatus.LIVE and st.counters.gaps == 0


def test_a_crossed_snapshot_is_never_live(tmp_path, capsys):
    crossed = {"lastUpdateId": 158, "bids": [["0.0030", "3"]], "asks": [["0.0027", "5"]]}
    path = _write(tmp_path / "c.jsonl", [_rec(1, D1), _rec(2, crossed, snapshot=True)])
    assert replay_json(Settings(), path) == 0
    o = json.loads(capsys.readouterr().out)[0]
    assert o["status"] != "live" and o["counters"]["crossed"] == 1


def test_bybit_depth_comes_from_the_topic(tmp_path):
    """A capture at orderbook.50 replays with the default depth (200) configured."""
    def frame(kind, u, b, a):
        return {"topic": "orderbook.50.BTCUSDT", "type": kind, "ts": u,
                "data": {"s": "BTCUSDT", "b": b, "a": a, "u": u, "seq": u}}

    path = _write(tmp_path / "c.jsonl", [
        _rec(1, frame("snapshot", 7, [["100.5", "1"]], [["101", "2"]]), "BTCUSDT", "bybit-linear"),
        _rec(2, frame("delta", 8, [["100.5", "0"], ["100", "3"]], []), "BTCUSDT", "bybit-linear"),
    ])
    rep = replay_file(Settings(), path)
    st = rep.states[("bybit-linear", "BTCUSDT")]
    assert st.book.to_dict() == {"bids": [("100", "3")], "asks": [("101", "2")]}
    assert st.status is StreamStatus.LIVE and rep.unattributed == {}


def test_unattributable_frames_are_counted_in_the_json(tmp_path, capsys):
    path = _write(tmp_path / "c.jsonl", [
        _rec(1, D1), _rec(2, SNAP, snapshot=True),
        {"t_ns": 3, "venue": "binance", "symbol": "", "frame": "not json"},
        _rec(4, {"e": "depthUpdate", "s": "XYZ", "U": 1, "u": 2, "b": [], "a": []}, ""),
    ])
    assert replay_json(Settings(), path) == 0
    summary = json.loads(capsys.readouterr().out)[-1]
    assert summary["venue"] == "replay" and summary["unattributed"] == {"binance": 2}


def test_replay_work_is_linear_in_the_number_of_symbols(tmp_path):
    """Issue 11.6: no per-frame step over every symbol. Counted, not timed: the Python lines the
    replay executes per record stay the same when the symbols double (a per-frame loop over the
    symbols doubled them, and 100k symbols took more than 600 s)."""
    import sys

    def lines_executed(n):
        recs = [{"t_ns": 0, "venue": "binance", "symbol": "", "frame": None, "conn": 1, "event": "open",
                 "mode": "fresh"}]
        for i in range(n):
            sym = f"S{i}USDT"
            recs.append(_rec(2 * i + 1, dict(D1, s=sym), sym, conn=1))
            recs.append(_rec(2 * i + 2, SNAP, sym, conn=1, snapshot=True))
        path = _write(tmp_path / f"n{n}.jsonl", recs)
        count = 0

        def tracer(frame, event, arg):
            nonlocal count
            if event == "line":
                count += 1
            return tracer

        sys.settrace(tracer)
        try:
            rep = replay_file(Settings(), path)
        finally:
            sys.settrace(None)
        assert rep.frames == 2 * n and rep.errors == 0
        assert all(st.status is StreamStatus.LIVE and st.book.best_bid() == ("0.0024", "10")
                   for st in rep.states.values())
        return count

    small, big = lines_executed(100), lines_executed(400)
    # Linear: 4x the symbols (and records) cost 4x the lines, plus a constant. Quadratic would be ~16x.
    assert big < 4.5 * small, (small, big)


def test_import_progress_bar_only_on_a_terminal(tmp_path, capsys):
    import io

    from lcm_tui.runtime.importers.common import Progress

    raw = io.BytesIO(b"x" * 100)
    raw.seek(50)
    Progress("f.gz", raw, 100, enabled=False).update()
    assert capsys.readouterr().err == ""  # stderr is not a terminal: nothing
    bar = Progress("/some/dir/f.gz", raw, 100, enabled=True)
    bar.update()
    raw.seek(100)
    bar.update()
    bar.done()
    assert capsys.readouterr().err == "\rf.gz [############.............]  50%\rf.gz [#########################] 100%\n"


def test_tardis_timestamps_are_exact():
    from lcm_tui.runtime.importers.tardis import parse_ts

    assert parse_ts("2021-07-22T22:25:41.3014021Z") == 1626992741_301402100
    assert parse_ts("1970-01-01T00:00:00Z") == 0
    with pytest.raises(ValueError):
        parse_ts("yesterday")
