"""The composition root: every mode (live, ``--demo``, ``--capture``, the recorder, replay) is built here.

One place builds the process so that every mode starts and stops the same parts in the same order,
and a frontend only asks for an engine and reads the market through its :class:`LocalMarketView`
(a :class:`~lcm_tui.core.view.MarketView`): it never touches a runner, a book or the recorder's wiring.

- :func:`open_live` (an async context manager) starts, in this order, the capture file, the embedded
  simulator for ``--demo``, the monitor, the hub and the recorder, then runs the hub as one task.
  Leaving the block stops them in reverse order: the feeds first, then the recorder is flushed, then
  the simulator stops, then the capture is closed (its gzip trailer written).
- :func:`open_replay` builds the same monitor over a capture file; :class:`ReplaySession` feeds its
  records and samples the monitor on the *capture's* clock, so z-scores and alerts are the same at any
  replay speed. At the end of the capture each stream shows its status as of its last frame, with the
  detail :data:`END_OF_CAPTURE` (the trailing connection closes of the recording process say nothing
  about the books).

The sample clock: the headless frontend lets the engine drive it (:meth:`Engine.run_sample_clock`);
the TUI calls :meth:`Engine.sample` from its own timer; replay samples in :meth:`ReplaySession.feed`.

The recorder is injected (``recorder=``): the runtime and the recorder are sibling layers, and only a
frontend may depend on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from lcm_tui.config import RecorderConfig, Settings
from lcm_tui.core.consolidated import ConsolidatedMetrics
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import Alert, AlertChange, Counters, FeedEvent, MetricSample, StreamStatus, SymbolState
from lcm_tui.core.monitor import Monitor
from lcm_tui.core.view import BookSnapshot, SignalView, StreamView
from lcm_tui.runtime import replay as _replay
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.gcpolicy import service_gc
from lcm_tui.runtime.hub import FeedHub

if TYPE_CHECKING:
    from lcm_tui.runtime.alerting import AlertRouter
    from lcm_tui.runtime.sim.server import SimServer

log = logging.getLogger("lcm_tui.runtime.engine")

Key = tuple[str, str]

# The detail a stream carries once its replay has run out of records.
END_OF_CAPTURE = "end of capture"


async def run_every(interval_s: float, stop: asyncio.Event, tick: Callable[[], object]) -> None:
    """Call ``tick()`` every ``interval_s`` until ``stop`` is set or ``tick`` returns True.

    Ticks are scheduled on the loop's monotonic clock (``next_at += interval``), so they do not drift
    when one runs late: the one sample clock of every mode (local engine, remote viewer).
    """
    loop = asyncio.get_running_loop()
    next_at = loop.time() + interval_s
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, next_at - loop.time())):
                await stop.wait()
        if stop.is_set():
            return
        next_at += interval_s
        if tick() is True:
            return


class EngineError(Exception):
    """A mistake the user can fix (nothing to monitor, an unwritable capture, a refused recorder): one line, exit 2."""


class RecorderLike(Protocol):
    """What the engine needs of a recorder: a lifecycle, a status line, and Monitor listener methods."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def status(self) -> Any: ...


RecorderFactory = Callable[[RecorderConfig], RecorderLike]


