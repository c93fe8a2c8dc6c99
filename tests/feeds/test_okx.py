"""OKX v5 books adapter: hand-written frames, the in-memory loopback and the socket simulator."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from lcm_tui.config import VenueConfig
from lcm_tui.core.model import FeedEvent, FeedEventKind, StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues.base import FetchSnapshot, Reconnect, Send
from lcm_tui.venues.okx.adapter import OkxAdapter
from lcm_tui.venues.okx.sim import OkxSim
from tests.feeds import backoff_reference as br

T = 1_000_000_000
BTC, ETH = "BTC-USDT", "ETH-USDT"


def make(symbols: tuple[str, ...] = (BTC, ETH)) -> tuple[OkxAdapter, list[FeedEvent]]:
    events: list[FeedEvent] = []
    cfg = VenueConfig(name="okx", symbols=list(symbols), ws_url="wss://x", snapshot_url="https://rest/books", depth=400)
    a = OkxAdapter(cfg, list(symbols), events.append)
    a.on_open(0)
    return a, events


def push(sym: str, action: str, prev: int, seq: int, bids=(), asks=(), checksum: int = 0) -> str:
    lv = lambda xs: [[p, q, "0", "1"] for p, q in xs]  # noqa: E731
    return json.dumps({"arg": {"channel": "books", "instId": sym}, "action": action,
                       "data": [{"asks": lv(asks), "bids": lv(bids), "ts": "1", "checksum": checksum,
                                 "prevSeqId": prev, "seqId": seq}]})


def ack(sym: str) -> str:
    return json.dumps({"id": "1", "event": "subscribe", "arg": {"channel": "books", "instId": sym}, "connId": "c"})


def rest(seq: int, bids=(), asks=()) -> str:
    lv = lambda xs: [[p, q, "0", "1"] for p, q in xs]  # noqa: E731
    return json.dumps({"code": "0", "msg": "", "data": [{"asks": lv(asks), "bids": lv(bids), "ts": "1", "seqId": seq}]})


def sent(actions: list) -> list:
    return [json.loads(a.text) if a.text != "ping" else "ping" for a in actions if isinstance(a, Send)]


BIDS = [("3366.1", "7"), ("3366", "6")]
ASKS = [("3366.8", "9"), ("3368", "8")]


def test_subscribe_message() -> None:
    a, _ = make()
    (msg,) = sent(a.on_open(0))
    assert msg["op"] == "subscribe"
    assert msg["args"] == [{"channel": "books", "instId": BTC}, {"channel": "books", "instId": ETH}]


def test_documented_sequence_keepalive_and_reset() -> None:
    """The OKX doc table: snapshot 10, update 10->15, keepalive 15->15, reset 15->3, update 3->5."""
    a, _ = make()
    st = a.states[BTC]
    assert a.on_frame(push(BTC, "snapshot", -1, 10, BIDS, ASKS), T) == []
    assert st.status is StreamStatus.LIVE
    assert a.on_frame(push(BTC, "update", 10, 15, [("3366", "0")]), T) == []
    assert a.on_frame(push(BTC, "update", 15, 15), T) == []  # keepalive: empty arrays
    assert a.on_frame(push(BTC, "update", 15, 3, [], [("3369", "1")]), T) == []  # reset: seqId < prevSeqId
    assert a.on_frame(push(BTC, "update", 3, 5, [("3365", "2")]), T) == []
    assert st.counters.gaps == 0 and st.counters.resyncs == 0
    assert st.book.to_dict() == {"bids": [("3366.1", "7"), ("3365", "2")],
                                 "asks": [("3366.8", "9"), ("3368", "8"), ("3369", "1")]}


def test_gap_resubscribes_that_symbol_only() -> None:
    a, events = make()
    a.on_frame(push(BTC, "snapshot", -1, 10, BIDS, ASKS), T)
    a.on_frame(push(ETH, "snapshot", -1, 70, BIDS, ASKS), T)
    actions = a.on_frame(push(BTC, "update", 12, 20, [("3366", "1")]), T)
    assert [(m["op"], m["args"]) for m in sent(actions)] == [
        ("unsubscribe", [{"channel": "books", "instId": BTC}]), ("subscribe", [{"channel": "books", "instId": BTC}])]
    btc = a.states[BTC]
    assert (btc.counters.gaps, btc.counters.resyncs, btc.status) == (1, 1, StreamStatus.RESYNCING)
    assert any(e.kind is FeedEventKind.GAP and "prevSeqId 12" in e.detail for e in events)
    assert a.on_frame(push(ETH, "update", 70, 75, [("3366", "1")]), T) == []
    assert a.states[ETH].status is StreamStatus.LIVE and a.states[ETH].counters.gaps == 0
    # Leftovers of the old subscription before the new ack: ignored, no REST bootstrap.
    assert a.on_frame(push(BTC, "update", 20, 25, [("3366", "1")]), T) == []
    assert btc.book.is_empty()
    a.on_frame(ack(BTC), T)
    a.on_frame(push(BTC, "snapshot", -1, 40, BIDS, ASKS), T)
    assert btc.status is StreamStatus.LIVE


def test_checksum_verified_only_when_non_zero() -> None:
    a, _ = make()
    st = a.states[BTC]
    assert a.on_frame(push(BTC, "snapshot", -1, 10, BIDS, ASKS, checksum=-1881014294), T) == []
    assert st.status is StreamStatus.LIVE
    # 0 means "absent" (OKX zeroed it in June 2026): never a mismatch.
    assert a.on_frame(push(BTC, "update", 10, 11, [("3366", "6")], checksum=0), T) == []
    actions = a.on_frame(push(BTC, "update", 11, 12, [("3366", "5")], checksum=-1881014294), T)
    assert [m["op"] for m in sent(actions)] == ["unsubscribe", "subscribe"]
    assert (st.counters.checksum_failures, st.counters.resyncs) == (1, 1)


def test_checksum_odd_example_and_unsigned_writer() -> None:
    a, _ = make()
    asks = [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
    assert a.on_frame(push(BTC, "snapshot", -1, 10, [("3366.1", "7")], asks, checksum=831078360), T) == []
    assert a.on_frame(push(ETH, "snapshot", -1, 10, BIDS, ASKS, checksum=-1881014294 & 0xFFFFFFFF), T) == []
    assert a.states[BTC].status is a.states[ETH].status is StreamStatus.LIVE


def test_rest_bootstrap_when_no_ws_snapshot() -> None:
    """§3.4: buffer, fetch, refetch while too old, drop seqId <= snapshot, bridge prevSeqId <= snap < seqId."""
    a, _ = make()
    st = a.states[BTC]
    assert a.on_frame(push(BTC, "update", 100, 110, [("1", "1")]), T) == []  # before the ack: ignored
    a.on_frame(ack(BTC), T)
    (fetch,) = a.on_frame(push(BTC, "update", 110, 120, [("3366", "1")]), T)
    assert isinstance(fetch, FetchSnapshot)
    assert fetch.symbol == BTC and fetch.url == "https://rest/books?instId=BTC-USDT&sz=400"
    assert st.status is StreamStatus.SYNCING
    assert a.on_frame(push(BTC, "update", 120, 130, [("3365", "3")]), T) == []
    assert a.on_frame(push(BTC, "update", 130, 140, [], [("3368", "0")]), T) == []
    # A snapshot older than the first buffered prevSeqId is fetched again.
    (again,) = a.on_frame(rest(105, BIDS, ASKS), T)
    assert isinstance(again, FetchSnapshot)
    # seqId 130 is inside the buffer: 120 and 130 are dropped, 130->140 bridges.
    assert a.on_frame(rest(130, [("3366.1", "7"), ("3366", "1")], ASKS), T) == []
    assert st.status is StreamStatus.LIVE
    assert st.book.to_dict() == {"bids": [("3366.1", "7"), ("3366", "1")], "asks": [("3366.8", "9")]}
    assert a.on_frame(push(BTC, "update", 140, 150, [("3360", "1")]), T) == []
    assert st.counters.gaps == 0 and a.rest_bootstraps == 1


def test_rest_bootstrap_bridges_live_updates_and_serialises_fetches() -> None:
    a, _ = make()
    a.on_frame(ack(BTC), T)
    a.on_frame(ack(ETH), T)
    assert len(a.on_frame(push(BTC, "update", 10, 20, [("3366", "1")]), T)) == 1
    # One fetch at a time: OKX's REST reply has no instId to attribute it by.
    assert a.on_frame(push(ETH, "update", 50, 60, [("3366", "1")]), T) == []
    (eth_fetch,) = a.on_frame(rest(25, BIDS, ASKS), T)  # BTC's reply; newer than every buffered update
    assert eth_fetch.symbol == ETH
    btc = a.states[BTC]
    # Loaded, but no update has bridged it yet: not LIVE on the snapshot alone.
    assert btc.status is StreamStatus.SYNCING and btc.book.bids.size_at("3366") == "6"
    assert a.on_frame(push(BTC, "update", 20, 30), T) == []  # seqId 30 > 25 and prevSeqId 20 <= 25: bridges
    assert btc.status is StreamStatus.LIVE
    assert a.on_frame(push(BTC, "update", 30, 31, [("3366", "2")]), T) == []
    assert btc.book.bids.size_at("3366") == "2" and btc.counters.gaps == 0
    assert a.on_frame(rest(60, BIDS, ASKS), T) == []
    assert a.states[ETH].status is StreamStatus.SYNCING
    assert a.on_frame(push(ETH, "update", 60, 61), T) == []
    assert a.states[ETH].status is StreamStatus.LIVE


def test_a_rest_snapshot_belongs_to_the_symbol_it_was_fetched_for() -> None:
    """Replies in another order than the requests (another tool's capture): each to its own book."""
    a, _ = make()
    a.on_frame(ack(BTC), T)
    a.on_frame(ack(ETH), T)
    a.on_frame(push(BTC, "update", 10, 20, [("3366", "1")]), T)
    a.on_frame(push(ETH, "update", 50, 60, [("3366", "1")]), T)
    eth_body, btc_body = rest(55, [("3000", "1")], [("3400", "1")]), rest(15, BIDS, ASKS)
    assert a.is_snapshot_reply(eth_body) and not a.is_snapshot_reply(push(BTC, "update", 1, 2))
    a.on_snapshot(ETH, eth_body, T)  # ETH's reply first, though BTC's fetch went out first
    a.on_snapshot(BTC, btc_body, T)
    # Each snapshot, bridged by its own symbol's buffered update.
    assert a.states[ETH].book.to_dict() == {"bids": [("3366", "1"), ("3000", "1")], "asks": [("3400", "1")]}
    assert a.states[BTC].book.to_dict() == {"bids": [("3366.1", "7"), ("3366", "1")], "asks": list(ASKS)}
    assert all(st.status is StreamStatus.LIVE and st.counters.gaps == 0 for st in a.states.values())


def test_rest_bootstrap_hole_resyncs() -> None:
    a, _ = make()
    a.on_frame(ack(BTC), T)
    a.on_frame(push(BTC, "update", 10, 20, [("3366", "1")]), T)
    a.on_frame(rest(15, BIDS, ASKS), T)  # drops nothing; 10 <= 15 < 20 bridges
    assert a.states[BTC].status is StreamStatus.LIVE
    b, _ = make()
    b.on_frame(ack(BTC), T)
    b.on_frame(push(BTC, "update", 10, 20), T)
    actions = b.on_frame(rest(30, BIDS, ASKS), T)  # newer than the buffer: bridged by live updates...
    assert actions == []
    actions = b.on_frame(push(BTC, "update", 35, 40), T)  # ...but prevSeqId 35 > 30: a hole
    assert [m["op"] for m in sent(actions)] == ["unsubscribe", "subscribe"]
    assert b.states[BTC].counters.gaps == 1


def test_ws_snapshot_during_bootstrap_wins() -> None:
    a, _ = make()
    a.on_frame(ack(BTC), T)
    a.on_frame(push(BTC, "update", 10, 20), T)
    a.on_frame(push(BTC, "snapshot", -1, 30, BIDS, ASKS), T)
    assert a.states[BTC].status is StreamStatus.LIVE
    assert a.on_frame(rest(25, [("1", "1")], []), T) == []  # the late REST reply is ignored
    assert a.states[BTC].book.bids.size_at("1") is None


def test_notice_error_pong_and_ping() -> None:
    a, _ = make()
    notice = {"event": "notice", "code": "64008", "msg": "The connection will soon be closed.", "connId": "c"}
    (rc,) = a.on_frame(json.dumps(notice), T)
    assert isinstance(rc, Reconnect) and rc.rollover
    assert a.on_frame(json.dumps({"event": "error", "code": "60012", "msg": "Invalid request", "connId": "c"}), T) == []
    assert a.errors == 1 and a.unattributed_malformed == 0
    rejected = {"event": "error", "code": "60018", "connId": "c",
                "msg": 'Wrong URL or channel:{"channel":"books","instId":"ETH-USDT"}, doesn\'t exist'}
    a.on_frame(json.dumps(rejected), T)
    assert a.errors == 2 and a.states[ETH].status is StreamStatus.DOWN
    assert a.states[BTC].status is StreamStatus.SYNCING
    assert a.on_frame("pong", T) == [] and a.on_frame(b"pong", T) == []
    assert a.pongs == 2
    # Text ping only after 20 s without any frame (OKX cuts idle connections at 30 s).
    assert a.keepalive(15 * T) == []
    assert sent(a.keepalive(21 * T)) == ["ping"]
    assert a.keepalive(22 * T) == []
    a.on_frame("pong", 30 * T)
    assert a.keepalive(45 * T) == []
    assert sent(a.keepalive(51 * T)) == ["ping"]


def test_crossed_book_is_tolerated_but_never_live() -> None:
    """OKX documents crossed books in auctions; the seqId chain is the integrity check, so a
    crossed book is kept (no resync) but not published as LIVE until it uncrosses."""
    a, _ = make()
    a.on_frame(push(BTC, "snapshot", -1, 10, BIDS, ASKS), T)
    assert a.on_frame(push(BTC, "update", 10, 11, [("3367", "1")]), T) == []
    st = a.states[BTC]
    assert st.book.is_crossed() and st.status is StreamStatus.SYNCING and st.counters.resyncs == 0
    assert st.counters.crossed == 1
    assert a.on_frame(push(BTC, "update", 11, 12, [("3367", "0")]), T) == []
    assert not st.book.is_crossed() and st.status is StreamStatus.LIVE and st.counters.resyncs == 0


def test_crossed_snapshot_is_never_live() -> None:
    a, _ = make()
    a.on_frame(push(BTC, "snapshot", -1, 10, [("3369", "1")], ASKS), T)
    assert a.states[BTC].book.is_crossed() and a.states[BTC].status is not StreamStatus.LIVE


def test_malformed() -> None:
    a, _ = make()
    a.on_frame(push(BTC, "snapshot", -1, 10, BIDS, ASKS), T)
    assert a.on_frame("{", T) == [] and a.on_frame("[1,2]", T) == []
    assert a.unattributed_malformed == 2
    bad = push(BTC, "update", 10, 11).replace('"seqId": 11', '"seqId": "11"')
    assert [m["op"] for m in sent(a.on_frame(bad, T))] == ["unsubscribe", "subscribe"]
    assert a.states[BTC].counters.malformed == 1
    assert a.on_frame(push("XRP-USDT", "update", 1, 2), T) == []
    assert a.unattributed_malformed == 3


# ---- loopback against the venue handler -------------------------------------------------------

FAULTS = {
    FaultKind.DROP: {"gaps": 1, "resyncs": 1},
    FaultKind.CORRUPT_CHECKSUM: {"checksum_failures": 1, "resyncs": 1},
    FaultKind.MALFORMED: {"gaps": 1, "resyncs": 1},
    FaultKind.TRUNCATED: {"malformed": 1, "resyncs": 1},
    FaultKind.DISCONNECT: {},
    FaultKind.STALL: {},
    FaultKind.SERVER_SHUTDOWN: {},
    FaultKind.RESET_SEQUENCE: {},
}


@pytest.mark.parametrize("ws_snapshot", [True, False])
@pytest.mark.parametrize("kind", list(FAULTS))
def test_inmemory_faults_recover_exactly(kind: FaultKind, ws_snapshot: bool) -> None:
    sim = OkxSim([BTC, ETH])
    sim.real_checksum = True
    sim.ws_snapshot = ws_snapshot
    plan = FaultPlan()
    lb = InMemoryLoopback("okx", [BTC, ETH], sim=sim, faults=plan, rest_delay_steps=0 if ws_snapshot else 2)
    lb.step(10)
    assert lb.all_match()
    plan.schedule(kind, "okx", BTC, duration_s=0.5)
    lb.step(20)
    assert plan.pending() == []
    assert lb.all_match()
    c = asdict(lb.adapter.states[BTC].counters)
    assert {k: v for k, v in c.items() if v and k != "frames"} == FAULTS[kind]
    assert {k: v for k, v in asdict(lb.adapter.states[ETH].counters).items() if v and k != "frames"} == {}
    if kind is FaultKind.SERVER_SHUTDOWN:
        assert lb.connections == 2 and any('"64008"' in f for f in lb.delivered)
    if not ws_snapshot:
        assert lb.adapter.rest_bootstraps >= 2


def test_inmemory_keepalive_and_checksum_zero_mode() -> None:
    lb = InMemoryLoopback("okx", [BTC])
    lb.sim.keepalive_idle_s = 2.0
    lb.step(5)
    for _ in range(3):
        lb.idle()
    kas = [f for f in lb.delivered if '"asks":[],"bids":[]' in f]
    assert kas and json.loads(kas[0])["data"][0]["prevSeqId"] == json.loads(kas[0])["data"][0]["seqId"]
    lb.step(5)
    assert lb.all_match() and lb.adapter.states[BTC].counters.gaps == 0
    # Production mode: checksum 0, and a corrupt-checksum fault has nothing to corrupt (stays pending).
    assert json.loads(lb.delivered[-1])["data"][0]["checksum"] == 0
    lb.faults.schedule(FaultKind.CORRUPT_CHECKSUM, "okx", BTC)
    lb.step(3)
    assert len(lb.faults.pending()) == 1


def test_sim_writes_okx_number_spelling() -> None:
    lb = InMemoryLoopback("okx", [BTC])
    lb.step(50)
    prices = [lv[0] for f in lb.delivered if '"action"' in f for d in json.loads(f)["data"] for lv in d["bids"]]
    assert prices and not any(p.endswith("0") and "." in p for p in prices)
    assert any("." not in p for p in prices)  # whole prices are written without a point, e.g. "60009"


# ---- real sockets: the runner against the simulator server -------------------------------------

@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.CORRUPT_CHECKSUM, FaultKind.SERVER_SHUTDOWN,
                                  FaultKind.RESET_SEQUENCE])
