"""StreamRunner over loopback: backoff while the venue is down, adapter crashes, rollover, pings, hub."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from lcm_tui.config import Settings, default_venue
from lcm_tui.core.model import FeedEventKind, StreamStatus
from lcm_tui.runtime.http import http_get
from lcm_tui.runtime.hub import FeedHub
from lcm_tui.runtime.runner import ConnectPacer, SnapshotBudget, StreamRunner, split_symbols, venue_limits
from lcm_tui.runtime.sim.demo import start_demo
from lcm_tui.runtime.sim.server import SimServer
from lcm_tui.venues.base import FetchSnapshot
from lcm_tui.venues.binance.adapter import BinanceAdapter
from lcm_tui.venues.registry import adapter_class
from tests.feeds.hostile import HostileVenue


def test_backoff_grows_with_failures_and_stays_in_bounds(fast_feeds):
    vc = default_venue("binance")
    r = StreamRunner(lambda: BinanceAdapter(vc, ["BTCUSDT"]), fast_feeds(reconnect_min_s=0.5, reconnect_max_s=30),
                     seed=3)
    means = []
    for attempts in range(10):
        r.attempts = attempts
        delays = [r.backoff() for _ in range(200)]
        assert all(0.5 <= d <= 30 for d in delays)
        means.append(sum(delays) / len(delays))
        assert len(set(delays)) > 1  # jittered, so clients do not reconnect in lockstep
    assert means[:6] == sorted(means[:6]) and means[0] < 1  # doubling until the cap...
    assert all(15 < m <= 30 for m in means[6:])  # ...then jittered below reconnect_max_s


async def test_down_while_unreachable_then_live_when_the_venue_returns(fast_feeds, wait_until):
    server = await SimServer({"binance": ["BTCUSDT"]}, ping_interval_s=None).start()
    port = server.port
    settings = server.configure(Settings())
    await server.close()  # nothing listens on the port now
    vc = settings.venues["binance"]
    events = []
    runner = StreamRunner(lambda: BinanceAdapter(vc, vc.symbols, events.append), fast_feeds(), seed=1)
    task = asyncio.create_task(runner.run())
    server = None
    try:
        await wait_until(lambda: runner.attempts >= 3, 5, "three failed attempts")
        st = runner.states["BTCUSDT"]
        assert st.status is StreamStatus.DOWN
        assert sum(e.kind is FeedEventKind.DISCONNECT for e in events) == 1  # once per outage, not per attempt
        assert runner.connects == 0
        server = await SimServer({"binance": ["BTCUSDT"]}, port=port, ping_interval_s=None).start()

        async with _market_moving(server, 0.01):
            await wait_until(lambda: st.status is StreamStatus.LIVE, 5, "live after the venue came back")
        assert runner.attempts == 0 or runner.connects == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if server is not None:
            await server.close()


class _Buggy(BinanceAdapter):
    """Raises once, on its 10th frame: the runner must survive with a fresh adapter."""

    seen = 0

    def on_frame(self, text, t_ns):
        type(self).seen += 1
        if type(self).seen == 10:
            raise RuntimeError("adapter bug")
        return super().on_frame(text, t_ns)


async def test_adapter_exception_costs_one_reconnect_not_the_process(sim_factory, fast_feeds):
    sim = await sim_factory({"binance": ["BTCUSDT", "ETHUSDT"]})
    vc = sim.settings.venues["binance"]
    runner = StreamRunner(lambda: _Buggy(vc, vc.symbols, sim.events.append), fast_feeds(), seed=1)
    sim.runners.append(runner)
    sim.tasks.append(asyncio.create_task(runner.run()))
    await sim.step_until(lambda: runner.adapter_errors == 1 and runner.connects == 2 and sim.live(runner),
                         msg="recovered from the adapter bug")
    await sim.step(5)
    await sim.settle(runner)
    assert all(st.counters.reconnects == 1 for st in runner.states.values())


async def test_rollover_by_age_is_make_before_break(sim_factory):
    sim = await sim_factory({"binance-usdm": ["BTCUSDT"]})
    runner = sim.start_runner("binance-usdm", rollover_s=0.3)
    await sim.step_until_live(runner)
    await sim.step_until(lambda: runner.rollovers >= 2, msg="two rollovers")
    await sim.step(3)
    await sim.settle(runner)
    c = runner.states["BTCUSDT"].counters
    assert c.gaps == 0 and c.resyncs == 0 and c.reconnects >= 2
    assert not [e for e in sim.events if e.kind in (FeedEventKind.STALE, FeedEventKind.DISCONNECT)]


async def test_protocol_pings_are_answered(sim_factory, wait_until):
    sim = await sim_factory({"binance": ["BTCUSDT"]}, ping_interval_s=0.05, ping_timeout_s=1.0)
    runner = sim.start_runner("binance")
    await sim.step_until_live(runner)
    await wait_until(lambda: all(lat > 0 for lat in sim.server.latencies("binance")), 3, "pongs received")
    assert runner.connects == 1


async def test_hub_runs_every_simulated_venue_to_live(fast_feeds, wait_until):
    settings = Settings()
    settings.feeds = fast_feeds()
    async with start_demo(settings, step_interval_s=0.02, fault_rate=0.0) as demo:
        hub = FeedHub(demo, None)
        assert {r.venue for r in hub.runners} == set(demo.venues) - set(hub.unavailable)
        task = asyncio.create_task(hub.run())
        try:
            await wait_until(lambda: all(st.status is StreamStatus.LIVE for st in hub.states()), 10, "all live")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert len(hub.states()) == 2 * len(hub.runners)


async def test_http_get_reads_length_chunked_and_close_delimited_bodies(sim_factory):
    sim = await sim_factory({"binance-usdm": ["BTCUSDT"]})
    url = sim.settings.venues["binance-usdm"].snapshot_url
    status, body = await http_get(f"{url}?symbol=BTCUSDT&limit=5")
    best = sim.server.sims["binance-usdm"].books["BTCUSDT"].best_bid()
    assert status == 200 and json.loads(body)["bids"][0] == list(best)
    status, _ = await http_get(f"{url}?symbol=NOPE")
    assert status == 400
    replies = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
               b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nslow down"]

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(replies.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert await http_get(f"http://127.0.0.1:{port}/x") == (200, '{"a":1}')
        assert await http_get(f"http://127.0.0.1:{port}/x") == (503, "slow down")


def test_ws_api_error_reply_is_retried_by_keepalive():
    vc = default_venue("binance")
    a = BinanceAdapter(vc, ["BTCUSDT"])
    a.on_open(0)
    (fetch,) = a.on_frame('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":6,"b":[],"a":[]}', 0)
    rid = json.loads(fetch.request)["id"]
    err = json.dumps({"id": rid, "status": 429, "error": {"code": -1003, "msg": "Too many requests."}})
    assert a.on_frame(err, 10) == []
    assert a.states["BTCUSDT"].counters.malformed == 1
    assert a.keepalive(500_000_000) == []  # not before the retry delay
    (again,) = a.keepalive(1_000_000_010)
    assert isinstance(again, FetchSnapshot) and again.symbol == "BTCUSDT"


async def test_a_symbol_the_venue_never_serves_does_not_block_a_rollover(sim_factory, wait_until):
    sim = await sim_factory({"binance": ["BTCUSDT"]})
    sim.settings.venues["binance"].symbols.append("NOPEUSDT")  # a typo in the config
    runner = sim.start_runner("binance")
    btc = runner.states["BTCUSDT"]
    await sim.step_until(lambda: btc.status is StreamStatus.LIVE, msg="BTCUSDT live")
    sim.server.shutdown_grace_s = 5.0
    sim.faults.schedule("server_shutdown", "binance")
    await sim.step_until(lambda: runner.rollovers == 1, msg="rolled over without NOPEUSDT")
    await sim.step(3)
    true_book = sim.server.sims["binance"].true_book("BTCUSDT")
    await wait_until(lambda: btc.book.to_dict() == true_book.to_dict(), 5, "BTCUSDT book matches")
    assert btc.status is StreamStatus.LIVE and btc.counters.gaps == 0
    assert runner.states["NOPEUSDT"].status is not StreamStatus.LIVE


# ---------------------------------------------------------------------------------------- reasons
async def _hostile_runner(venue, fast_feeds, **feeds):
    vc = default_venue("bybit-spot")
    vc.ws_url = venue.url
    vc.symbols = ["BTCUSDT"]
    cls = adapter_class("bybit-spot")
    runner = StreamRunner(lambda: cls(vc, ["BTCUSDT"]), fast_feeds(**feeds), seed=2)
    return runner, asyncio.create_task(runner.run())


@contextlib.asynccontextmanager
async def _market_moving(server: SimServer, every_s: float) -> AsyncIterator[None]:
    """The simulated market steps every ``every_s`` while the block runs (deltas are what trigger syncing)."""

    async def stepping() -> None:
        while True:
            await server.step()
            await asyncio.sleep(every_s)

    mover = asyncio.create_task(stepping())
    try:
        yield
    finally:
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover


async def _stop(task):
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(("misbehave", "reason", "feeds"), [
    ("status:414", "handshake refused: HTTP 414", {}),
    ("status:429", "handshake refused: HTTP 429 Too Many Requests (Retry-After 30)", {}),
    ("silent", "opening handshake timed out after 0.3s", {}),
    ("big:2000000", "frame over max_frame_bytes (1000000 bytes)", {"max_frame_bytes": 1_000_000}),
    ("bad_utf8", "invalid UTF-8 in a text frame", {}),
    ("no_pong", "no pong within 0.2s", {"ping_interval_s": 0.2}),
])
async def test_why_a_stream_is_down_is_shown_and_logged_once(misbehave, reason, feeds, fast_feeds, wait_until,
                                                             caplog, monkeypatch):
    monkeypatch.setattr(StreamRunner, "open_timeout_s", 0.3)
    venue = await HostileVenue(misbehave).start()
    runner, task = await _hostile_runner(venue, fast_feeds, **feeds)
    st = runner.states["BTCUSDT"]
    try:
        with caplog.at_level(logging.WARNING, logger="lcm_tui.runtime.runner"):
            await wait_until(lambda: venue.connections >= 3 and reason in st.status_detail, 10,
                             f"{reason!r} in the status ({st.status_detail!r})")
            assert st.status is not StreamStatus.LIVE
            said = [m for r in caplog.records if reason in (m := r.getMessage()) and "live again" not in m]
            assert len(said) == 1, said  # once per change, not once per retry
            venue.behave()
            await wait_until(lambda: st.status is StreamStatus.LIVE, 10, "live once the venue behaves")
            assert any("live again" in r.getMessage() for r in caplog.records)
        assert runner.reason == ""
        assert [tuple(lv) for lv in st.book.bids] == [("100.5", "2")]  # the venue's fresh snapshot
    finally:
        await _stop(task)
        await venue.close()


async def test_connection_refused_and_dns_failure_are_named(fast_feeds, wait_until, monkeypatch):
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    vc = default_venue("bybit-spot")
    vc.ws_url = f"ws://127.0.0.1:{port}/v5/public/spot"
    cls = adapter_class("bybit-spot")
    runner = StreamRunner(lambda: cls(vc, ["BTCUSDT"]), fast_feeds(), seed=2)
    task = asyncio.create_task(runner.run())
    st = runner.states["BTCUSDT"]
    try:
        await wait_until(lambda: st.status_detail == "connection refused", 5, "refused")
        assert st.status is StreamStatus.DOWN
        # A name that does not resolve: the resolver's own error (no lookup leaves the machine).
        loop = asyncio.get_running_loop()

        async def no_such_name(*a, **kw):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(loop, "getaddrinfo", no_such_name)
        vc.ws_url = "ws://stream.venue.invalid/v5/public/spot"
        await wait_until(lambda: st.status_detail == "DNS lookup failed", 5, "DNS")
    finally:
        await _stop(task)


# ---------------------------------------------------------------------------------------- limits
def test_binance_symbols_are_cut_to_urls_the_venue_accepts():
    vc = default_venue("binance")
    vc.symbols = [f"C{i:03d}USDT" for i in range(400)]
    # One URL for all 400 would be ~8.4 KB: Binance answers that with HTTP 414.
    assert len(BinanceAdapter(vc, vc.symbols).url()) > 8000
    chunks = split_symbols(BinanceAdapter, vc)
    assert [s for c in chunks for s in c] == vc.symbols  # every symbol once, in order
    assert all(len(BinanceAdapter(vc, c).url()) <= 4096 for c in chunks)
    assert all(len(c) <= 1024 for c in chunks)  # streams per connection (docs/protocols.md)


def test_okx_gets_fewer_than_30_book_channels_per_connection():
    from lcm_tui.venues.okx.adapter import OkxAdapter

    vc = default_venue("okx")
    vc.symbols = [f"C{i}-USDT" for i in range(100)]
    chunks = split_symbols(OkxAdapter, vc)
    assert [s for c in chunks for s in c] == vc.symbols
    assert all(len(c) < 30 for c in chunks)  # OKX: fewer than 30 (docs/protocols.md)
    assert len(chunks) == 4


def test_connect_pacer_spaces_attempts_to_the_venue_rate():
    pacer = ConnectPacer(per_s=2.5)  # OKX allows 3 connection requests per second: kept below
    assert [round(pacer.delay(100.0), 9) for _ in range(4)] == [0.0, 0.4, 0.8, 1.2]  # a burst is spread out
    assert pacer.delay(200.0) == 0.0  # a lone reconnect long after never waits
    assert ConnectPacer.for_venue("okx").interval > 1 / 3


def test_snapshot_budget_follows_binance_request_weight():
    budget = SnapshotBudget.for_venue("binance")
    assert budget is not None and SnapshotBudget.for_venue("kraken") is None
    weigh = venue_limits("binance").snapshot_weight
    assert weigh is not None and [weigh(n) for n in (100, 500, 1000, 5000)] == [5, 25, 50, 250]  # Binance's table
    # 400 snapshots of 5000 levels asked at once: a burst goes now, the rest is spread so that no
    # 60 s window, wherever it starts, spends more than Binance's 6000 weight a minute.
    waits = [budget.delay(0.0, weigh(5000)) for _ in range(400)]
    assert sum(w == 0 for w in waits) >= 1
    assert all(b >= a for a, b in itertools.pairwise(waits))  # first asked, first served
    for t in waits:
        assert sum(1 for u in waits if t <= u < t + 60.0) * 250 <= 6000
    assert waits[-1] < 3600  # and all of them within the hour


async def test_400_binance_symbols_reach_live_through_the_hub(fast_feeds, wait_until):
    symbols = [f"C{i:03d}USDT" for i in range(400)]
    server = await SimServer({"binance": symbols}, ping_interval_s=None).start()
    settings = server.configure(Settings())
    settings.feeds = fast_feeds(stale_after_s=30.0)
    # depth 100: weight 5 a snapshot, 2,000 for all 400, within one minute's budget (at 5,000 levels
    # Binance allows ~24 snapshots a minute: test_snapshot_budget_follows_binance_request_weight).
    settings.venues["binance"].depth = 100
    # All 400 on one connection (what the hub did before): the server refuses the 8 KB URL for good.
    vc = settings.venues["binance"]
    one = StreamRunner(lambda: BinanceAdapter(vc, symbols), settings.feeds, seed=1)
    single = asyncio.create_task(one.run())
    try:
        await wait_until(lambda: one.attempts >= 2, 10, "two refused attempts")
        assert "HTTP 414" in one.states["C000USDT"].status_detail
    finally:
        await _stop(single)
    hub = FeedHub(settings, None)
    assert len(hub.runners) > 1 and not hub.unavailable
    task = asyncio.create_task(hub.run())

    t0 = asyncio.get_running_loop().time()
    try:
        async with _market_moving(server, 0.25):
            await wait_until(lambda: all(st.status is StreamStatus.LIVE for st in hub.states()), 90, "400 symbols live")
        print(f"400 symbols live after {asyncio.get_running_loop().time() - t0:.1f}s on {len(hub.runners)} connections")
        assert len(hub.states()) == 400
        # Snapshots went over a few reused WS-API connections, not one handshake per symbol.
        assert len(hub.runners) <= server.connections <= len(hub.runners) * (1 + StreamRunner.fetch_concurrency)
    finally:
        await _stop(task)
        await server.close()


async def test_60_okx_symbols_are_spread_over_connections_of_fewer_than_30_channels(fast_feeds, wait_until):
    symbols = [f"C{i:02d}-USDT" for i in range(60)]
    server = await SimServer({"okx": symbols}, ping_interval_s=None).start()
    settings = server.configure(Settings())
    settings.feeds = fast_feeds(stale_after_s=30.0)
    hub = FeedHub(settings, None)
    task = asyncio.create_task(hub.run())

    try:
        async with _market_moving(server, 0.1):
            await wait_until(lambda: all(st.status is StreamStatus.LIVE for st in hub.states()), 60, "60 symbols live")
        streams = [c for c in server.conns("okx") if c.subs]
        assert len(streams) == 3
        assert sorted(s for c in streams for s in c.subs) == sorted(symbols)
        assert all(len(c.subs) < 30 for c in streams)  # OKX: fewer than 30 (docs/protocols.md)
    finally:
        await _stop(task)
        await server.close()


def test_headless_json_says_why_a_venue_is_down(tmp_path):
    """End to end: the reason reaches the JSON output's ``reason`` (and stderr once, at WARNING)."""
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    cfg = tmp_path / "c.yaml"
    cfg.write_text("exchanges:\n"
                   f"  binance:\n    symbols: [BTCUSDT]\n    ws_url: ws://127.0.0.1:{port}\n"
                   "  binance-usdm: {enabled: false}\n  bybit-spot: {enabled: false}\n"
                   "  okx: {enabled: false}\n  kraken: {enabled: false}\n  coinbase: {enabled: false}\n"
                   "feeds:\n  reconnect_min_s: 0.05\n  reconnect_max_s: 0.2\n"
                   "metrics:\n  sample_interval_s: 0.2\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "lcm_tui", "--headless", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        for line in proc.stdout:  # type: ignore[union-attr]
            obj = json.loads(line)
            if obj.get("venue") == "binance" and obj.get("reason"):
                break
        assert obj["status"] == "down" and obj["reason"] == "connection refused", line
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    said = [ln for ln in err.splitlines() if "connection refused" in ln]
    assert len(said) == 1 and "WARNING" in said[0], err[-500:]
