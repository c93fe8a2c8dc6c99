"""Binance spot and USD-M over real loopback sockets: sync from scratch and recovery from every fault.

Each test ends the same way: the market stops, and the client's book must equal the simulator's
true book string for string, with counters that say what happened.
"""

from __future__ import annotations

import re

import orjson
import pytest

from lcm_tui.core.model import FeedEventKind, StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues.base import FetchSnapshot, Reconnect
from tests.feeds import backoff_reference as br

VENUES = ["binance", "binance-usdm"]
SYMS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture(params=VENUES)
async def live(request, sim_factory):
    venue = request.param
    sim = await sim_factory({venue: SYMS})
    runner = sim.start_runner(venue)
    await sim.step_until_live(runner)
    return venue, sim, runner


async def test_sync_from_scratch(live):
    venue, sim, runner = live
    await sim.step(30)
    await sim.settle(runner)
    for sym in SYMS:
        st = runner.states[sym]
        c = st.counters
        assert (c.gaps, c.resyncs, c.malformed, c.reconnects) == (0, 0, 0, 0)
        assert c.frames >= 30
        assert len(st.book.bids) >= 100 and len(st.book.asks) >= 100
        assert not st.book.is_crossed()
    assert runner.connects == 1
    if venue == "binance-usdm":
        assert sim.server.http_requests >= len(SYMS)  # REST snapshots, one at a time
    else:
        assert sim.server.http_requests == 0  # WS-API depth, no HTTP


async def _resynced_and_live(sim, runner) -> None:
    """Keep the market moving until the resync is done: a resynced book is LIVE only once an event
    bridges its new snapshot, so a market stopped right after the snapshot would leave it syncing."""
    await sim.step_until(lambda: sum(st.counters.resyncs for st in runner.states.values()) >= 1
                         and sim.live(runner), msg="resynced and live again")


async def test_drop_is_a_gap_and_resyncs_one_symbol(live):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.DROP, venue, "BTCUSDT")
    await sim.step(5)
    await _resynced_and_live(sim, runner)
    await sim.settle(runner)
    btc, eth = runner.states["BTCUSDT"].counters, runner.states["ETHUSDT"].counters
    assert (btc.gaps, btc.resyncs) == (1, 1)
    assert (eth.gaps, eth.resyncs) == (0, 0)  # the other symbol on the connection kept going
    assert runner.connects == 1
    assert not sim.faults.pending()
    assert any(e.kind is FeedEventKind.GAP and e.symbol == "BTCUSDT" for e in sim.events)


async def test_malformed_frame_is_counted_and_the_lost_update_resynced(live):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.MALFORMED, venue, "ETHUSDT")
    await sim.step(5)
    await _resynced_and_live(sim, runner)
    await sim.settle(runner)
    assert runner.adapter.unattributed_malformed == 1  # not JSON: no symbol to blame
    assert runner.states["ETHUSDT"].counters.gaps == 1
    assert runner.connects == 1 and runner.adapter_errors == 0


async def test_truncated_frame_is_attributed_to_its_symbol(live):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.TRUNCATED, venue, "BTCUSDT")
    await sim.step(5)
    await _resynced_and_live(sim, runner)
    await sim.settle(runner)
    c = runner.states["BTCUSDT"].counters
    assert (c.malformed, c.gaps, c.resyncs) == (1, 1, 1)
    assert runner.connects == 1


async def test_disconnect_reconnects_and_resyncs(live):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.DISCONNECT, venue)
    await sim.step_until(lambda: runner.connects == 2 and sim.live(runner), msg="reconnected and live")
    await sim.step(5)
    await sim.settle(runner)
    for sym in SYMS:
        c = runner.states[sym].counters
        assert c.reconnects == 1 and c.gaps == 0
    kinds = [e.kind for e in sim.events]
    assert FeedEventKind.DISCONNECT in kinds and FeedEventKind.RECONNECT in kinds


async def test_stall_goes_stale_then_live_without_loss(live, wait_until):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.STALL, venue, duration_s=0.8)
    await sim.step(3)  # held back by the stalled connection
    await wait_until(lambda: runner.states["BTCUSDT"].status is StreamStatus.STALE, 3, "stale")
    await sim.step(3)
    await sim.settle(runner)  # the held frames arrive: live again, nothing lost
    assert runner.connects == 1
    for sym in SYMS:
        assert runner.states[sym].counters.gaps == 0
    assert any(e.kind is FeedEventKind.STALE for e in sim.events)


