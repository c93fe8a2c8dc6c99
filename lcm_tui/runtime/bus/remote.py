"""A :class:`~lcm_tui.core.view.MarketView` fed by collectors over NATS: the same frontends, any number of machines.

A viewer reads:

* the KV bucket of stream states (``watchall``: every current value first, then each change) and the
  samples stream from the last sample of every stream on (an ordered consumer delivering the last
  message per subject first), so it is complete as soon as it attaches, whatever it missed. The KV
  state holds what changes seldom (status, detail, error counters: put at once when one changes, else
  refreshed every few seconds); each sample message carries what changes every tick (the sample, z
  per signal, frames, last update and the top levels of the book the sample was computed from), and
  the newer of the two wins field by field (:meth:`_merge`), so the levels beside a sample are those
  of that sample, never a few seconds older (the KV state's levels are the fallback until a stream's
  first sample message is in);
* the collectors' heartbeats: a stream whose collector has been silent for ``down_after_s`` (3 s by
  default, three missed heartbeats) is shown DOWN with the reason, well inside 5 s, and comes back
  with the collector's next state;
* every alert of the alerts stream (an ordered consumer from its start, so escalations and closes
  apply in order; each message is also one ``alert_changes`` entry, so ``attach`` prints the lines
  the collector's own ``--headless`` prints) and the recent feed events;
* the top-N book view of the streams it shows, which the collectors send only while this viewer
  renews a watch lease (:meth:`watch`).

Across shards the viewer runs the core itself: ``consolidated`` is computed by
``core.consolidated.consolidate`` over books rebuilt from each stream's top levels (those of its
newest sample message, so they agree with the sample shown beside them), and the market-wide detector
(``MarketCrunchDetector``) runs on the viewer's sample clock over every shard's z-scores; the
collectors' own per-shard market alerts are left out so none shows twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec

from lcm_tui.config import Settings
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import ConsolidatedMetrics, HasZ, MarketCrunchDetector, consolidate
from lcm_tui.core.consolidated.types import MARKET_VENUE
from lcm_tui.core.model import (
    Alert,
    AlertAction,
    AlertChange,
    Counters,
    FeedEvent,
    MetricSample,
    StreamStatus,
    SymbolState,
)
from lcm_tui.core.monitor import AlertLog
from lcm_tui.core.symbols import parse_symbol
from lcm_tui.core.view import BookSnapshot, SignalView, StreamView
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.subjects import ALERT, BOOK, EVENT, HEARTBEAT, SAMPLE, VERSION, WATCH, Names

log = logging.getLogger("lcm_tui.runtime.bus")

Key = tuple[str, str]
EVENTS_LEN = 1000
HISTORY_LEN = 600
WATCH_KEEP = 4  # streams whose book view a viewer keeps leased (the one shown and the last few)
BOOK_FRESH_S = 2.0  # a book view older than this is replaced by the state's top levels


class _Z:
    """HasZ over a stream state's signals (what the market detector reads)."""

    __slots__ = ("z",)

    def __init__(self, z: Mapping[str, float | None]) -> None:
        self.z = z


