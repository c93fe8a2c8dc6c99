"""Collectors on shards of the simulator and viewers, against the real NATS JetStream server."""

from __future__ import annotations

import asyncio
import time

from harness import RunningCollector, running, shard_settings
from natsenv import wait_for

from lcm_tui.core.detector import STREAM_SIGNALS
from lcm_tui.core.model import MetricSample, StreamStatus
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.run import open_remote
from lcm_tui.runtime.bus.subjects import Names

SHARD_A = ["binance", "coinbase"]
SHARD_B = ["kraken", "bybit-spot"]


async def test_two_shards_one_viewer_sees_what_the_collectors_hold_and_down_within_5s(bus: NatsOptions) -> None:
    a = RunningCollector(shard_settings(SHARD_A), bus, "col-a")
    b = RunningCollector(shard_settings(SHARD_B, seed=8), bus, "col-b")
    async with running(a) as ca, running(b) as cb:
        keys_a, keys_b = set(ca.monitor.states), set(cb.monitor.states)
        assert {v for v, _ in keys_a} == set(SHARD_A) and {v for v, _ in keys_b} == set(SHARD_B)
        await wait_for(lambda: len(ca.monitor.latest) == len(keys_a) and len(cb.monitor.latest) == len(keys_b), 20)
        async with open_remote(shard_settings(SHARD_A + SHARD_B), bus) as view:
            # Complete at once from the KV bucket: every stream of both shards, nothing else.
            assert {sv.key for sv in view.streams()} == keys_a | keys_b
            await wait_for(lambda: all(sv.status is StreamStatus.LIVE for sv in view.streams()), 10)
            # The viewer's latest sample of a stream is the collector's own, field for field, once they meet.
            key = sorted(keys_b)[0]

            def same() -> bool:
                mine, theirs = view.latest(*key), cb.monitor.latest.get(key)
                return mine is not None and theirs is not None and mine == theirs
            await wait_for(same, 10)
            # The consolidated book of BTC spans both shards (computed by the viewer from both).
            view.sample(time.time_ns())
            c = view.consolidated("BTC")
            assert c is not None
            venues = {s.venue for s in c.sources}
            assert venues & set(SHARD_A) and venues & set(SHARD_B)

            # Kill collector A: its streams are DOWN within 5 s, B's stay LIVE.
            await a.halt()
            t0 = time.monotonic()
            await wait_for(lambda: all(view.stream(*k).status is StreamStatus.DOWN for k in keys_a), 5.0)  # type: ignore[union-attr]
            assert time.monotonic() - t0 < 5.0
            assert "col-a" in view.stream(*sorted(keys_a)[0]).detail  # type: ignore[union-attr]
            assert all(view.stream(*k).status is StreamStatus.LIVE for k in keys_b)  # type: ignore[union-attr]
            # Back when it restarts.
            await a.start()
            await wait_for(lambda: all(view.stream(*k).status is StreamStatus.LIVE for k in keys_a), 20)


async def test_a_viewer_is_complete_at_once_from_the_last_sample_of_every_stream(bus: NatsOptions) -> None:
    venues = ["okx", "kraken"]
    rc = RunningCollector(shard_settings(venues), bus, "col-tick")
    async with running(rc) as col:
        col.state_interval_s = 3600.0  # KV states now only on a status, detail or error-counter change
        keys = set(col.monitor.states)
        await wait_for(lambda: len(col.monitor.latest) == len(keys), 20)
        n0 = col.samples_published
        await wait_for(lambda: col.samples_published >= n0 + 3 * len(keys), 20)
        await col.outbox.drain(5)
        before = {k: col.monitor.latest[k].ts_ns for k in keys}
        async with open_remote(shard_settings(venues), bus) as view:
            # Nothing awaited since the viewer started: what it shows came with its attach...
            for k in keys:
                s, sv, kv = view.latest(*k), view.stream(*k), view._kv[k]
                assert s is not None and sv is not None
                assert s.ts_ns >= before[k]
                assert sv.counters.frames >= kv.counters.frames and sv.last_update_ns >= kv.last_update_ns
                assert [g.name for g in view.signals(*k)] == list(STREAM_SIGNALS)
                # ...though the KV bucket holds an older sample: the samples stream completed the state,
                # top levels included (those of the sample's own instant).
                assert kv.sample is None or kv.sample.ts_ns < before[k]
                snap = view.snapshot(*k, col.book_levels)
                assert snap is not None and snap.ts_ns == s.ts_ns and snap.bids and snap.asks
                assert snap.bids[0][0] == s.best_bid and snap.asks[0][0] == s.best_ask


async def test_a_late_consumer_catches_up_on_every_sample(bus: NatsOptions) -> None:
    rc = RunningCollector(shard_settings(["okx"]), bus, "col-late")
    async with running(rc) as col:
        await wait_for(lambda: col.samples_published >= 10, 20)
    published = col.samples_published
    assert col.outbox.sent >= published and not col.outbox.queue
    # A consumer that starts after the collector stopped still reads every sample, in order per stream.
    nc = await connect(bus, name="late")
    try:
        js = nc.jetstream()
        names = Names(bus.prefix)
        info = await js.stream_info(names.stream("sample"))
        assert info.state.messages == published
        sub = await js.subscribe(names.all("sample"), ordered_consumer=True, stream=names.stream("sample"))
        seen: dict[tuple[str, str], list[int]] = {}
        for _ in range(published):
            m = await sub.next_msg(timeout=5)
            s = codec.decode(m.data, MetricSample)
            seen.setdefault((s.venue, s.symbol), []).append(s.ts_ns)
        assert sum(len(v) for v in seen.values()) == published
        for ts in seen.values():
            assert ts == sorted(ts) and len(set(ts)) == len(ts)
    finally:
        await nc.close()


async def test_book_views_are_sent_only_while_someone_watches(bus: NatsOptions) -> None:
    rc = RunningCollector(shard_settings(["binance"]), bus, "col-watch")
    async with running(rc) as col, open_remote(shard_settings(["binance"]), bus) as view:
        await wait_for(lambda: len(view.states) == 2, 10)
        await asyncio.sleep(1.0)  # ten UI frames at the default 10 fps
        assert col.books_published == 0 and not view.books  # nobody watches: no book traffic
        view.watch("binance", "ETHUSDT", depth=7)
        await wait_for(lambda: ("binance", "ETHUSDT") in view.books, 5)
        assert set(view.books) == {("binance", "ETHUSDT")}
        snap = view.snapshot("binance", "ETHUSDT", 7)
        assert snap is not None and len(snap.bids) == 7 and len(snap.asks) == 7
        # Metrics of the same instant as the levels drawn: the sample's best prices are the book's top.
        assert snap.metrics is not None
        assert (snap.metrics.best_bid, snap.metrics.best_ask) == (snap.bids[0][0], snap.asks[0][0])


async def test_a_viewer_started_before_any_collector_fills_in_when_one_starts(bus: NatsOptions) -> None:
    settings = shard_settings(["coinbase"])
    async with open_remote(settings, bus, wait_s=1.0) as view:
        assert view.streams() == [] and view.alerts() == [] and view.consolidated("BTC") is None
        async with running(RunningCollector(settings, bus, "col-late-view")) as col:
            await wait_for(lambda: {sv.key for sv in view.streams()} == set(col.monitor.states), 20)
            await wait_for(lambda: all(sv.status is StreamStatus.LIVE for sv in view.streams()), 20)
        # The events stream was subscribed once it existed: the feeds' closing events reach the viewer.
        await wait_for(lambda: any(ev.venue == "coinbase" for ev in view.events()), 20)
