"""Coinbase level2 adapter: hand-written frames, the in-memory loopback and the socket simulator."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from lcm_tui.config import VenueConfig
from lcm_tui.core.model import FeedEvent, StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues.base import Send
from lcm_tui.venues.coinbase.adapter import CoinbaseAdapter
from lcm_tui.venues.coinbase.sim import CoinbaseSim
from tests.feeds import backoff_reference as br

T = 1_000_000_000
BTC, ETH = "BTC-USD", "ETH-USD"


def make(symbols: tuple[str, ...] = (BTC, ETH)) -> tuple[CoinbaseAdapter, list[FeedEvent]]:
    events: list[FeedEvent] = []
    a = CoinbaseAdapter(VenueConfig(name="coinbase", symbols=list(symbols), ws_url="wss://x"), list(symbols),
                        events.append)
    a.on_open(0)
    return a, events


def l2(seq: int, pid: str, kind: str, updates: list[tuple[str, str, str]]) -> str:
    ups = [{"side": s, "event_time": "1970-01-01T00:00:00Z", "price_level": p, "new_quantity": q}
           for s, p, q in updates]
    return json.dumps({"channel": "l2_data", "client_id": "", "timestamp": "2023-02-09T20:32:50.714964855Z",
                       "sequence_num": seq, "events": [{"type": kind, "product_id": pid, "updates": ups}]})


def hb(seq: int) -> str:
    return json.dumps({"channel": "heartbeats", "client_id": "", "timestamp": "t", "sequence_num": seq,
                       "events": [{"current_time": "t", "heartbeat_counter": "3049"}]})


SNAP = [("bid", "21921.73", "0.06317902"), ("bid", "21921.00", "1.0"), ("offer", "21922.00", "0.5"),
        ("offer", "21923.10", "2")]


def sent(actions: list) -> list[dict]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def test_subscribes_one_channel_per_message_on_open() -> None:
    a = CoinbaseAdapter(VenueConfig(name="coinbase", symbols=[BTC, ETH], ws_url="wss://x"), [BTC, ETH])
    msgs = sent(a.on_open(0))
    assert msgs == [{"type": "subscribe", "product_ids": [BTC, ETH], "channel": "level2"},
                    {"type": "subscribe", "product_ids": [BTC, ETH], "channel": "heartbeats"}]


def test_snapshot_and_absolute_updates_with_offer_and_ask_sides() -> None:
    a, _ = make()
    assert a.on_frame(l2(0, BTC, "snapshot", SNAP), T) == []
    st = a.states[BTC]
    assert st.status is StreamStatus.LIVE
    ups = [("bid", "21921.73", "0"), ("offer", "21922.00", "0.7"), ("ask", "21924.00", "3")]
    assert a.on_frame(l2(1, BTC, "update", ups), T) == []
    assert st.book.to_dict() == {"bids": [("21921.00", "1.0")],
                                 "asks": [("21922.00", "0.7"), ("21923.10", "2"), ("21924.00", "3")]}


def test_updates_before_the_snapshot_are_ignored() -> None:
    a, _ = make()
    assert a.on_frame(l2(0, BTC, "update", [("bid", "1.00", "1")]), T) == []
    assert a.states[BTC].book.is_empty() and a.states[BTC].status is StreamStatus.SYNCING


def test_sequence_jump_resyncs_every_level2_symbol() -> None:
    a, events = make()
    a.on_frame(l2(0, BTC, "snapshot", SNAP), T)
    a.on_frame(l2(1, ETH, "snapshot", SNAP), T)
    a.on_frame(hb(2), T)
    assert events == [e for e in events if e.kind == "live"] and len(events) == 2
    actions = a.on_frame(l2(4, BTC, "update", [("bid", "21921.00", "2")]), T)  # 3 was lost
    assert sent(actions) == [{"type": "unsubscribe", "product_ids": [BTC, ETH], "channel": "level2"},
                             {"type": "subscribe", "product_ids": [BTC, ETH], "channel": "level2"}]
    for st in a.states.values():
        assert (st.counters.gaps, st.counters.resyncs, st.status) == (1, 1, StreamStatus.RESYNCING)
        assert st.book.is_empty()
    assert a.connection_gaps == 1
    assert [e.kind for e in events[2:]] == ["gap", "resync", "gap", "resync"]
    # A smaller or repeated number is a late duplicate: ignored, not a gap.
    assert a.on_frame(l2(4, BTC, "snapshot", SNAP), T) == []
    assert a.on_frame(l2(2, ETH, "snapshot", SNAP), T) == []
    assert a.states[BTC].book.is_empty()
    a.on_frame(l2(5, BTC, "snapshot", SNAP), T)
    a.on_frame(l2(6, ETH, "snapshot", SNAP), T)
    assert all(st.status is StreamStatus.LIVE for st in a.states.values())


def test_usdc_products_come_back_as_usd() -> None:
    a, _ = make(("BTC-USDC", "USDT-USDC"))
    a.on_frame(l2(0, "BTC-USD", "snapshot", SNAP), T)
    a.on_frame(l2(1, "USDT-USDC", "snapshot", [("bid", "0.9999", "10"), ("offer", "1.0001", "10")]), T)
    assert a.states["BTC-USDC"].status is StreamStatus.LIVE
    assert a.states["USDT-USDC"].status is StreamStatus.LIVE
    assert a.unattributed_malformed == 0
    # With both configured, each product id keeps its own book.
    b, _ = make(("BTC-USD", "BTC-USDC"))
    b.on_frame(l2(0, "BTC-USD", "snapshot", SNAP), T)
    assert b.states["BTC-USD"].status is StreamStatus.LIVE and b.states["BTC-USDC"].book.is_empty()


def test_crossed_resyncs_that_symbol_only() -> None:
    a, _ = make()
    a.on_frame(l2(0, BTC, "snapshot", SNAP), T)
    a.on_frame(l2(1, ETH, "snapshot", SNAP), T)
    actions = a.on_frame(l2(2, BTC, "update", [("bid", "21922.50", "1")]), T)
    assert sent(actions)[0]["product_ids"] == [BTC]
    assert a.states[BTC].counters.crossed == 1 and a.states[ETH].status is StreamStatus.LIVE


def test_control_errors_and_malformed() -> None:
    a, _ = make()
    subs = {"channel": "subscriptions", "client_id": "", "timestamp": "t", "sequence_num": 0,
            "events": [{"subscriptions": {"level2": [BTC, ETH]}}]}
    assert a.on_frame(json.dumps(subs), T) == []
    assert a.on_frame(hb(1), T) == [] and a.heartbeats == 1
    assert a.on_frame(json.dumps({"type": "error", "message": "Failed to subscribe"}), T) == []
    assert a.errors == 1 and a.unattributed_malformed == 0
    a.on_frame(l2(2, BTC, "snapshot", SNAP), T)
    assert a.on_frame("[", T) == [] and a.unattributed_malformed == 1
    bad = l2(3, BTC, "update", [("middle", "1.00", "1")])
    assert sent(a.on_frame(bad, T))[0]["product_ids"] == [BTC]
    assert a.states[BTC].counters.malformed == 1
    assert a.on_frame(l2(4, "DOGE-USD", "update", []), T) == [] and a.unattributed_malformed == 2


# ---- loopback against the venue handler -------------------------------------------------------

BOTH = {"gaps": 1, "resyncs": 1}
FAULTS = {
    FaultKind.DROP: (BOTH, BOTH),  # the connection lost a message: every book resyncs
    FaultKind.MALFORMED: (BOTH, BOTH),
    FaultKind.TRUNCATED: (BOTH, BOTH),
    FaultKind.DISCONNECT: ({}, {}),
    FaultKind.STALL: ({}, {}),
    FaultKind.SERVER_SHUTDOWN: ({}, {}),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_inmemory_faults_recover_exactly(kind: FaultKind) -> None:
    plan = FaultPlan()
    lb = InMemoryLoopback("coinbase", [BTC, ETH], faults=plan)
    lb.step(10)
    lb.idle()
    assert lb.all_match()
    plan.schedule(kind, "coinbase", BTC, duration_s=0.5)
    lb.step(20)
    assert plan.pending() == []
    assert lb.all_match()
    for sym, want in zip((BTC, ETH), FAULTS[kind], strict=True):
        c = asdict(lb.adapter.states[sym].counters)
        assert {k: v for k, v in c.items() if v and k != "frames"} == want


def test_inmemory_usdc_alias_and_sequence_numbers() -> None:
    sim = CoinbaseSim(["BTC-USDC"])
    lb = InMemoryLoopback("coinbase", ["BTC-USDC"], sim=sim)
    lb.step(20)
    lb.idle()
    assert lb.all_match()
    seqs = [json.loads(f)["sequence_num"] for f in lb.delivered]
    assert seqs == list(range(len(seqs)))
    assert all('"product_id":"BTC-USD"' in f for f in lb.delivered if '"l2_data"' in f)
    assert json.loads(lb.delivered[-1])["channel"] == "heartbeats"
    assert any('"side":"offer"' in f for f in lb.delivered)


# ---- real sockets: the runner against the simulator server -------------------------------------

@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.TRUNCATED, FaultKind.DISCONNECT, FaultKind.STALL])
async def test_socket_faults_recover_exactly(sim_factory, wait_until, kind: FaultKind) -> None:
    sim = await sim_factory({"coinbase": [BTC, ETH]}, idle_interval_s=0.05)
    runner = sim.start_runner("coinbase")
    await sim.step_until_live(runner)
    sim.faults.schedule(kind, "coinbase", BTC, duration_s=0.3)
    await sim.step_until(lambda: not sim.faults.pending(), msg="fault fired")
    if kind is FaultKind.DISCONNECT:
        await wait_until(lambda: sim.server.connections == 2, msg="reconnected")
    await sim.step_until(lambda: sim.books_match(runner), msg="books match after the fault")
    await sim.step(3)
    await sim.settle(runner)
    gaps = 1 if kind in (FaultKind.DROP, FaultKind.TRUNCATED) else 0  # a stall delays, it loses nothing
    assert all(st.counters.gaps == gaps for st in runner.states.values())


def test_sim_wants_one_channel_per_message() -> None:
    from lcm_tui.venues.simbase import SimConn

    sim = CoinbaseSim([BTC])
    conn = SimConn("coinbase", "")
    (err,) = sim.on_message(conn, json.dumps({"type": "subscribe", "product_ids": [BTC],
                                              "channels": ["level2", "heartbeats"]}))
    assert json.loads(err)["type"] == "error"
    (err,) = sim.on_message(conn, json.dumps({"type": "subscribe", "product_ids": ["NOPE-USD"], "channel": "level2"}))
    assert json.loads(err)["type"] == "error" and not conn.subs


@pytest.mark.parametrize("bad", [{}, [], "x", None, {"side": "bid", "price_level": {}, "new_quantity": "1"},
                                 {"side": "bid", "price_level": "1", "new_quantity": 1},
                                 {"side": {}, "price_level": "1", "new_quantity": "1"}])
def test_an_update_that_is_not_side_price_quantity_strings_is_malformed_never_raised(bad) -> None:
    """Issue 10.8: counted on its product, that book resyncs, on_frame does not raise."""
    a, _ = make()
    a.on_frame(l2(0, BTC, "snapshot", SNAP), T)
    a.on_frame(l2(1, ETH, "snapshot", SNAP), T)
    msg = json.loads(l2(2, BTC, "update", []))
    msg["events"][0]["updates"] = [bad]
    out = sent(a.on_frame(json.dumps(msg), T))
    assert [m["type"] for m in out] == ["unsubscribe", "subscribe"] and out[0]["product_ids"] == [BTC]
    assert a.states[BTC].counters.malformed == 1
    assert a.states[BTC].status is StreamStatus.RESYNCING and a.states[ETH].status is StreamStatus.LIVE


# ---- repeated resyncs back off ------------------------------------------------------------------

def test_a_connection_that_keeps_losing_messages_backs_off_instead_of_a_resubscribe_storm() -> None:
    """Every BTC update skips a ``sequence_num``: each is a connection gap, which resyncs every book.
    Each symbol's resubscribes follow the documented backoff; the status says why it waits."""
    lb = InMemoryLoopback("coinbase", [BTC, ETH])
    lb.step(10)
    assert lb.all_match()
    inner = lb.sim.frames_for

    def losing(conn, sym, payload):  # type: ignore[no-untyped-def]
        if sym == BTC:
            lb.sim._seq(conn)  # a message the client never gets
        return inner(conn, sym, payload)

    lb.sim.frames_for = losing  # type: ignore[method-assign]

    def resubscribes(sym: str):  # type: ignore[no-untyped-def]
        return lambda m: json.loads(m)["type"] == "unsubscribe" and sym in json.loads(m)["product_ids"]

    window = 120.0
    times, details = br.run(lb, window, resubscribes(BTC), BTC)
    assert len(times) <= br.max_resubscribes(window)  # with no backoff: one per update
    br.check_schedule(times, details, "sequence gap")
    eth = [m for m in lb.sent if resubscribes(ETH)(m)]
    assert 3 <= len(eth) <= br.max_resubscribes(window)  # the gaps hit ETH's book too