class RemoteMarketView:
    """See module docstring. ``await start()`` once; every method after that is plain, non-blocking reading."""

    def __init__(self, settings: Settings, nc: Any, names: Names, *, down_after_s: float = 3.0,
                 lease_s: float = 5.0, events_since_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.nc = nc
        self.js = nc.jetstream()
        self.names = names
        self.id = str(uuid.uuid4())
        self.down_after_s = down_after_s
        self.lease_s = lease_s
        self.events_since_s = events_since_s
        self.clock = clock
        self.states: dict[Key, codec.StateMsg] = {}  # the KV state completed by the stream's newest sample
        self._kv: dict[Key, codec.StateMsg] = {}  # as the KV bucket holds it
        self._ticks: dict[Key, tuple[MetricSample, codec.SampleTick]] = {}  # the newest sample message
        self.heartbeats: dict[str, float] = {}  # collector -> monotonic time of its last heartbeat
        self.books: dict[Key, tuple[float, codec.BookMsg]] = {}
        self._alerts: dict[tuple[str, str, str, int], Alert] = {}
        self._events: deque[FeedEvent] = deque(maxlen=EVENTS_LEN)
        self._history: dict[Key, dict[str, deque[float]]] = {}
        self._hist_ts: dict[Key, int] = {}
        self._watching: dict[Key, tuple[float, int]] = {}  # key -> (asked at, depth)
        self._market = MarketCrunchDetector(settings)
        self._market_alerts: list[Alert] = []
        self._alert_log = AlertLog()  # the changes as the collectors reported them (and the market detector's)
        self._started = clock()
        self._ready = asyncio.Event()  # the KV bucket's current values are in
        self._samples_ready = asyncio.Event()  # the last sample of every stream is in
        self._lease_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Any] = []
        self.last_sample_ns: int | None = None
        self.updates = 0  # KV updates applied
        self.samples = 0  # sample messages applied

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self, *, wait_s: float = 5.0) -> None:
        """Subscribe to everything, then wait (up to ``wait_s``) until the KV bucket's current values and the
        last sample of every stream are in."""
        p = f"{self.names.prefix}.{VERSION}"
        self._subs.append(await self.nc.subscribe(f"{p}.{HEARTBEAT}.*", cb=self._on_heartbeat))
        self._subs.append(await self.nc.subscribe(self.names.all(BOOK), cb=self._on_book))
        self._tasks.append(asyncio.create_task(self._kv_loop(), name="bus-kv"))
        self._tasks.append(asyncio.create_task(self._js_loop(), name="bus-js"))
        self._tasks.append(asyncio.create_task(self._lease_loop(), name="bus-lease"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._ready.wait()
                await self._samples_ready.wait()

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for s in self._subs:
            with contextlib.suppress(Exception):
                await s.unsubscribe()

    async def _kv_loop(self) -> None:
        from nats.js.errors import BucketNotFoundError, NotFoundError

        while True:
            try:
                kv = await self.js.key_value(self.names.bucket)
                watcher = await kv.watchall()
                async for entry in watcher:
                    if entry is None:  # the current values are all in
                        self._ready.set()
                        continue
                    if entry.value:
                        self._on_state(entry.value)
            except (BucketNotFoundError, NotFoundError):
                self._ready.set()  # no collector has run yet: nothing to wait for
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("bus: state watch failed, retrying: %s", e)
            await asyncio.sleep(1.0)

    async def _js_loop(self) -> None:
        """Subscribe to the samples, alerts and events streams once they exist (a viewer may start before any
        collector)."""
        from nats.js.api import ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        need = {SAMPLE, ALERT, EVENT}
        while need:
            for kind in sorted(need):
                try:
                    if kind == SAMPLE:
                        cfg = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
                        sub = await self.js.subscribe(self.names.all(SAMPLE), cb=self._on_sample,
                                                      ordered_consumer=True, stream=self.names.stream(SAMPLE),
                                                      config=cfg)
                        if not self._samples_ready.is_set():
                            try:
                                info = await sub.consumer_info()
                                # Nothing to catch up on; else the backlog's last message says when it is in.
                                caught_up = info.num_pending == 0 and not info.delivered.consumer_seq
                            except Exception:
                                caught_up = False
                            if caught_up:
                                self._samples_ready.set()
                    elif kind == ALERT:
                        sub = await self.js.subscribe(self.names.all(ALERT), cb=self._on_alert, ordered_consumer=True,
                                                      stream=self.names.stream(ALERT))
                    else:
                        since = datetime.now(UTC) - timedelta(seconds=self.events_since_s)
                        cfg = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
                        sub = await self.js.subscribe(self.names.all(EVENT), cb=self._on_event, ordered_consumer=True,
                                                      stream=self.names.stream(EVENT), config=cfg)
                except NotFoundError:
                    if kind == SAMPLE:
                        self._samples_ready.set()  # no collector has run yet: nothing to wait for
                    continue
                except Exception as e:
                    log.warning("bus: %s subscription failed, retrying: %s", kind, e)
                    continue
                self._subs.append(sub)
                need.discard(kind)
            if need:
                await asyncio.sleep(1.0)

    async def _lease_loop(self) -> None:
        while True:
            for key, (_asked, depth) in list(self._watching.items()):
                msg = codec.WatchMsg(self.id, self.lease_s, depth)
                with contextlib.suppress(Exception):  # disconnected, or a key no subject can carry
                    await self.nc.publish(self.names.subject(WATCH, *key), codec.encode(msg))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.lease_s / 3):
                    await self._lease_wake.wait()
            self._lease_wake.clear()

    # ---- message handlers ------------------------------------------------------------------------
    def _on_state(self, data: bytes) -> None:
        try:
            st = codec.decode(data, codec.StateMsg)
        except codec.CodecError as e:
            log.warning("bus: %s", e)
            return
        key = (st.venue, st.symbol)
        self._kv[key] = st
        self.updates += 1
        self._merge(key)

    async def _on_sample(self, msg: Any) -> None:
        self.on_sample_data(msg.data)
        if not self._samples_ready.is_set():
            with contextlib.suppress(Exception):  # no JetStream metadata: not a backlog message
                if msg.metadata.num_pending == 0:  # the last one the server had: the backlog is in
                    self._samples_ready.set()

    def on_sample_data(self, data: bytes) -> None:
        """Apply one sample message (the sample and its ``codec.SampleTick``); an older one than held is ignored."""
        try:
            s = codec.decode(data, MetricSample)
            tick = codec.decode(data, codec.SampleTick)
        except codec.CodecError as e:
            log.warning("bus: %s", e)
            return
        key = (s.venue, s.symbol)
        held = self._ticks.get(key)
        if held is not None and held[0].ts_ns >= s.ts_ns:
            return
        self._ticks[key] = (s, tick)
        self.samples += 1
        self._merge(key)

    def _merge(self, key: Key) -> None:
        """The stream's state: its KV state with the fields of a newer sample message, if one is held.

        The KV state's status, detail and error counters stay (a sample carries none of them); its top
        levels and time stay only if the sample message has no levels (an older collector): otherwise
        the levels are the sample's, as of the sample's time. Without a KV state there is no stream to
        show yet (its collector put it first, so it is on its way).
        """
        st = self._kv.get(key)
        if st is None:
            return
        got = self._ticks.get(key)
        if got is not None and (st.sample is None or got[0].ts_ns > st.sample.ts_ns):
            sample, tick = got
            c = st.counters
            counters = c if tick.frames is None else dataclasses.replace(c, frames=tick.frames)
            ts, bids, asks = st.ts_ns, st.bids, st.asks
            if tick.bids is not None and tick.asks is not None:
                ts, bids, asks = sample.ts_ns, _pairs(tick.bids), _pairs(tick.asks)
            st = msgspec.structs.replace(
                st, ts_ns=ts, sample=sample, signals=tick.signals or st.signals, counters=counters,
                last_update_ns=st.last_update_ns if tick.last_update_ns is None else tick.last_update_ns,
                bids=bids, asks=asks)
        self.states[key] = st
        s = st.sample
        if s is not None and self._hist_ts.get(key) != s.ts_ns:
            self._hist_ts[key] = s.ts_ns
            hist = self._history.setdefault(key, {})
            for sig in st.signals:
                if sig.z is not None:
                    hist.setdefault(sig.name, deque(maxlen=HISTORY_LEN)).append(sig.z)

    async def _on_heartbeat(self, msg: Any) -> None:
        try:
            hb = codec.decode(msg.data, codec.Heartbeat)
        except codec.CodecError:
            return
        self.heartbeats[hb.collector] = self.clock()

    async def _on_book(self, msg: Any) -> None:
        try:
            b = codec.decode(msg.data, codec.BookMsg)
        except codec.CodecError:
            return
        self.books[(b.venue, b.symbol)] = (self.clock(), b)

    async def _on_alert(self, msg: Any) -> None:
        try:
            m = codec.decode(msg.data, codec.AlertMsg)
        except codec.CodecError:
            return
        a = m.alert
        if a.venue == MARKET_VENUE:
            return  # one shard's market view; the viewer's own detector sees every shard
        key = (a.venue, a.symbol, a.signal, a.opened_ns)
        try:
            action = AlertAction(m.action)
        except ValueError:
            return
        old = self._alerts.get(key)
        if old is None:
            self._alerts[key] = a
            if action is not AlertAction.OPEN:  # its open aged out of the stream: still report one first
                self._alert_log.add(AlertChange(AlertAction.OPEN, dataclasses.replace(a)))
        elif old.closed_ns is not None:
            return  # a close is final
        else:  # escalate / close, in stream order
            old.peak_z, old.severity = a.peak_z, a.severity
            old.closed_ns = a.closed_ns
        self._alert_log.add(AlertChange(action, dataclasses.replace(a)))

    async def _on_event(self, msg: Any) -> None:
        try:
            m = codec.decode(msg.data, codec.EventMsg)
        except codec.CodecError:
            return
        self._events.append(m.event)

    # ---- the market detector across shards ---------------------------------------------------
    def sample(self, t_ns: int) -> None:
        """One tick of the viewer's sample clock: the market-wide detector over every shard."""
        self.last_sample_ns = t_ns
        detectors = {k: _Z({s.name: s.z for s in st.signals}) for k, st in self.states.items()}
        changes = self._market.update(self._symbol_states(None), cast("Mapping[Key, HasZ]", detectors), t_ns)
        for ch in changes:
            if ch.action is AlertAction.OPEN:
                self._market_alerts.append(ch.alert)
            self._alert_log.add(AlertChange(ch.action, dataclasses.replace(ch.alert)))

    # ---- MarketView ----------------------------------------------------------------------------
    def _status(self, st: codec.StateMsg) -> tuple[StreamStatus, str]:
        seen = self.heartbeats.get(st.collector)
        now = self.clock()
        if seen is None:
            if now - self._started > self.down_after_s:
                return StreamStatus.DOWN, f"collector {st.collector}: no heartbeat"
        elif now - seen > self.down_after_s:
            return StreamStatus.DOWN, f"collector {st.collector} silent {now - seen:.0f}s"
        return st.status, st.detail

    def _order(self) -> list[Key]:
        vorder = self.settings.venue_order()
        n = len(vorder)

        def sort_key(k: Key) -> tuple[int, int, str]:
            vc = self.settings.venues.get(k[0])
            syms = vc.symbols if vc is not None else []
            return (vorder.get(k[0], n), syms.index(k[1]) if k[1] in syms else len(syms), k[1])

        return sorted(self.states, key=sort_key)

    def _view(self, st: codec.StateMsg) -> StreamView:
        status, detail = self._status(st)
        c = st.counters
        return StreamView(st.venue, st.symbol, status, detail, Counters(*_counter_values(c)), st.last_update_ns)

    def streams(self) -> list[StreamView]:
        return [self._view(self.states[k]) for k in self._order()]

    def stream(self, venue: str, symbol: str) -> StreamView | None:
        st = self.states.get((venue, symbol))
        return self._view(st) if st is not None else None

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        st = self.states.get((venue, symbol))
        return st.sample if st is not None else None

    def snapshot(self, venue: str, symbol: str, depth: int) -> BookSnapshot | None:
        key = (venue, symbol)
        st = self.states.get(key)
        got = self.books.get(key)
        n = max(0, depth)
        if got is not None and self.clock() - got[0] <= BOOK_FRESH_S:
            b = got[1]
            return BookSnapshot(venue, symbol, b.ts_ns, list(b.bids[:n]), list(b.asks[:n]), b.metrics)
        if st is None:
            return None
        return BookSnapshot(venue, symbol, st.ts_ns, list(st.bids[:n]), list(st.asks[:n]), st.sample)

    def signals(self, venue: str, symbol: str) -> list[SignalView]:
        st = self.states.get((venue, symbol))
        if st is None:
            return []
        hist = self._history.get((venue, symbol), {})
        return [SignalView(s.name, s.z, list(hist.get(s.name, ())), s.warm) for s in st.signals]

    def alerts(self) -> Sequence[Alert]:
        out = sorted(list(self._alerts.values()) + self._market_alerts, key=lambda a: a.opened_ns)
        return [Alert(a.venue, a.symbol, a.signal, a.opened_ns, a.peak_z, a.severity, a.closed_ns) for a in out]

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        return self._alert_log.since(cursor)

    def events(self) -> Sequence[FeedEvent]:
        return list(self._events)

    def assets(self) -> list[str]:
        return sorted({parse_symbol(v, s)[0] for v, s in self.states})

    def _symbol_states(self, asset: str | None) -> list[SymbolState]:
        out = []
        for key in self._order():
            st = self.states[key]
            if asset is not None and parse_symbol(*key)[0] != asset:
                continue
            book = OrderBook(st.venue, st.symbol)
            book.load_snapshot(st.bids, st.asks)
            status, detail = self._status(st)
            out.append(SymbolState(st.venue, st.symbol, book, status, Counters(*_counter_values(st.counters)),
                                   st.last_update_ns, detail))
        return out

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()
                     ) -> ConsolidatedMetrics | None:
        want = asset.upper()
        states = self._symbol_states(want)
        if not states:
            return None
        detectors = None
        if self.last_sample_ns is not None:
            detectors = {st.key: _Z({s.name: s.z for s in self.states[st.key].signals}) for st in states}
        out = consolidate(states, self.settings, cast("Mapping[Key, HasZ] | None", detectors), top=top,
                          assets=[want], split_notionals=split_notionals)
        return out[0] if out else None

    def watch(self, venue: str, symbol: str, depth: int = 25) -> None:
        """The frontend shows this stream now: lease its book view until ``WATCH_KEEP`` newer ones are watched.

        A frontend calls this when it switches stream, not per frame; the lease is renewed here every
        ``lease_s / 3`` and lapses at the collector ``lease_s`` after this viewer dies.
        """
        key = (venue, symbol)
        new = key not in self._watching
        self._watching.pop(key, None)
        self._watching[key] = (self.clock(), depth)
        while len(self._watching) > WATCH_KEEP:
            del self._watching[next(iter(self._watching))]
        if new:
            self._lease_wake.set()


def _pairs(levels: Sequence[codec.HeldLevel]) -> list[codec.Level]:
    """A sample message's levels as ``(price, size)`` strings, the form of the KV state's and a book's."""
    return [(p, q) for _, p, q in levels]


def _counter_values(c: Counters) -> tuple[int, ...]:
    return (c.frames, c.gaps, c.resyncs, c.checksum_failures, c.malformed, c.reconnects, c.crossed)