class Engine:
    """One process's market: the monitor, its view, and whatever feeds it (a hub or a replay)."""

    def __init__(self, settings: Settings, *, mode: str, clock: Callable[[], int] = time.time_ns) -> None:
        self.settings = settings
        self.mode = mode  # "live", "demo" or "replay"
        self.monitor = Monitor(settings)
        self.hub: FeedHub | None = None
        self.capture: Capture | None = None
        self.recorder: RecorderLike | None = None
        self.replay: ReplaySession | None = None
        self.sim: SimServer | None = None  # the embedded simulator of --demo
        self.router: AlertRouter | None = None  # webhooks / command hook, when ``alerts`` configures any
        # Process counters exported as lcm_<name>_total by --metrics-port (a collector adds its own).
        self.exported: dict[str, Callable[[], float]] = {}
        self.clock = clock
        self.view = LocalMarketView(self)
        self.samples = 0  # ticks of the sample clock so far
        self._feeds: asyncio.Task[None] | None = None

    def now(self) -> int:
        """The engine's time in ns: the wall clock live, the capture's clock in replay."""
        return self.clock()

    def sample(self, t_ns: int | None = None) -> list[MetricSample]:
        """One tick of the sample clock; a failing metric never takes the caller's loop down with it."""
        self.samples += 1
        try:
            return self.monitor.sample(self.now() if t_ns is None else t_ns)
        except Exception:
            log.exception("monitor.sample failed")
            return []

    async def run_sample_clock(self, on_tick: Callable[[int], object], stop: asyncio.Event) -> None:
        """Sample every ``metrics.sample_interval_s`` until ``stop`` is set; ``on_tick(t_ns)`` after each.

        The sample is stamped with :meth:`now`; ``on_tick`` returning True stops the clock (e.g. its
        reader went away).
        """

        with service_gc() as settle:
            ticks = [0]

            def tick() -> object:
                t_ns = self.now()
                self.sample(t_ns)
                done = on_tick(t_ns)
                if ticks[0] >= 0:  # until the books are synced (or a minute went by): then what is alive
                    ticks[0] += 1  # lives as long as the process
                    if ticks[0] >= 60 or all(st.status is StreamStatus.LIVE for st in self.monitor.states.values()):
                        settle()
                        ticks[0] = -1
                return done

            await run_every(self.settings.metrics.sample_interval_s, stop, tick)

    def states(self) -> list[SymbolState]:
        return list(self.monitor.states.values())

    def unavailable(self) -> dict[str, str]:
        """Venues that are configured (or in the capture) but not running (no adapter), with why."""
        if self.hub is not None:
            return dict(self.hub.unavailable)
        if self.replay is not None:
            return dict(self.replay.replayer.skipped)
        return {}

    def unavailable_streams(self) -> list[tuple[str, str, str]]:
        """(venue, symbol, why) of every stream of an unavailable venue: shown DOWN, never silently absent."""
        out = []
        for venue, why in self.unavailable().items():
            if self.replay is not None:
                symbols = self.replay.replayer.symbols.get(venue, [])
            else:
                vc = self.settings.venues.get(venue)
                symbols = list(vc.symbols) if vc is not None else []
            out += [(venue, sym, why) for sym in symbols if (venue, sym) not in self.monitor.states]
        return out

    async def _stop_feeds(self) -> None:
        if self._feeds is not None:
            self._feeds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feeds
            self._feeds = None


@asynccontextmanager
async def open_live(settings: Settings, *, demo: bool = False, capture: str | None = None,
                    recorder: RecorderFactory | None = None,
                    recorder_errors: tuple[type[BaseException], ...] = (),
                    clock: Callable[[], int] = time.time_ns,
                    demo_step_interval_s: float | None = None,
                    demo_fault_rate: float | None = None) -> AsyncIterator[Engine]:
    """A running engine over the configured venues (or the embedded simulator with ``demo``).

    ``recorder`` builds the recorder when ``settings.recorder.enabled``; its ``start()`` raising one of
    ``recorder_errors`` (a refused login, a spill file in use) becomes an :class:`EngineError`.
    ``demo_step_interval_s=0`` leaves the simulated market still until a test steps it.
    """
    async with AsyncExitStack() as stack:
        cap: Capture | None = None
        if capture:  # first: a path the user mistyped fails before any socket opens
            try:
                cap = Capture(capture)
            except OSError as e:
                raise EngineError(f"cannot write capture {capture}: {e.strerror or e}") from None
            stack.callback(cap.close)
        sim: SimServer | None = None
        if demo:
            from lcm_tui.runtime.sim.demo import demo_server

            kw: dict[str, Any] = {}
            if demo_step_interval_s is not None:
                kw["step_interval_s"] = demo_step_interval_s
            if demo_fault_rate is not None:
                kw["fault_rate"] = demo_fault_rate
            sim = demo_server(settings, **kw)
            await sim.start()
            stack.push_async_callback(sim.close)
            settings = sim.configure(settings)
        eng = Engine(settings, mode="demo" if demo else "live", clock=clock)
        eng.sim = sim
        eng.capture = cap
        eng.hub = FeedHub(settings, eng.monitor.on_event, eng.capture, clock=clock)
        if not eng.hub.runners:
            raise EngineError("no enabled venue with symbols to monitor")
        for st in eng.hub.states():
            eng.monitor.add(st)
        if settings.recorder.enabled:
            if recorder is None:
                raise EngineError("recorder.enabled is set but this build has no recorder")
            rec = recorder(settings.recorder)
            try:
                await rec.start()
            except recorder_errors as e:
                raise EngineError(str(e)) from None
            stack.push_async_callback(rec.close)
            eng.monitor.add_listener(rec)
            for ev in getattr(rec, "startup_events", ()):  # e.g. what a dead previous run may have lost
                eng.monitor.on_event(ev)
            eng.recorder = rec
        if settings.alerts.webhooks or settings.alerts.command:
            import socket

            from lcm_tui.runtime.alerting import AlertRouter

            eng.router = AlertRouter(settings.alerts, source=socket.gethostname())
            await eng.router.start()
            stack.push_async_callback(eng.router.close)
            eng.monitor.add_listener(eng.router)
            stats = eng.router.stats
            eng.exported["alert_notifications_sent"] = lambda: stats.sent
            eng.exported["alert_notifications_failed"] = lambda: stats.failed
            eng.exported["alert_notifications_suppressed"] = lambda: stats.suppressed
        if settings.prometheus.port:
            from lcm_tui.runtime.prometheus import Exporter

            status = eng.recorder.status if eng.recorder is not None else None
            exporter = Exporter(eng.view, settings.prometheus.port, settings.prometheus.host, recorder=status,
                                extra=lambda: {k: f() for k, f in eng.exported.items()})
            try:
                await exporter.start()
            except OSError as e:
                raise EngineError(str(e)) from None
            stack.push_async_callback(exporter.close)
        eng._feeds = asyncio.create_task(eng.hub.run(), name="feeds")
        stack.push_async_callback(eng._stop_feeds)
        yield eng