@pytest.mark.parametrize("venue", VENUES)
async def test_long_silence_reconnects(sim_factory, venue):
    sim = await sim_factory({venue: SYMS})
    runner = sim.start_runner(venue, stale_after_s=0.15)
    await sim.step_until_live(runner)
    sim.faults.schedule(FaultKind.STALL, venue, duration_s=30)  # beyond 3 x stale_after_s
    await sim.step_until(lambda: runner.connects == 2 and sim.live(runner), msg="reconnected after silence")
    await sim.step(3)
    await sim.settle(runner)


async def test_server_shutdown_rolls_over_without_a_gap(live):
    venue, sim, runner = live
    sim.server.shutdown_grace_s = 3.0  # Binance gives minutes; the rollover must not need them all
    sim.faults.schedule(FaultKind.SERVER_SHUTDOWN, venue)
    await sim.step_until(lambda: runner.rollovers == 1, msg="rolled over")
    streams = [c for c in sim.server.conns(venue) if not c.control]
    await sim.step_until(lambda: len([c for c in sim.server.conns(venue) if not c.control]) == 1,
                         msg="the client closed the old connection itself")
    (survivor,) = [c for c in sim.server.conns(venue) if not c.control]
    assert survivor.id == max(c.id for c in streams)  # the new connection stayed, the old one went
    await sim.step(5)
    await sim.settle(runner)
    for sym in SYMS:
        c = runner.states[sym].counters
        assert (c.gaps, c.resyncs, c.reconnects) == (0, 0, 1)
    # Make-before-break: the books never left LIVE.
    bad = {FeedEventKind.STALE, FeedEventKind.RESYNC, FeedEventKind.DISCONNECT}
    assert not [e for e in sim.events if e.kind in bad]


async def test_sequence_reset_is_detected(live):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.RESET_SEQUENCE, venue, "BTCUSDT")
    await sim.step(25)
    await _resynced_and_live(sim, runner)
    await sim.settle(runner)
    c = runner.states["BTCUSDT"].counters
    assert (c.gaps, c.resyncs) == (1, 1)


async def test_checksum_fault_does_not_apply(live):
    venue, sim, runner = live
    sim.faults.schedule(FaultKind.CORRUPT_CHECKSUM, venue, "BTCUSDT")
    await sim.step(5)
    await sim.settle(runner)
    assert len(sim.faults.pending()) == 1  # Binance frames have no checksum to corrupt
    assert runner.states["BTCUSDT"].counters.gaps == 0


# ---- sans-I/O rules, no sockets ----------------------------------------------------------------
def _delta(sym, U, u, b=(), a=(), pu=None):
    ev = {"e": "depthUpdate", "E": 1, "s": sym, "U": U, "u": u, "b": [list(x) for x in b], "a": [list(x) for x in a]}
    if pu is not None:
        ev["pu"] = pu
    return orjson.dumps({"stream": sym.lower() + "@depth@100ms", "data": ev}).decode()


def _snap(rid, lid, bids, asks):
    result = {"lastUpdateId": lid, "bids": bids, "asks": asks}
    return orjson.dumps({"id": rid, "status": 200, "result": result}).decode()


def _adapter(venue, snapshot_url="ws://x/ws-api/v3"):
    from lcm_tui.config import default_venue
    from lcm_tui.venues.registry import adapter_class

    vc = default_venue(venue)
    vc.snapshot_url = snapshot_url
    vc.ws_url = "ws://x"
    return adapter_class(venue)(vc, ["BTCUSDT"])


def test_spot_bridge_rule_exact():
    a = _adapter("binance")
    a.on_open(0)
    acts = a.on_frame(_delta("BTCUSDT", 101, 103, b=[("10.00", "1")]), 1)
    assert len(acts) == 1 and isinstance(acts[0], FetchSnapshot) and '"symbol":"BTCUSDT"' in acts[0].request
    a.on_frame(_delta("BTCUSDT", 104, 105, a=[("11.00", "2")]), 2)
    rid = acts[0].request.split('"id":"')[1].split('"')[0]
    # lastUpdateId 103: the first event is dropped (u <= 103), the second straddles 104.
    a.on_frame(_snap(rid, 103, [["10.00", "5"]], [["12.00", "1"]]), 3)
    st = a.states["BTCUSDT"]
    assert st.status is StreamStatus.LIVE
    assert st.book.to_dict() == {"bids": [("10.00", "5")], "asks": [("11.00", "2"), ("12.00", "1")]}
    # U == book_id + 1 applies; a jump is a gap that asks for a new snapshot.
    assert a.on_frame(_delta("BTCUSDT", 106, 106, b=[("10.00", "0")]), 4) == []
    acts = a.on_frame(_delta("BTCUSDT", 108, 109), 5)
    assert st.counters.gaps == 1 and isinstance(acts[0], FetchSnapshot)
    assert st.status is StreamStatus.RESYNCING and st.book.is_empty()