async def test_socket_faults_recover_exactly(sim_factory, wait_until, kind: FaultKind) -> None:
    sim = await sim_factory({"okx": [BTC, ETH]}, shutdown_grace_s=0.05)
    sim.server.sims["okx"].real_checksum = True
    runner = sim.start_runner("okx")
    await sim.step_until_live(runner)
    sim.faults.schedule(kind, "okx", BTC)
    await sim.step_until(lambda: not sim.faults.pending(), msg="fault fired")
    if kind is FaultKind.SERVER_SHUTDOWN:
        await wait_until(lambda: sim.server.connections == 2, msg="rolled over to a new connection")
    await sim.step_until(lambda: sim.books_match(runner), msg="books match after the fault")
    await sim.step(3)
    await sim.settle(runner)
    c = runner.states[BTC].counters
    if kind is FaultKind.DROP:
        assert (c.gaps, c.resyncs) == (1, 1)
    elif kind is FaultKind.CORRUPT_CHECKSUM:
        assert (c.checksum_failures, c.resyncs) == (1, 1)
    assert runner.states[ETH].counters.gaps == 0


async def test_socket_rest_bootstrap_without_ws_snapshot(sim_factory) -> None:
    sim = await sim_factory({"okx": [BTC, ETH]})
    sim.server.sims["okx"].ws_snapshot = False
    runner = sim.start_runner("okx")
    await sim.step_until_live(runner)
    await sim.step(5)
    await sim.settle(runner)
    assert sim.server.http_requests >= 2
    assert all(st.counters.gaps == 0 for st in runner.states.values())