def open_replay(settings: Settings, path: str, *, sample_clock: bool = True) -> Engine:
    """An engine over a capture file; feed it with ``engine.replay`` (see :class:`ReplaySession`).

    ``sample_clock=False`` feeds the books only (``replay --json`` reports the final books; no
    detector runs, so it is as fast as the adapters).
    """
    session: ReplaySession | None = None
    eng = Engine(settings, mode="replay", clock=lambda: session.t_ns if session is not None else 0)
    try:
        replayer, records = _replay.open_replay(settings, path, sink=eng.monitor.on_event)
    except OSError as e:
        raise EngineError(f"cannot read capture: {e}") from None
    except _replay.CaptureError as e:
        raise EngineError(str(e)) from None
    for st in replayer.state_list():
        eng.monitor.add(st)
    session = ReplaySession(eng, replayer, records, sample=sample_clock)
    eng.replay = session
    return eng


class ReplaySession:
    """Feeds a capture's records to the adapters and samples the monitor on the capture's clock.

    ``feed(rec)`` first takes every sample whose time ``rec.t_ns`` has reached (one per
    ``sample_interval_s`` of recorded time, as the live sampler did), then applies the record. A gap in
    the capture longer than ``feeds.stale_after_s`` is time the recording process heard nothing: live,
    the streams would have gone STALE and stopped being sampled, so the clock jumps over it instead of
    sampling unchanged books: it samples the first ``stale_after_s`` of the gap, as live did, then the
    gap's last boundary (which also keeps a corrupt or far-future timestamp from stalling replay).

    ``run_until(t_ns)`` stops the capture at a time (``replay --json --at``): the books, statuses,
    z-scores and alerts are then those of that instant, and the next call or ``run()`` goes on from it.
    """

    def __init__(self, engine: Engine, replayer: _replay.Replayer, records: Iterator[_replay.Record],
                 *, sample: bool = True) -> None:
        self.engine = engine
        self.replayer = replayer
        self._source = records
        # What to feed next: the capture's records, after the one record looked at and put back (peek,
        # run_until), if any. Always one chain over the source, so seeking many times nests nothing.
        self.records: Iterator[_replay.Record] = records
        self.sample_clock = sample
        self.t_ns = 0  # the capture time reached (the last record's, or the last sample's)
        self.last_record_ns = 0  # the time of the last record fed
        self.fed = 0
        self.samples = 0
        self.jumps = 0  # capture gaps the sample clock jumped over
        self.ended = False
        s = engine.settings
        self._interval = max(1, int(s.metrics.sample_interval_s * 1e9))
        self._max_catchup = max(1, math.ceil(s.feeds.stale_after_s / s.metrics.sample_interval_s))
        self._next: int | None = None
        self._last_sample: int | None = None
        # venue -> (symbol -> (status, detail)) just before a run of connection closes that no frame of
        # that venue has followed yet: what the streams showed before the recording process hung up.
        self._before_close: dict[str, dict[str, tuple[StreamStatus, str]]] = {}
        self._by_venue: dict[str, list[SymbolState]] = {}
        for st in engine.monitor.states.values():
            self._by_venue.setdefault(st.venue, []).append(st)

    def feed(self, rec: _replay.Record) -> None:
        t = rec.t_ns
        if self.sample_clock and t > 0:
            self._advance(t)
        venue = rec.venue
        if rec.frame is not None:
            if self._before_close:
                self._before_close.pop(venue, None)
        elif rec.event == "close" and venue not in self._before_close:
            self._before_close[venue] = {st.symbol: (st.status, st.status_detail)
                                         for st in self._by_venue.get(venue, ())}
        self.replayer.feed(rec)
        self.fed += 1
        self.last_record_ns = t
        if t > self.t_ns:
            self.t_ns = t

    def _advance(self, t: int) -> None:
        iv = self._interval
        if self._next is None:
            self._next = t - t % iv + iv
            return
        if t < self._next:
            return
        due = (t - self._next) // iv + 1
        if due > self._max_catchup:
            # Sample the start of the gap as live did until its streams went STALE, then jump to the
            # gap's last boundary.
            for _ in range(self._max_catchup):
                self._sample_at(self._next)
                self._next += iv
            self.jumps += 1
            self._next = t - (t - self._next) % iv
        while self._next <= t:
            self._sample_at(self._next)
            self._next += iv

    def _sample_at(self, t_ns: int) -> None:
        self.t_ns = max(self.t_ns, t_ns)
        self._last_sample = t_ns
        self.samples += 1
        self.engine.sample(t_ns)

    def run(self, limit: int | None = None) -> int:
        """Feed up to ``limit`` records (all when None) without pacing; returns how many were fed."""
        n = 0
        for rec in self.records:
            self.feed(rec)
            n += 1
            if limit is not None and n >= limit:
                return n
        return n

    def peek(self) -> _replay.Record | None:
        """The next record without feeding it; None at the end of the capture."""
        rec = next(self.records, None)
        if rec is not None:
            self._put_back(rec)
        return rec

    def _put_back(self, rec: _replay.Record) -> None:
        self.records = itertools.chain((rec,), self._source)

    def run_until(self, t_ns: int) -> int:
        """Feed the records up to ``t_ns`` and take the samples due by then; returns how many were fed.

        Records go in file order up to the first one stamped after ``t_ns``, which is kept for the next
        call. The engine's clock is then ``t_ns``, so a snapshot is the book at that instant and the
        detector has taken every sample of the sample clock up to it.
        """
        n = 0
        for rec in self.records:
            if rec.t_ns > t_ns:
                self._put_back(rec)
                break
            self.feed(rec)
            n += 1
        if self.sample_clock and t_ns > 0:
            self._advance(t_ns)
        self.t_ns = max(self.t_ns, t_ns)
        return n

    def finish(self) -> None:
        """The capture is over: streams show their state as of their last frame, and a last sample is taken.

        The last sample is what ``replay --json`` reports, so the TUI's final screen and the JSON agree.
        """
        if self.ended:
            return
        self.ended = True
        for st in self.engine.monitor.states.values():
            before = self._before_close.get(st.venue, {})
            status, detail = before.get(st.symbol, (st.status, st.status_detail))
            st.status = status
            st.status_detail = END_OF_CAPTURE if status is StreamStatus.LIVE else detail
        self._before_close.clear()
        if self.sample_clock and self.t_ns and self._last_sample != self.t_ns:
            self._sample_at(self.t_ns)


