"""Capture a live run over loopback, replay it, and get the same books string for string."""

from __future__ import annotations

import json

import orjson
import pytest

from lcm_tui.config import Settings
from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.capture import Capture, open_text
from lcm_tui.runtime.replay import iter_capture, open_replay, replay_file, replay_json
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
    o, cons = json.loads(capsys.readouterr().out)
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