def test_rest_error_waits_before_fetching_again() -> None:
    a, _ = make()
    a.on_frame(ack(BTC), T)
    assert len(a.on_frame(push(BTC, "update", 10, 20), T)) == 1
    err = json.dumps({"code": "50011", "msg": "Too Many Requests", "data": []})
    assert a.on_frame(err, T) == []
    assert a.errors == 1 and a.states[BTC].status is StreamStatus.SYNCING
    assert a.on_frame(push(BTC, "update", 20, 30), T + T // 2) == []  # within the pause: no new fetch
    (fetch,) = a.on_frame(push(BTC, "update", 30, 40), 3 * T)
    assert isinstance(fetch, FetchSnapshot)
    assert a.on_frame(rest(35, BIDS, ASKS), 3 * T) == []
    assert a.states[BTC].status is StreamStatus.LIVE
    # A REST reply nobody asked for is counted, not applied.
    assert a.on_frame(rest(99, [("1", "1")], []), 3 * T) == []
    assert a.unattributed_malformed == 1 and a.states[BTC].book.bids.size_at("1") is None


def test_sim_rejects_unknown_channels_and_instruments() -> None:
    from lcm_tui.venues.simbase import SimConn

    sim = OkxSim([BTC])
    conn = SimConn("okx", "/ws/v5/public")
    (err,) = sim.on_message(conn, json.dumps({"id": "7", "op": "subscribe", "args": [{"channel": "books",
                                                                                     "instId": "NOPE-USDT"}]}))
    assert json.loads(err)["event"] == "error" and json.loads(err)["id"] == "7"
    assert sim.on_message(conn, "ping") == ["pong"]
    status, body = sim.http("/api/v5/market/books", {"instId": "NOPE"})
    assert status == 200 and json.loads(body)["code"] == "51001"
    assert sim.http("/api/v5/market/nothing", {}) is None


async def test_capture_replay_reproduces_rest_bootstraps_and_rollover(sim_factory, tmp_path) -> None:
    """REST replies are captured without a symbol; replay must attribute them exactly as live did."""
    from lcm_tui.runtime.capture import Capture
    from lcm_tui.runtime.replay import replay_file

    sim = await sim_factory({"okx": [BTC, ETH]}, shutdown_grace_s=0.05)
    okx = sim.server.sims["okx"]
    okx.ws_snapshot = False
    okx.real_checksum = True
    path = tmp_path / "okx.jsonl"
    cap = Capture(str(path), flush_every=50)
    runner = sim.start_runner("okx", capture=cap)
    await sim.step_until_live(runner)
    sim.faults.schedule(FaultKind.DROP, "okx", BTC)
    sim.faults.schedule(FaultKind.CORRUPT_CHECKSUM, "okx", ETH)
    await sim.step_until(lambda: not sim.faults.pending(), msg="frame faults fired")
    sim.faults.schedule(FaultKind.SERVER_SHUTDOWN, "okx")
    await sim.step_until(lambda: runner.rollovers == 1 and sim.books_match(runner), msg="rolled over")
    await sim.step(5)
    await sim.settle(runner)
    await sim.stop_runners()
    cap.close()
    rep = replay_file(sim.settings, str(path))
    assert rep.errors == 0
    for sym, live in runner.states.items():
        st = rep.states[("okx", sym)]
        assert st.book.to_dict() == live.book.to_dict()
        assert (st.counters.gaps, st.counters.checksum_failures, st.counters.resyncs) == (
            live.counters.gaps, live.counters.checksum_failures, live.counters.resyncs)
    assert runner.states[BTC].counters.gaps == 1 and runner.states[ETH].counters.checksum_failures == 1


@pytest.mark.parametrize("bad", [{}, [], ["3366.1"], [3366.1, "7", "0", "1"], ["3366.1", {}, "0", "1"], "x", None])
def test_a_level_that_is_not_a_list_of_strings_is_malformed_never_raised(bad) -> None:
    """Issue 10.8: counted on its symbol, that one book resyncs, on_frame does not raise."""
    a, _ = make()
    a.on_frame(push(BTC, "snapshot", -1, 10, BIDS, ASKS), T)
    a.on_frame(push(ETH, "snapshot", -1, 10, BIDS, ASKS), T)
    msg = json.loads(push(BTC, "update", 10, 11))
    msg["data"][0]["bids"] = [bad]
    ops = [m["op"] for m in sent(a.on_frame(json.dumps(msg), T))]
    assert ops == ["unsubscribe", "subscribe"] and a.states[BTC].counters.malformed == 1
    assert a.states[BTC].status is StreamStatus.RESYNCING and a.states[ETH].status is StreamStatus.LIVE


# ---- repeated resyncs back off ------------------------------------------------------------------

def _unsubscribe(text: str) -> bool:
    return text != "ping" and json.loads(text).get("op") == "unsubscribe"


def _checksum_loop(ws_snapshot: bool) -> tuple[InMemoryLoopback, FaultPlan]:
    sim = OkxSim([BTC, ETH])
    sim.real_checksum = True
    sim.ws_snapshot = ws_snapshot
    plan = FaultPlan()
    lb = InMemoryLoopback("okx", [BTC, ETH], sim=sim, faults=plan, rest_delay_steps=0 if ws_snapshot else 2)
    lb.step(10)
    assert lb.all_match()
    return lb, plan


@pytest.mark.parametrize("ws_snapshot", [True, False])
def test_checksums_that_never_match_back_off_instead_of_a_resubscribe_storm(ws_snapshot: bool) -> None:
    """OKX allows 480 subscribe/unsubscribe requests per hour per connection: a checksum that never
    matches must not spend them in seconds. The resubscribes follow the documented backoff."""
    lb, plan = _checksum_loop(ws_snapshot)
    br.check_never_matching_checksum(lb, plan, "okx", BTC, ETH, _unsubscribe)


def test_the_backoff_resets_once_the_symbol_stayed_live() -> None:
    lb, plan = _checksum_loop(True)
    br.check_reset_after_stable(lb, plan, "okx", BTC, _unsubscribe)


def test_rest_books_the_venue_keeps_refusing_back_off() -> None:
    """No WS snapshot and REST books answering "Too Many Requests" every time: a fetch a second keeps
    OKX's limit hit; the retries follow the backoff instead."""
    sim = OkxSim([BTC])
    sim.ws_snapshot = False
    lb = InMemoryLoopback("okx", [BTC], sim=sim)
    sim.http = lambda path, query: (200, json.dumps({"code": "50011", "msg": "Too Many Requests", "data": []}))  # type: ignore[method-assign]
    window = 120.0
    times, details = br.run(lb, window, None, BTC, count=lambda: len(lb.requests))
    assert 3 <= len(times) <= br.max_resubscribes(window) + 1  # once a second it was 120
    assert any(d.startswith("REST books failed x") for d in details)
    assert lb.adapter.states[BTC].status is not StreamStatus.LIVE