def test_spot_snapshot_too_old_is_fetched_again():
    a = _adapter("binance")
    a.on_open(0)
    acts = a.on_frame(_delta("BTCUSDT", 200, 201), 1)
    rid = acts[0].request.split('"id":"')[1].split('"')[0]
    again = a.on_frame(_snap(rid, 198, [["1", "1"]], [["2", "1"]]), 2)  # 198 + 1 < 200
    assert len(again) == 1 and isinstance(again[0], FetchSnapshot)
    assert a.states["BTCUSDT"].status is not StreamStatus.LIVE


def test_usdm_pu_rule_and_rest_snapshot():
    a = _adapter("binance-usdm", snapshot_url="http://x/fapi/v1/depth")
    a.on_open(0)
    acts = a.on_frame(_delta("BTCUSDT", 90, 100, b=[("5.0", "1")], pu=80), 1)
    assert acts[0].url == "http://x/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    a.on_frame(_delta("BTCUSDT", 103, 110, b=[("5.1", "1")], pu=100), 2)
    # lastUpdateId 100: u < 100 dropped; the first kept needs U <= 100 <= u: the event 90..100.
    a.on_frame('{"lastUpdateId":100,"E":1,"T":1,"bids":[["5.0","3"]],"asks":[["6.0","1"]]}', 3)
    st = a.states["BTCUSDT"]
    assert st.status is StreamStatus.LIVE
    assert st.book.best_bid() == ("5.1", "1")
    assert a.on_frame(_delta("BTCUSDT", 115, 120, a=[("6.0", "2")], pu=110), 4) == []
    acts = a.on_frame(_delta("BTCUSDT", 125, 130, pu=121), 5)
    assert st.counters.gaps == 1 and isinstance(acts[0], FetchSnapshot)


def test_server_shutdown_asks_for_rollover_raw_and_combined():
    a = _adapter("binance")
    assert a.on_frame('{"e":"serverShutdown","E":1}', 0) == [Reconnect("serverShutdown", rollover=True)]
    assert a.on_frame('{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}', 0)[0].rollover


@pytest.mark.parametrize("junk", ["", "[]", "null", '{"stream":"x","data":3}', '{"e":"depthUpdate","s":"BTCUSDT"}',
                                  '{"e":"depthUpdate","s":"BTCUSDT","U":"1","u":2,"b":[],"a":[]}', b"\xff\xfe"])
def test_garbage_never_raises(junk):
    a = _adapter("binance")
    a.on_open(0)
    assert a.on_frame(junk, 0) == []
    assert a.unattributed_malformed + a.states["BTCUSDT"].counters.malformed == 1


def test_bad_level_after_sync_resyncs():
    a = _adapter("binance")
    a.on_open(0)
    acts = a.on_frame(_delta("BTCUSDT", 1, 1), 1)
    rid = acts[0].request.split('"id":"')[1].split('"')[0]
    a.on_frame(_snap(rid, 1, [["1", "1"]], [["2", "1"]]), 2)
    a.on_frame(_delta("BTCUSDT", 2, 2, b=[("nan", "1")]), 3)
    st = a.states["BTCUSDT"]
    assert st.counters.malformed == 1 and st.counters.resyncs == 1 and st.book.is_empty()


# ---- bad input, without a simulator (issue 10.8) ----------------------------------------------


def _spot(symbols=("BTCUSDT", "ETHUSDT")):
    from lcm_tui.config import VenueConfig
    from lcm_tui.venues.binance.adapter import BinanceAdapter

    a = BinanceAdapter(VenueConfig(name="binance", symbols=list(symbols), ws_url="wss://x",
                                   snapshot_url="wss://api/ws-api/v3"), list(symbols))
    a.on_open(0)
    for sym in symbols:
        a.on_frame(orjson.dumps({"stream": f"{sym.lower()}@depth@100ms", "data": {
            "e": "depthUpdate", "E": 1, "s": sym, "U": 5, "u": 6, "b": [["100", "1"]], "a": [["101", "1"]]}}), 1)
        a.on_snapshot(sym, orjson.dumps({"lastUpdateId": 5, "bids": [["99", "1"]], "asks": [["102", "1"]]}), 2)
        assert a.states[sym].status is StreamStatus.LIVE
    return a


