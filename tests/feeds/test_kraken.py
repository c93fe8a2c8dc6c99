"""Kraken v2 book adapter: hand-written frames, the in-memory loopback and the socket simulator."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import pytest

from lcm_tui.config import ConfigError, VenueConfig
from lcm_tui.core.model import FeedEvent, StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues.base import Send
from lcm_tui.venues.kraken.adapter import KrakenAdapter
from lcm_tui.venues.kraken.checksum import kraken_checksum
from tests.feeds import backoff_reference as br

T = 1_000_000_000
BTC, ETH = "BTC/USD", "ETH/USD"

# Kraken's checksum guide (exchange-protocols.md §4.4): CRC 3310070434.
DOC_ASKS = [
    ("45285.2", "0.00100000"), ("45286.4", "1.54571953"), ("45286.6", "1.54571109"), ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"), ("45291.8", "1.54553491"), ("45294.7", "0.04454749"), ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"), ("45299.5", "0.18772827"),
]
DOC_BIDS = [
    ("45283.5", "0.10000000"), ("45283.4", "1.54582015"), ("45282.1", "0.10000000"), ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"), ("45279.0", "0.07990000"), ("45277.6", "0.03310103"), ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"), ("45276.6", "0.15445238"),
]


def make(depth: int = 10, symbols: tuple[str, ...] = (BTC, ETH)) -> tuple[KrakenAdapter, list[FeedEvent]]:
    events: list[FeedEvent] = []
    a = KrakenAdapter(VenueConfig(name="kraken", symbols=list(symbols), ws_url="wss://x", depth=depth),
                      list(symbols), events.append)
    a.on_open(0)
    return a, events


def levels(xs) -> str:
    return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in xs)


def book_frame(sym: str, kind: str, bids, asks, checksum: int) -> str:
    """Numbers written as JSON numbers with all their digits, as Kraken does."""
    ts = ',"timestamp":"2023-10-06T17:35:55.440295Z"' if kind == "update" else ""
    return (f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{sym}","bids":[{levels(bids)}],'
            f'"asks":[{levels(asks)}],"checksum":{checksum}{ts}}}]}}')


def sent(actions: list) -> list[dict]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def test_subscribe_message_and_depths() -> None:
    a, _ = make(depth=25)
    (msg,) = sent(a.on_open(0))
    assert msg["method"] == "subscribe"
    assert msg["params"] == {"channel": "book", "symbol": [BTC, ETH], "depth": 25, "snapshot": True}
    for bad in (20, 2000):
        with pytest.raises(ConfigError, match=r"exchanges\.kraken\.depth"):
            make(depth=bad)


def test_documented_snapshot_checksum_and_exact_digits() -> None:
    a, _ = make()
    assert a.on_frame(book_frame(BTC, "snapshot", DOC_BIDS, DOC_ASKS, 3310070434), T) == []
    st = a.states[BTC]
    assert st.status is StreamStatus.LIVE and st.counters.checksum_failures == 0
    assert st.book.bids.best() == ("45283.5", "0.10000000")  # trailing zeros survive the parse
    assert st.book.asks.top(1) == [("45285.2", "0.00100000")]


def test_update_checksum_and_mismatch_resubscribes_that_symbol_only() -> None:
    a, _ = make()
    a.on_frame(book_frame(BTC, "snapshot", DOC_BIDS, DOC_ASKS, 3310070434), T)
    a.on_frame(book_frame(ETH, "snapshot", DOC_BIDS, DOC_ASKS, 3310070434), T)
    bids = [("45283.5", "0.20000000"), *DOC_BIDS[1:]]
    good = kraken_checksum(DOC_ASKS, bids)
    assert a.on_frame(book_frame(BTC, "update", [("45283.5", "0.20000000")], [], good), T) == []
    actions = a.on_frame(book_frame(BTC, "update", [("45283.5", "0.30000000")], [], good), T)
    assert [(m["method"], m["params"]) for m in sent(actions)] == [
        ("unsubscribe", {"channel": "book", "symbol": [BTC], "depth": 10}),
        ("subscribe", {"channel": "book", "symbol": [BTC], "depth": 10, "snapshot": True}),
    ]
    btc, eth = a.states[BTC], a.states[ETH]
    assert (btc.counters.checksum_failures, btc.counters.resyncs, btc.status) == (1, 1, StreamStatus.RESYNCING)
    assert eth.status is StreamStatus.LIVE and eth.counters.resyncs == 0
    # Updates before the new snapshot are leftovers and ignored.
    assert a.on_frame(book_frame(BTC, "update", [("1.0", "1.0")], [], 0), T) == []
    assert btc.book.is_empty()


def test_float_parsing_would_fail_the_checksum() -> None:
    """The same frame re-rendered through floats drops zeros: the adapter must notice the mismatch."""
    a, _ = make()
    floaty = [(str(float(p)), str(float(q))) for p, q in DOC_BIDS]
    actions = a.on_frame(book_frame(BTC, "snapshot", floaty, DOC_ASKS, 3310070434), T)
    assert a.states[BTC].counters.checksum_failures == 1 and len(actions) == 2


def test_truncate_to_depth_before_the_checksum() -> None:
    """Kraken sends no delete for a level pushed out of the subscribed depth."""
    a, _ = make(depth=10)
    a.on_frame(book_frame(BTC, "snapshot", DOC_BIDS, DOC_ASKS, 3310070434), T)
    new_bids = [("45284.0", "1.00000000"), *DOC_BIDS[:9]]
    assert a.on_frame(book_frame(BTC, "update", [("45284.0", "1.00000000")], [],
                                 kraken_checksum(DOC_ASKS, new_bids)), T) == []
    st = a.states[BTC]
    assert st.book.depth() == (10, 10) and st.book.bids.size_at("45276.6") is None
    # Deleting a level brings nothing back in by itself: Kraken sends the level that re-enters.
    after = [*new_bids[1:], ("45276.6", "0.15445238")]
    frame = book_frame(BTC, "update", [("45284.0", "0.00000000"), ("45276.6", "0.15445238")], [],
                       kraken_checksum(DOC_ASKS, after))
    assert a.on_frame(frame, T) == []
    assert st.book.bids.top(10) == after and st.counters.checksum_failures == 0


def test_exponent_numbers_render_positionally() -> None:
    a, _ = make()
    bids, asks = [("0.0000001", "5.0")], [("0.0000002", "1.5")]
    frame = book_frame(BTC, "snapshot", [("1e-7", "5.0")], [("2E-7", "1.5")], kraken_checksum(asks, bids))
    assert a.on_frame(frame, T) == []
    assert a.states[BTC].book.bids.best() == ("0.0000001", "5.0")


def test_control_messages() -> None:
    a, _ = make()
    status = ('{"channel":"status","type":"update","data":[{"api_version":"v2",'
              '"connection_id":13834774380200032777,"system":"online","version":"2.0.0"}]}')
    ack = ('{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},'
           '"success":true,"time_in":"t","time_out":"t","req_id":1}')
    for f in (status, ack, '{"channel":"heartbeat"}', '{"method":"pong","req_id":2,"time_in":"t","time_out":"t"}'):
        assert a.on_frame(f, T) == []
    assert (a.system_status, a.heartbeats, a.pongs, a.unattributed_malformed) == ("online", 1, 1, 0)
    rejected = ('{"error":"Currency pair not supported ETH/USD","method":"subscribe","req_id":1,'
                '"success":false,"symbol":"ETH/USD","time_in":"t","time_out":"t"}')
    a.on_frame(rejected, T)
    assert a.errors == 1 and a.states[ETH].status is StreamStatus.DOWN
    assert sent(a.keepalive(20 * T))[0]["method"] == "ping"
    assert a.keepalive(25 * T) == []


def test_crossed_and_malformed() -> None:
    a, _ = make()
    bids, asks = [("100.0", "1.0")], [("101.0", "1.0")]
    a.on_frame(book_frame(BTC, "snapshot", bids, asks, kraken_checksum(asks, bids)), T)
    a.on_frame(book_frame(ETH, "snapshot", bids, asks, kraken_checksum(asks, bids)), T)
    crossed = [("101.5", "1.0"), ("100.0", "1.0")]
    actions = a.on_frame(book_frame(BTC, "update", [("101.5", "1.0")], [], kraken_checksum(asks, crossed)), T)
    assert a.states[BTC].counters.crossed == 1 and len(actions) == 2
    # A wrong-typed qty on a known symbol: counted there, that symbol resyncs.
    a.on_frame(book_frame(ETH, "update", [("100.0", "null")], [], 0), T)
    assert a.states[ETH].counters.malformed == 1 and a.states[ETH].counters.resyncs == 1
    # A frame nobody can read may have been any book's update, and Kraken has no sequence to tell:
    # every synced book resyncs. A broken heartbeat does not cost a resync. (Each book stays LIVE
    # for longer than the 30 s stable period first, so every resync is news and acts at once.)
    later = T + 31 * 1_000_000_000
    a.on_frame(book_frame(ETH, "snapshot", bids, asks, kraken_checksum(asks, bids)), T)
    assert [m["params"]["symbol"] for m in sent(a.on_frame('{"channel":"book","type":"upd', later))] == [[ETH], [ETH]]
    assert a.on_frame('{"channel":"heartb', later) == []
    a.on_frame(book_frame(ETH, "snapshot", bids, asks, kraken_checksum(asks, bids)), later)
    assert a.on_frame('{"method":"subscribe","result":{"channel":"book","symbol":"ETH/USD","dep', later) == []
    assert a.on_frame('{"chan', 2 * later) != []  # too short to tell: it may have been a book update
    assert a.unattributed_malformed == 4


# ---- loopback against the venue handler -------------------------------------------------------

FAULTS = {
    FaultKind.DROP: {"checksum_failures": 1, "resyncs": 1},  # at depth 10 every change moves the CRC
    FaultKind.CORRUPT_CHECKSUM: {"checksum_failures": 1, "resyncs": 1},
    FaultKind.MALFORMED: {"resyncs": 1},  # unreadable: every synced book resyncs (no sequence numbers)
    FaultKind.TRUNCATED: {"malformed": 1, "resyncs": 1},  # the cut frame names its symbol
    FaultKind.DISCONNECT: {},
    FaultKind.STALL: {},
    FaultKind.SERVER_SHUTDOWN: {},
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_inmemory_faults_recover_exactly(kind: FaultKind) -> None:
    plan = FaultPlan()
    lb = InMemoryLoopback("kraken", [BTC, ETH], depth=10, faults=plan)
    lb.step(10)
    assert lb.all_match()
    plan.schedule(kind, "kraken", BTC, duration_s=0.5)
    lb.step(20)
    assert plan.pending() == []
    assert lb.all_match()
    c = asdict(lb.adapter.states[BTC].counters)
    assert {k: v for k, v in c.items() if v and k != "frames"} == FAULTS[kind]
    eth = {k: v for k, v in asdict(lb.adapter.states[ETH].counters).items() if v and k != "frames"}
    assert eth == ({"resyncs": 1} if kind is FaultKind.MALFORMED else {})


def test_inmemory_deep_books_and_no_sequence_reset() -> None:
    lb = InMemoryLoopback("kraken", [BTC], depth=1000)
    lb.step(50)
    assert lb.all_match() and lb.adapter.states[BTC].book.depth()[0] > 100
    lb.faults.schedule(FaultKind.RESET_SEQUENCE, "kraken", BTC)
    lb.step(2)
    assert len(lb.faults.pending()) == 1  # Kraken has no sequence to reset: the fault never fires


def test_sim_wire_format() -> None:
    lb = InMemoryLoopback("kraken", [BTC], depth=10)
    lb.step(3)
    lb.idle()
    assert lb.delivered[-1] == '{"channel":"heartbeat"}'
    lb.t_ns += 20 * 1_000_000_000
    lb.idle()
    first = json.loads(lb.delivered[0])
    assert first["channel"] == "status" and first["data"][0]["connection_id"] > 2**53
    assert json.loads(lb.delivered[1])["result"]["symbol"] == BTC
    update = next(f for f in lb.delivered if '"channel":"book","type":"update"' in f)
    assert '"qty":' in update and '"qty":"' not in update  # numbers, not strings
    assert '0000}' in update or '0000,' in update  # fixed precision keeps trailing zeros
    assert json.loads(lb.delivered[-1])["method"] == "pong"


# ---- real sockets: the runner against the simulator server -------------------------------------

@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.CORRUPT_CHECKSUM, FaultKind.MALFORMED,
                                  FaultKind.DISCONNECT, FaultKind.SERVER_SHUTDOWN])
async def test_socket_faults_recover_exactly(sim_factory, wait_until, kind: FaultKind) -> None:
    sim = await sim_factory({"kraken": [BTC, ETH]}, shutdown_grace_s=0.05)
    sim.settings.venues["kraken"].depth = 10
    runner = sim.start_runner("kraken")
    await sim.step_until_live(runner)
    sim.faults.schedule(kind, "kraken", BTC)
    await sim.step_until(lambda: not sim.faults.pending(), msg="fault fired")
    if kind in (FaultKind.DISCONNECT, FaultKind.SERVER_SHUTDOWN):
        await wait_until(lambda: sim.server.connections == 2, msg="reconnected")
    await sim.step_until(lambda: sim.books_match(runner), msg="books match after the fault")
    await sim.step(3)
    await sim.settle(runner)
    c = runner.states[BTC].counters
    if kind in (FaultKind.DROP, FaultKind.CORRUPT_CHECKSUM):
        assert (c.checksum_failures, c.resyncs) == (1, 1)
    elif kind is FaultKind.MALFORMED:
        assert c.resyncs == 1
    assert runner.states[BTC].book.depth() == (10, 10)


def test_sim_rejects_bad_depth_and_unknown_pairs() -> None:
    from lcm_tui.venues.kraken.sim import KrakenSim
    from lcm_tui.venues.simbase import SimConn

    sim = KrakenSim([BTC])
    conn = SimConn("kraken", "/v2")
    req = {"method": "subscribe", "params": {"channel": "book", "symbol": [BTC, "XBT/EUR"], "depth": 20}, "req_id": 4}
    replies = [json.loads(r) for r in sim.on_message(conn, json.dumps(req))]
    assert [(r["success"], r["symbol"]) for r in replies] == [(False, BTC), (False, "XBT/EUR")]
    assert not conn.subs
    req["params"]["depth"] = 25
    replies = [json.loads(r) for r in sim.on_message(conn, json.dumps(req))]
    assert [r.get("success") for r in replies] == [True, None, False]  # ack, snapshot, rejection
    assert replies[1]["type"] == "snapshot" and len(replies[1]["data"][0]["bids"]) == 0  # no market loaded


async def test_capture_replay_reproduces_exact_digits_and_resyncs(sim_factory, tmp_path) -> None:
    from lcm_tui.runtime.capture import Capture
    from lcm_tui.runtime.replay import replay_file

    sim = await sim_factory({"kraken": [BTC, ETH]})
    sim.settings.venues["kraken"].depth = 10
    path = tmp_path / "kraken.jsonl.gz"
    cap = Capture(str(path), flush_every=50)
    runner = sim.start_runner("kraken", capture=cap)
    await sim.step_until_live(runner)
    sim.faults.schedule(FaultKind.DROP, "kraken", BTC)
    sim.faults.schedule(FaultKind.TRUNCATED, "kraken", ETH)
    await sim.step_until(lambda: not sim.faults.pending(), msg="faults fired")
    await sim.step_until(lambda: sim.books_match(runner), msg="resynced")
    await sim.step(5)
    await sim.settle(runner)
    await sim.stop_runners()
    cap.close()
    rep = replay_file(sim.settings, str(path))
    assert rep.errors == 0
    for sym, live in runner.states.items():
        st = rep.states[("kraken", sym)]
        assert st.book.to_dict() == live.book.to_dict()
        assert asdict(st.counters) | {"reconnects": 0} == asdict(live.counters) | {"reconnects": 0}
    assert runner.states[BTC].counters.checksum_failures == 1 and runner.states[ETH].counters.malformed == 1


@pytest.mark.parametrize("bad", ["{}", "[]", '"x"', "null", '{"price":{},"qty":1.0}', '{"price":45283.5}',
                                 '{"price":[1],"qty":1.0}'])
def test_a_level_that_is_not_a_price_and_qty_is_malformed_never_raised(bad) -> None:
    """Issue 10.8: counted on its symbol, that one book resyncs, on_frame does not raise."""
    a, _ = make()
    a.on_frame(book_frame(BTC, "snapshot", DOC_BIDS, DOC_ASKS, 3310070434), 0)
    a.on_frame(book_frame(ETH, "snapshot", DOC_BIDS, DOC_ASKS, 3310070434), 0)
    text = book_frame(BTC, "update", [], [], 3310070434).replace('"bids":[]', f'"bids":[{bad}]')
    methods = [m["method"] for m in sent(a.on_frame(text, 1))]
    assert methods == ["unsubscribe", "subscribe"] and a.states[BTC].counters.malformed == 1
    assert a.states[BTC].status is StreamStatus.RESYNCING and a.states[ETH].status is StreamStatus.LIVE


# ---- repeated resyncs back off ------------------------------------------------------------------

def _unsubscribe(text: str) -> bool:
    return json.loads(text).get("method") == "unsubscribe"


def test_checksums_that_never_match_back_off_instead_of_a_resubscribe_storm() -> None:
    """A venue whose every update fails the checksum: the resubscribes follow the documented
    backoff, the status says why it waits, and the other symbol on the connection is unaffected."""
    plan = FaultPlan()
    lb = InMemoryLoopback("kraken", [BTC, ETH], depth=10, faults=plan)
    lb.step(10)
    assert lb.all_match()
    br.check_never_matching_checksum(lb, plan, "kraken", BTC, ETH, _unsubscribe)


def test_the_backoff_resets_once_the_symbol_stayed_live() -> None:
    plan = FaultPlan()
    lb = InMemoryLoopback("kraken", [BTC], depth=10, faults=plan)
    lb.step(10)
    br.check_reset_after_stable(lb, plan, "kraken", BTC, _unsubscribe)


async def test_socket_runner_sends_the_deferred_resubscribes(sim_factory) -> None:
    """The runner honours the backoff: it is the runner's timer (``keepalive``) that sends the
    deferred resubscribes, so the symbol keeps retrying, and never more often than the schedule."""
    sim = await sim_factory({"kraken": [BTC, ETH]})
    sim.settings.venues["kraken"].depth = 10
    runner = sim.start_runner("kraken")
    await sim.step_until_live(runner)
    sim.faults.schedule(FaultKind.CORRUPT_CHECKSUM, "kraken", BTC, count=10**9)
    c = runner.states[BTC].counters
    await sim.step_until(lambda: c.checksum_failures >= 1, msg="first failure")
    start = asyncio.get_running_loop().time()
    waits: list[str] = []

    def seen() -> bool:
        if br.DETAIL.match(runner.states[BTC].status_detail):
            waits.append(runner.states[BTC].status_detail)
        return c.checksum_failures >= 4  # three deferred resubscribes went out: ~2 s

    await sim.step_until(seen, timeout=15.0, msg="deferred resubscribes sent by the runner")
    elapsed = asyncio.get_running_loop().time() - start
    assert c.checksum_failures <= br.max_resubscribes(elapsed) + 1  # +1: the failure now waiting
    assert waits and all(w.startswith("checksum mismatch x") for w in waits)
    assert runner.states[ETH].status is StreamStatus.LIVE and runner.states[ETH].counters.resyncs == 0
