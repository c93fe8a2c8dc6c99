"""Bybit v5 adapter: hand-written frames, the in-memory loopback and the socket simulator."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

import pytest

from lcm_tui.config import ConfigError, VenueConfig
from lcm_tui.core.model import FeedEvent, FeedEventKind, StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues.base import Send
from lcm_tui.venues.bybit.adapter import BybitLinearAdapter, BybitSpotAdapter
from tests.feeds import backoff_reference as br

T = 1_000_000_000


def make(cls: type = BybitSpotAdapter, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"), depth: int = 50):
    events: list[FeedEvent] = []
    a = cls(VenueConfig(name=cls.venue, symbols=list(symbols), ws_url="wss://x", depth=depth), list(symbols),
            events.append)
    a.on_open(0)
    return a, events


def frame(sym: str, kind: str, u: int, b: list[list[str]], a: list[list[str]], depth: int = 50) -> str:
    return json.dumps({"topic": f"orderbook.{depth}.{sym}", "ts": 1, "type": kind,
                       "data": {"s": sym, "b": b, "a": a, "u": u, "seq": 7}, "cts": 1})


def snap(sym: str = "BTCUSDT", u: int = 10) -> str:
    return frame(sym, "snapshot", u, [["100.0", "1"], ["99.5", "2"]], [["100.5", "3"], ["101.0", "4"]])


def sent(actions: list) -> list[dict]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def test_subscribe_spot_chunks_ten_args_linear_does_not() -> None:
    syms = tuple(f"C{i}USDT" for i in range(12))
    spot, _ = make(BybitSpotAdapter, syms)
    msgs = sent(spot.on_open(0))
    assert [len(m["args"]) for m in msgs] == [10, 2]
    assert msgs[0]["op"] == "subscribe" and msgs[0]["args"][0] == "orderbook.50.C0USDT"
    linear, _ = make(BybitLinearAdapter, syms)
    assert [len(m["args"]) for m in sent(linear.on_open(0))] == [12]


def test_depth_must_be_a_bybit_depth() -> None:
    with pytest.raises(ConfigError, match="depth: 500"):
        make(depth=500)


def test_snapshot_then_contiguous_deltas() -> None:
    a, events = make()
    assert a.on_frame(snap(), T) == []
    st = a.states["BTCUSDT"]
    assert st.status is StreamStatus.LIVE
    assert a.on_frame(frame("BTCUSDT", "delta", 11, [["100.0", "0"], ["99.8", "5"]], [["100.5", "3.5"]]), T) == []
    assert st.book.to_dict() == {"bids": [("99.8", "5"), ("99.5", "2")], "asks": [("100.5", "3.5"), ("101.0", "4")]}
    assert st.counters.gaps == 0 and st.counters.frames == 2
    assert [e.kind for e in events] == [FeedEventKind.LIVE]


def test_deltas_before_the_snapshot_are_ignored() -> None:
    a, _ = make()
    assert a.on_frame(frame("BTCUSDT", "delta", 9, [["98.0", "1"]], []), T) == []
    st = a.states["BTCUSDT"]
    assert st.book.is_empty() and st.status is StreamStatus.SYNCING
    a.on_frame(snap(u=10), T)
    assert st.book.bids.size_at("98.0") is None and st.status is StreamStatus.LIVE


def test_gap_resubscribes_that_symbol_only() -> None:
    a, events = make()
    a.on_frame(snap("BTCUSDT"), T)
    a.on_frame(snap("ETHUSDT", 50), T)
    actions = a.on_frame(frame("BTCUSDT", "delta", 12, [["99.9", "1"]], []), T)
    assert [(m["op"], m["args"]) for m in sent(actions)] == [
        ("unsubscribe", ["orderbook.50.BTCUSDT"]), ("subscribe", ["orderbook.50.BTCUSDT"])]
    btc, eth = a.states["BTCUSDT"], a.states["ETHUSDT"]
    assert (btc.counters.gaps, btc.counters.resyncs, btc.status) == (1, 1, StreamStatus.RESYNCING)
    assert btc.book.is_empty()
    assert FeedEventKind.GAP in [e.kind for e in events]
    # The other symbol on the same connection goes on.
    assert a.on_frame(frame("ETHUSDT", "delta", 51, [["99.9", "1"]], []), T) == []
    assert eth.status is StreamStatus.LIVE and eth.counters.gaps == 0 and eth.book.bids.size_at("99.9") == "1"
    # Old deltas still in flight are ignored; the fresh snapshot brings the symbol back.
    assert a.on_frame(frame("BTCUSDT", "delta", 13, [["99.9", "1"]], []), T) == []
    assert btc.book.is_empty()
    a.on_frame(snap("BTCUSDT", 20), T)
    assert btc.status is StreamStatus.LIVE and btc.counters.gaps == 1


def test_u1_and_new_snapshots_replace_the_book() -> None:
    a, _ = make()
    a.on_frame(snap(u=10), T)
    st = a.states["BTCUSDT"]
    # A service restart: u == 1 overwrites the book, whatever the type says.
    assert a.on_frame(frame("BTCUSDT", "delta", 1, [["90.0", "1"]], [["91.0", "1"]]), T) == []
    assert st.book.to_dict() == {"bids": [("90.0", "1")], "asks": [("91.0", "1")]}
    assert a.on_frame(frame("BTCUSDT", "delta", 2, [["90.5", "1"]], []), T) == []
    # Bybit re-sends a snapshot at will: it replaces, it is not merged.
    a.on_frame(frame("BTCUSDT", "snapshot", 500, [["80.0", "1"]], [["81.0", "1"]]), T)
    assert st.book.to_dict() == {"bids": [("80.0", "1")], "asks": [("81.0", "1")]}
    assert a.on_frame(frame("BTCUSDT", "delta", 501, [], [["81.0", "2"]]), T) == []
    assert st.counters.gaps == 0 and st.counters.resyncs == 0


def test_crossed_book_resyncs() -> None:
    a, _ = make()
    a.on_frame(snap(), T)
    actions = a.on_frame(frame("BTCUSDT", "delta", 11, [["100.5", "1"]], []), T)
    assert [m["op"] for m in sent(actions)] == ["unsubscribe", "subscribe"]
    st = a.states["BTCUSDT"]
    assert (st.counters.crossed, st.counters.resyncs) == (1, 1)


def test_malformed_frames_are_counted_and_bad_book_frames_resync() -> None:
    a, _ = make()
    a.on_frame(snap(), T)
    assert a.on_frame("{not json", T) == []
    assert a.unattributed_malformed == 1
    # A book frame with a wrong-typed level: counted on the symbol, and the symbol resyncs.
    actions = a.on_frame(frame("BTCUSDT", "delta", 11, [[100.2, "1"]], []), T)
    st = a.states["BTCUSDT"]
    assert st.counters.malformed == 1 and st.counters.resyncs == 1 and len(sent(actions)) == 2
    # A cut-off book frame still names its topic: that symbol resyncs at once.
    a.on_frame(snap("ETHUSDT", 5), T)
    cut = frame("ETHUSDT", "delta", 6, [["1", "1"]], [])[:60]
    assert [m["args"] for m in sent(a.on_frame(cut, T))] == [["orderbook.50.ETHUSDT"]] * 2
    assert a.states["ETHUSDT"].counters.malformed == 1


def test_acks_and_pongs_of_both_markets() -> None:
    a, _ = make()
    for msg in (
        {"success": True, "ret_msg": "subscribe", "conn_id": "c", "req_id": "ob1", "op": "subscribe"},
        {"success": True, "ret_msg": "", "conn_id": "c", "req_id": "", "op": "subscribe"},
        {"success": True, "ret_msg": "pong", "conn_id": "c", "op": "ping"},
        {"success": True, "ret_msg": "pong", "conn_id": "c", "req_id": "", "op": "ping"},
        {"op": "pong", "args": ["1672916271846"]},
        {"success": True, "ret_msg": "", "conn_id": "c", "req_id": "", "op": "unsubscribe"},
    ):
        assert a.on_frame(json.dumps(msg), T) == []
    assert a.pongs == 3 and a.unattributed_malformed == 0


def test_rejected_subscribe_marks_the_symbol_down() -> None:
    a, _ = make()
    a.on_frame(json.dumps({"success": False, "ret_msg": "Invalid symbol :[orderbook.50.ETHUSDT]", "conn_id": "c",
                           "op": "subscribe"}), T)
    assert a.errors == 1
    assert a.states["ETHUSDT"].status is StreamStatus.DOWN
    assert a.states["BTCUSDT"].status is StreamStatus.SYNCING


def test_ping_every_20_seconds() -> None:
    a, _ = make()
    assert a.keepalive(19 * T) == []
    msgs = sent(a.keepalive(20 * T))
    assert msgs[0]["op"] == "ping"
    assert a.keepalive(30 * T) == []
    assert len(a.keepalive(40 * T)) == 1


# ---- loopback against the venue handler -------------------------------------------------------

FAULTS = {
    FaultKind.DROP: {"gaps": 1, "resyncs": 1},
    FaultKind.MALFORMED: {"gaps": 1, "resyncs": 1},  # the lost delta shows up as a u gap
    FaultKind.TRUNCATED: {"malformed": 1, "resyncs": 1},  # the cut frame names its topic
    FaultKind.DISCONNECT: {},
    FaultKind.STALL: {},
    FaultKind.SERVER_SHUTDOWN: {},
    FaultKind.RESET_SEQUENCE: {},  # a u=1 snapshot simply replaces the book
}


@pytest.mark.parametrize("venue", ["bybit-spot", "bybit-linear"])
@pytest.mark.parametrize("kind", list(FAULTS))
def test_inmemory_faults_recover_exactly(venue: str, kind: FaultKind) -> None:
    plan = FaultPlan()
    lb = InMemoryLoopback(venue, ["BTCUSDT", "ETHUSDT"], depth=50, faults=plan)
    lb.step(10)
    assert lb.all_match()
    plan.schedule(kind, venue, "BTCUSDT", duration_s=0.5)
    lb.step(20)
    assert plan.pending() == []
    assert lb.all_match()
    c = asdict(lb.adapter.states["BTCUSDT"].counters)
    assert {k: v for k, v in c.items() if v and k != "frames"} == FAULTS[kind]
    assert {k: v for k, v in asdict(lb.adapter.states["ETHUSDT"].counters).items() if v and k != "frames"} == {}
    assert lb.connections == (2 if kind in (FaultKind.DISCONNECT, FaultKind.SERVER_SHUTDOWN) else 1)


def test_inmemory_depth_one_is_snapshots_only() -> None:
    lb = InMemoryLoopback("bybit-spot", ["BTCUSDT"], depth=1)
    lb.step(30)
    assert lb.all_match()
    assert all('"type":"snapshot"' in f for f in lb.delivered if '"topic"' in f)
    last = json.loads(lb.delivered[-1])
    for _ in range(3):
        lb.idle()  # 3 quiet seconds
    again = json.loads(lb.delivered[-1])
    assert again["type"] == "snapshot" and again["data"]["u"] == last["data"]["u"]
    assert again["data"]["b"] == last["data"]["b"]
    assert lb.all_match() and lb.adapter.states["BTCUSDT"].counters.resyncs == 0


def test_wire_key_order_per_market() -> None:
    spot = InMemoryLoopback("bybit-spot", ["BTCUSDT"], depth=50)
    spot.step(2)
    lin = InMemoryLoopback("bybit-linear", ["BTCUSDT"], depth=50)
    lin.step(2)
    assert spot.delivered[-1].startswith('{"topic":"orderbook.50.BTCUSDT","ts":')
    assert lin.delivered[-1].startswith('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":')
    assert json.loads(spot.delivered[0])["ret_msg"] == "subscribe"
    assert json.loads(lin.delivered[0])["ret_msg"] == ""


# ---- real sockets: the runner against the simulator server -------------------------------------

@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.TRUNCATED, FaultKind.DISCONNECT,
                                  FaultKind.RESET_SEQUENCE, FaultKind.SERVER_SHUTDOWN])
async def test_socket_faults_recover_exactly(sim_factory, wait_until, kind: FaultKind) -> None:
    sim = await sim_factory({"bybit-spot": ["BTCUSDT", "ETHUSDT"]}, shutdown_grace_s=0.05)
    runner = sim.start_runner("bybit-spot")
    await sim.step_until_live(runner)
    sim.faults.schedule(kind, "bybit-spot", "BTCUSDT")
    await sim.step_until(lambda: not sim.faults.pending(), msg="fault fired")
    if kind in (FaultKind.DISCONNECT, FaultKind.SERVER_SHUTDOWN):
        await wait_until(lambda: sim.server.connections == 2, msg="reconnected")
    await sim.step_until(lambda: sim.books_match(runner), msg="books match after the fault")
    await sim.step(3)
    await sim.settle(runner)
    c = runner.states["BTCUSDT"].counters
    if kind is FaultKind.DROP:
        assert (c.gaps, c.resyncs) == (1, 1)
    elif kind is FaultKind.TRUNCATED:
        assert (c.malformed, c.resyncs) == (1, 1)
    assert runner.states["ETHUSDT"].counters.gaps == 0


def test_sim_rejects_more_than_ten_spot_args_and_bad_topics() -> None:
    from lcm_tui.venues.bybit.sim import BybitLinearSim, BybitSpotSim
    from lcm_tui.venues.simbase import SimConn

    spot = BybitSpotSim(["BTCUSDT"])
    conn = SimConn("bybit-spot", "/v5/public/spot")
    (rej,) = spot.on_message(conn, json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"] * 11}))
    assert json.loads(rej)["success"] is False and "args" in json.loads(rej)["ret_msg"]
    (rej,) = spot.on_message(conn, json.dumps({"op": "subscribe", "args": ["orderbook.500.BTCUSDT"]}))
    assert json.loads(rej)["ret_msg"] == "Invalid symbol :[orderbook.500.BTCUSDT]"
    assert not conn.subs
    # The adapter reads that rejection as "this symbol is down".
    a, _ = make(depth=50)
    a.on_frame(rej.replace("orderbook.500", "orderbook.50"), T)
    assert a.states["BTCUSDT"].status is StreamStatus.DOWN
    linear = BybitLinearSim(["BTCUSDT"])
    out = linear.on_message(SimConn("bybit-linear", "/v5/public/linear"),
                            json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"] * 11}))
    assert json.loads(out[0])["success"] is True


@pytest.mark.parametrize("bad", [{}, [], ["100.0"], [100.0, "1"], ["100.0", {}], "x", None])
def test_a_level_that_is_not_a_list_of_strings_is_malformed_never_raised(bad) -> None:
    """Issue 10.8: counted on its symbol, that one book resyncs, on_frame does not raise."""
    a, _ = make()
    a.on_frame(snap("BTCUSDT"), 0)
    a.on_frame(snap("ETHUSDT"), 0)
    text = json.dumps({"topic": "orderbook.50.BTCUSDT", "ts": 1, "type": "delta",
                       "data": {"s": "BTCUSDT", "b": [bad], "a": [], "u": 11, "seq": 8}})
    ops = [m["op"] for m in sent(a.on_frame(text, 1))]
    btc, eth = a.states["BTCUSDT"], a.states["ETHUSDT"]
    assert ops == ["unsubscribe", "subscribe"] and btc.counters.malformed == 1
    assert btc.status is StreamStatus.RESYNCING and eth.status is StreamStatus.LIVE


# ---- repeated resyncs back off ------------------------------------------------------------------

@pytest.mark.parametrize("venue", ["bybit-spot", "bybit-linear"])
def test_a_sequence_that_never_lines_up_backs_off_instead_of_a_resubscribe_storm(venue: str) -> None:
    """Every delta after a snapshot skips ahead, so every resubscribe ends in a gap: the resubscribes
    follow the documented backoff and the status says why it waits."""
    lb = InMemoryLoopback(venue, ["BTCUSDT", "ETHUSDT"], depth=50)
    lb.step(10)
    assert lb.all_match()
    br.rewrite_stream(lb, "BTCUSDT", lambda f: re.sub(r'"u":(\d+)', lambda m: f'"u":{int(m[1]) + 1000}', f))
    window = 120.0
    times, details = br.run(lb, window, lambda m: json.loads(m).get("op") == "unsubscribe", "BTCUSDT")
    assert len(times) <= br.max_resubscribes(window)  # with no backoff: one per delta
    br.check_schedule(times, details, "sequence gap")
    st = lb.adapter.states["BTCUSDT"]
    assert st.counters.gaps == len(times) + lb.adapter.resync_pending("BTCUSDT")
    eth = lb.adapter.states["ETHUSDT"]
    assert eth.status is StreamStatus.LIVE and eth.counters.resyncs == 0 and lb.book_matches("ETHUSDT")