@pytest.mark.parametrize("bad", [{}, [], ["100"], [100, "1"], ["100", {}], "x", None])
def test_a_level_that_is_not_a_list_of_strings_is_malformed_never_raised(bad) -> None:
    """Once a KeyError from ``{}`` escaped on_frame and the runner reconnected every symbol."""
    a = _spot()
    text = orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 2, "s": "BTCUSDT", "U": 7, "u": 7, "b": [bad], "a": []}})
    a.on_frame(text, 3)
    assert a.states["BTCUSDT"].counters.malformed == 1 and a.states["BTCUSDT"].status is StreamStatus.RESYNCING
    assert a.states["ETHUSDT"].status is StreamStatus.LIVE


@pytest.mark.parametrize("bad", [{}, ["99"], "x"])
def test_a_snapshot_with_a_bad_level_is_malformed_never_raised(bad) -> None:
    a = _spot(("BTCUSDT",))
    a.on_frame(orjson.dumps({"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 5, "u": 99, "b": [], "a": []}), 3)
    a.on_frame(orjson.dumps({"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 200, "u": 201, "b": [], "a": []}), 4)
    assert a.states["BTCUSDT"].counters.gaps == 1
    a.on_snapshot("BTCUSDT", orjson.dumps({"lastUpdateId": 200, "bids": [bad], "asks": []}), 5)
    assert a.states["BTCUSDT"].counters.malformed == 1 and a.states["BTCUSDT"].status is not StreamStatus.LIVE


def test_a_crossed_snapshot_is_never_published_live() -> None:
    a = _spot(("BTCUSDT",))
    a.on_frame(orjson.dumps({"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 50, "u": 51, "b": [], "a": []}), 3)
    st = a.states["BTCUSDT"]
    assert st.counters.gaps == 1
    a.on_frame(orjson.dumps({"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 52, "u": 53, "b": [], "a": []}), 4)
    a.on_snapshot("BTCUSDT", orjson.dumps({"lastUpdateId": 52, "bids": [["103", "1"]], "asks": [["102", "1"]]}), 5)
    assert st.status is not StreamStatus.LIVE and st.counters.crossed == 1


# ---- repeated resyncs back off (in memory) ------------------------------------------------------

@pytest.mark.parametrize("venue", VENUES)
def test_a_stream_no_snapshot_fits_backs_off_instead_of_a_snapshot_storm(venue: str) -> None:
    """Every BTC event's ids are far ahead of any snapshot (a venue bug): each snapshot is "older
    than the stream" and must be fetched again, which costs request weight (spot: 6000 per minute,
    250 for a 5000-level depth). The refetches follow the documented backoff instead of one per reply."""
    lb = InMemoryLoopback(venue, SYMS)
    lb.step(10)
    assert lb.all_match()
    bump = lambda m: f'"{m[1]}":{int(m[2]) + 10**9}'  # noqa: E731
    br.rewrite_stream(lb, "BTCUSDT", lambda f: re.sub(r'"(U|u|pu)":(\d+)', bump, f))
    fetched = lambda: sum(1 for a in lb.requests if a.symbol == "BTCUSDT")  # noqa: E731
    window = 120.0
    times, details = br.run(lb, window, None, "BTCUSDT", count=fetched)
    # The gap's own snapshot request acts at once; every refetch after it waits its turn.
    assert len(times) <= br.max_resubscribes(window)
    br.check_schedule(times, details, "snapshot older than the stream")
    eth = lb.adapter.states["ETHUSDT"]
    assert eth.status is StreamStatus.LIVE and eth.counters.resyncs == 0 and lb.book_matches("ETHUSDT")


def test_snapshot_requests_the_venue_keeps_refusing_back_off() -> None:
    """A WS-API answering every depth request with 429 (rate limited): asking again once a second
    would keep the limit hit until Binance bans the IP (418). The retries follow the backoff. (A
    REST 429 is an HTTP error, which the runner retries with its own backoff.)"""
    lb = InMemoryLoopback("binance", SYMS)
    inner = lb.sim.on_message

    def refuse(conn, text):  # type: ignore[no-untyped-def]
        if '"depth"' in text:
            rid = orjson.loads(text)["id"]
            refused = {"id": rid, "status": 429, "error": {"code": -1003, "msg": "Too many requests"}}
            return [orjson.dumps(refused).decode()]
        return inner(conn, text)

    lb.sim.on_message = refuse  # type: ignore[method-assign]
    window = 120.0
    fetched = lambda: sum(1 for a in lb.requests if a.symbol == "BTCUSDT")  # noqa: E731
    times, details = br.run(lb, window, None, "BTCUSDT", count=fetched)
    # The first request, its retry after a second, then one per backoff delay (once a second: ~120).
    assert 3 <= len(times) <= br.max_resubscribes(window) + 1
    assert any(re.match(r"snapshot request failed x\d+; retry in", d) for d in details)
    assert lb.adapter.states["BTCUSDT"].status is not StreamStatus.LIVE
