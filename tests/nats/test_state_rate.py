"""What a collector puts in the KV bucket and when, what a sample message carries, and how a viewer
completes a stream's KV state from its newest sample (no server: the outbox queue is read directly).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness import shard_settings

from lcm_tui.core.book import OrderBook
from lcm_tui.core.detector import STREAM_SIGNALS
from lcm_tui.core.model import Counters, MetricSample, StreamStatus, SymbolState
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.collector import Collector
from lcm_tui.runtime.bus.remote import RemoteMarketView
from lcm_tui.runtime.bus.subjects import Names
from lcm_tui.runtime.engine import Engine

N = 10


class NoServer:
    def jetstream(self) -> Any:
        return None


def _collector(state_interval_s: float = 5.0) -> tuple[Engine, Collector, list[SymbolState]]:
    s = shard_settings(["binance"], sample_s=1.0)
    clock = [1_000_000_000_000]
    eng = Engine(s, mode="live", clock=lambda: clock[0])
    states = []
    for i in range(N):
        book = OrderBook("binance", f"C{i}USDT")
        book.load_snapshot([["99", "1"], ["98", "2"]], [["101", "1"], ["102", "2"]])
        st = SymbolState("binance", f"C{i}USDT", book, StreamStatus.LIVE)
        eng.monitor.add(st)
        states.append(st)
    col = Collector(eng, NoServer(), Names("lcm"), "col-1", state_interval_s=state_interval_s)
    eng.monitor.add_listener(col)
    return eng, col, states


def _kv_puts(col: Collector) -> list[codec.StateMsg]:
    out = [codec.decode(it.payload, codec.StateMsg) for it in col.outbox.queue if it.subject.startswith("$KV.")]
    col.outbox.queue.clear()
    return out


def _tick(eng: Engine, col: Collector, t_s: int, states: list[SymbolState]) -> list[codec.StateMsg]:
    for st in states:  # frames arrive on every stream: only what the sample messages carry changes
        st.counters.frames += 3
        st.last_update_ns = t_s * 1_000_000_000 - 1
    t = t_s * 1_000_000_000
    eng.sample(t)
    col.tick(t)
    return _kv_puts(col)


def test_states_are_put_on_a_change_at_once_and_refreshed_a_share_per_tick() -> None:
    eng, col, states = _collector(state_interval_s=5.0)
    assert col.publish_states() == N and len(_kv_puts(col)) == N  # the first put: every stream
    refreshed: list[str] = []
    for t in range(1, 6):
        puts = _tick(eng, col, t, states)
        assert len(puts) == N // 5  # 1 s ticks, 5 s refresh: a fifth of the streams each tick
        refreshed += [p.symbol for p in puts]
    assert sorted(refreshed) == sorted(st.symbol for st in states)  # each once in 5 ticks
    # A status change is put on the next tick, whatever the refresh order; so is an error counter.
    states[7].status = StreamStatus.RESYNCING
    states[8].counters = dataclasses.replace(states[8].counters, gaps=1)
    puts = _tick(eng, col, 6, states)
    got = {p.symbol: p for p in puts}
    assert {"C7USDT", "C8USDT"} <= set(got) and len(puts) <= 2 + N // 5
    assert got["C7USDT"].status is StreamStatus.RESYNCING and got["C8USDT"].counters.gaps == 1
    # Everything put (as on close), then nothing changes: nothing is put, refresh or not.
    col.publish_states(refresh_all=True)
    _kv_puts(col)
    for _ in range(5):
        col.tick(6_000_000_000)
    assert _kv_puts(col) == []
    # Closing puts every stream that changed since its last put, so nothing stays behind.
    during = {p.symbol for p in _tick(eng, col, 7, states)}
    col.publish_states(refresh_all=True)
    rest = {p.symbol for p in _kv_puts(col)}
    assert len(during) == N // 5 and not during & rest and len(during | rest) == N


def test_every_tick_when_the_interval_is_the_sample_clock() -> None:
    eng, col, states = _collector(state_interval_s=1.0)
    col.publish_states()
    _kv_puts(col)
    assert len(_tick(eng, col, 1, states)) == N


def test_a_sample_message_is_the_sample_plus_the_tick_of_its_stream() -> None:
    eng, col, states = _collector()
    col.outbox.queue.clear()
    eng.sample(1_000_000_000)
    msgs = [it for it in col.outbox.queue if ".sample." in it.subject]
    assert len(msgs) == N
    st = states[0]
    data = next(it.payload for it in msgs if it.subject.endswith(".C0USDT"))
    # The recorder reads a MetricSample and nothing else...
    assert codec.decode(data, MetricSample) == eng.monitor.latest[st.key]
    # ...a viewer the collector's fields of the same tick too.
    tick = codec.decode(data, codec.SampleTick)
    d = eng.monitor.detectors[st.key]
    assert [(g.name, g.z, g.warm) for g in tick.signals] == [(n, d.z[n], d.z[n] is not None) for n in STREAM_SIGNALS]
    assert (tick.frames, tick.last_update_ns) == (st.counters.frames, st.last_update_ns)
    # The top levels of the book the sample was computed from, as the book holds them.
    assert tick.bids == [(1.0, "99", "1"), (2.0, "98", "2")] and tick.asks == [(1.0, "101", "1"), (2.0, "102", "2")]
    # Never more than book_levels a side, and a one-level side is a list of one level too.
    col.book_levels = 1
    col.outbox.queue.clear()
    eng.sample(2_000_000_000)
    tick = codec.decode(next(it.payload for it in col.outbox.queue if it.subject.endswith(".C0USDT")),
                        codec.SampleTick)
    assert tick.bids == [(1.0, "99", "1")] and tick.asks == [(1.0, "101", "1")]


def test_merge_maps_keeps_every_entry_of_both() -> None:
    import msgspec

    for na in (0, 14, 15, 16):  # fixmaps (up to 15 entries) and a map 16
        a = msgspec.msgpack.encode({f"a{i}": i for i in range(na)})
        for nb in (0, 1, 5, 15, 70_000):
            b = msgspec.msgpack.encode({f"b{i}": i for i in range(nb)})
            assert msgspec.msgpack.decode(codec.merge_maps(a, b)) == {**msgspec.msgpack.decode(a),
                                                                      **msgspec.msgpack.decode(b)}


def _sample(ts: int, spread: float) -> MetricSample:
    return MetricSample("okx", "BTC-USDT", ts, "100", "101", 100.5, spread, {10: 5.0}, {10: 6.0}, {10: -0.09})


def _state(sample: MetricSample | None, frames: int, status: StreamStatus = StreamStatus.LIVE) -> bytes:
    return codec.encode(codec.StateMsg("okx", "BTC-USDT", "col-1", 5, status, "", Counters(frames=frames, gaps=2),
                                       7, sample, [codec.SignalMsg("spread", 0.5, True)], [("100", "1")],
                                       [("101", "1")]))


def _sample_msg(ts: int, spread: float, z: float, frames: int,
                levels: tuple[list[codec.HeldLevel], list[codec.HeldLevel]] | None = None) -> bytes:
    bids, asks = levels if levels is not None else (None, None)
    return codec.encode_sample(_sample(ts, spread), codec.SampleTick([codec.SignalMsg("spread", z, True)], frames,
                                                                     ts - 1, bids, asks))


def test_a_viewer_completes_the_kv_state_with_the_newer_sample() -> None:
    view = RemoteMarketView(shard_settings(["okx"]), NoServer(), Names("lcm"), clock=lambda: 0.0)
    view.heartbeats = {"col-1": 0.0}
    key = ("okx", "BTC-USDT")
    # A sample before its stream's state: held, shown once the state is in.
    view.on_sample_data(_sample_msg(20, 2.0, 1.25, 40))
    assert view.stream(*key) is None
    view._on_state(_state(_sample(10, 1.0), 30))
    sv = view.stream(*key)
    assert sv is not None and sv.counters.frames == 40 and sv.counters.gaps == 2 and sv.last_update_ns == 19
    assert view.latest(*key) == _sample(20, 2.0)
    assert [(s.name, s.z) for s in view.signals(*key)] == [("spread", 1.25)]
    # An older (or repeated) sample message changes nothing.
    view.on_sample_data(_sample_msg(15, 9.0, 9.0, 35))
    view.on_sample_data(_sample_msg(20, 9.0, 9.0, 35))
    assert view.latest(*key) == _sample(20, 2.0) and view.stream(*key).counters.frames == 40  # type: ignore[union-attr]
    # A newer sample wins; the KV state's status and error counters stay, and so do its levels when the
    # sample message has none (an older collector).
    view.on_sample_data(_sample_msg(30, 3.0, -0.5, 50))
    assert view.latest(*key) == _sample(30, 3.0)
    snap = view.snapshot(*key, 5)
    assert snap is not None and (snap.ts_ns, snap.bids, snap.asks) == (5, [("100", "1")], [("101", "1")])
    # A newer sample with levels: those are the stream's levels, as of the sample.
    view.on_sample_data(_sample_msg(35, 3.0, -0.5, 55, ([(2.0, "100.5", "2"), (1.0, "100", "1")],
                                                          [(3.0, "100.9", "3")])))
    snap = view.snapshot(*key, 5)
    assert snap is not None and snap.ts_ns == 35
    assert (snap.bids, snap.asks) == ([("100.5", "2"), ("100", "1")], [("100.9", "3")])
    assert view._symbol_states("BTC")[0].book.bids.top(5) == [("100.5", "2"), ("100", "1")]
    # A newer KV state (a status change with the latest sample) wins over an older sample.
    view._on_state(_state(_sample(40, 4.0), 60, StreamStatus.STALE))
    sv = view.stream(*key)
    assert sv is not None and sv.status is StreamStatus.STALE and sv.counters.frames == 60
    assert view.latest(*key) == _sample(40, 4.0)
    assert view.snapshot(*key, 5).bids == [("100", "1")]  # type: ignore[union-attr]
    # One history point per sample time, whichever message brought it.
    assert view.signals(*key)[0].history == [1.25, -0.5, -0.5, 0.5]