class LocalMarketView:
    """:class:`~lcm_tui.core.view.MarketView` over this process's monitor and hub.

    Every method returns copies taken at the call, so a widget never sees a value change while it
    draws. ``snapshot`` computes metrics from the book at that instant (a whole-book pass is about
    110 us), so what is drawn for a stream is consistent; the detector keeps its own sample clock.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.monitor = engine.monitor
        self.settings = engine.settings
        # Per stream: the book object and version the last snapshot was taken of, it, and its depth.
        self._snapshots: dict[tuple[str, str], tuple[object, int, BookSnapshot, int]] = {}

    # ---- streams -----------------------------------------------------------------------------
    def streams(self) -> list[StreamView]:
        """The running streams in configuration order, then those of venues that could not start (DOWN)."""
        out = [_stream_view(st) for st in self.monitor.states.values()]
        for venue, sym, why in self.engine.unavailable_streams():
            out.append(StreamView(venue, sym, StreamStatus.DOWN, f"not running: {why}", Counters(), 0))
        return out

    def stream(self, venue: str, symbol: str) -> StreamView | None:
        st = self.monitor.states.get((venue, symbol))
        if st is not None:
            return _stream_view(st)
        return next((s for s in self.streams() if s.key == (venue, symbol)), None)

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        s = self.monitor.latest.get((venue, symbol))
        return _copy_sample(s) if s is not None else None

    def snapshot(self, venue: str, symbol: str, depth: int) -> BookSnapshot | None:
        """The book now; a book unchanged since the last call (same object, same version) is not walked again.

        The TUI asks for the stream on screen at every refresh, and most refreshes of a quiet book find it
        as it was: the metrics and the levels of the last snapshot are then reused (re-stamped when the
        clock moved), and the very same object comes back when nothing moved at all. The cached pieces are
        never changed after they are made, so sharing them keeps every snapshot a consistent copy.
        """
        key = (venue, symbol)
        st = self.monitor.states.get(key)
        if st is None:
            return None
        book = st.book
        ts = self.engine.now()
        n = max(0, depth)
        version = book.version
        hit = self._snapshots.get(key)
        if hit is not None and hit[0] is book and hit[1] == version:
            snap, have = hit[2], hit[3]
            if n == have and snap.ts_ns == ts:
                return snap
            metrics = snap.metrics
            if metrics is not None and metrics.ts_ns != ts:
                metrics = dataclasses.replace(metrics, ts_ns=ts)
            if n <= have:  # the top n of a deeper copy of the same book
                bids, asks = (snap.bids[:n], snap.asks[:n]) if n < have else (snap.bids, snap.asks)
            else:
                bids, asks = book.bids.top(n), book.asks.top(n)
        else:
            metrics = None
            if not book.is_empty():
                m = self.settings.metrics
                metrics = compute_sample(book, venue, symbol, ts, m.depth_bands_bps, m.notionals)
            bids, asks = (book.bids.top(n), book.asks.top(n)) if n else ([], [])
        snap = BookSnapshot(venue, symbol, ts, bids, asks, metrics)
        self._snapshots[key] = (book, version, snap, n)
        return snap

    # ---- detector ----------------------------------------------------------------------------
    def signals(self, venue: str, symbol: str) -> list[SignalView]:
        d = self.monitor.detectors.get((venue, symbol))
        if d is None:
            return []
        return [SignalView(name, z, list(d.history.get(name, ())), z is not None) for name, z in d.z.items()]

    def alerts(self) -> Sequence[Alert]:
        # An open alert still changes (peak z, severity, close): copy it; a closed one never changes again.
        return [dataclasses.replace(a) if a.closed_ns is None else a for a in self.monitor.alerts]

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        return self.monitor.alert_changes(cursor)

    def events(self) -> Sequence[FeedEvent]:
        return list(self.monitor.events)

    # ---- cross-venue -------------------------------------------------------------------------
    def assets(self) -> list[str]:
        """Base assets with at least one stream ("BTC", "ETH"), sorted: the keys ``consolidated`` takes."""
        return self.monitor.assets()

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()
                     ) -> ConsolidatedMetrics | None:
        # The monitor rebuilds an asset's entry only when one of its streams changed (one pass per
        # asset and tick, not one scan of every stream per asset).
        return self.monitor.consolidated(asset, top, split_notionals)

    def watch(self, venue: str, symbol: str) -> None:
        """Every book is in this process already: nothing to subscribe to."""


def _stream_view(st: SymbolState) -> StreamView:
    return StreamView(st.venue, st.symbol, st.status, st.status_detail, dataclasses.replace(st.counters),
                      st.last_update_ns)


def _copy_sample(s: MetricSample) -> MetricSample:
    return dataclasses.replace(s, depth_bid=dict(s.depth_bid), depth_ask=dict(s.depth_ask),
                               imbalance=dict(s.imbalance), slippage=list(s.slippage))
