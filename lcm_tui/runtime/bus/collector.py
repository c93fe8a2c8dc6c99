"""``lcm-tui collect``: one shard of venues and symbols, published to NATS JetStream for any number of readers.

What goes where (``docs/nats.md`` has every field and the retention of each stream):

* every sample of the sample clock, every alert open / escalate / close and every feed event go to
  JetStream streams (``<PREFIX>_SAMPLES``, ``_ALERTS``, ``_EVENTS``) through the :class:`Outbox`
  (acked, retried, de-duplicated), so a late consumer and the recorder catch up; a sample carries the
  stream's z per signal, frames, last update and top ``book_levels`` levels of that tick too
  (``codec.SampleTick``: the levels are those of the book the sample was computed from);
* the state of every stream (status, counters, last sample, z per signal, top levels) goes to the KV
  bucket ``<prefix>_state`` at once when its status, detail or an error counter changes, and otherwise
  every ``state_interval_s`` if anything changed (a share of the streams per tick, so the work is
  spread evenly). A viewer is complete at once from the KV values and the last sample of every stream
  (JetStream delivers the last message per subject); the KV levels are its fallback until a stream's
  first sample message is in. Re-encoding every stream's whole state (a level pair built per level)
  on every tick cost as much as computing the sample, and a second acked message per stream per tick
  as much again;
* the top-N book view of a stream goes out on a plain subject at ``ui.fps``, only while a viewer holds
  a watch lease on that stream (nobody watching: no work and no traffic);
* a heartbeat every ``heartbeat_s`` on ``<prefix>.v1.hb.<collector>``: a viewer shows the collector's
  streams DOWN once it stops.

The collector is a monitor listener plus a tick after each sample; the monitor and the hub are the
engine's, exactly as in local mode, so a collector's numbers are the local app's numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from lcm_tui.core.book import BookSide
from lcm_tui.core.model import Alert, AlertChange, FeedEvent, MetricSample, StreamStatus, SymbolState
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.outbox import Outbox
from lcm_tui.runtime.bus.subjects import ALERT, BOOK, EVENT, SAMPLE, WATCH, Names
from lcm_tui.runtime.engine import Engine

log = logging.getLogger("lcm_tui.runtime.bus")

Key = tuple[str, str]
DAY = 86_400.0
# A stream's KV state is refreshed this often when only what the sample messages carry changed.
STATE_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each JetStream stream keeps messages: what a late consumer (the recorder) can still catch up."""

    samples_s: float = DAY
    alerts_s: float = 30 * DAY
    events_s: float = 7 * DAY
    duplicate_window_s: float = 120.0  # a message re-sent within this is stored once
    max_bytes: int = -1  # per stream; -1: bounded by age only


def default_collector_id(venues: list[str]) -> str:
    return f"{socket.gethostname()}-{'+'.join(venues) or 'none'}-{os.getpid()}"


async def ensure_streams(js: Any, names: Names, retention: Retention) -> None:
    """Create or update the three streams and the KV bucket (idempotent: every collector calls it)."""
    from nats.js.api import KeyValueConfig, StorageType, StreamConfig
    from nats.js.errors import BucketNotFoundError, NotFoundError

    for kind, age in ((SAMPLE, retention.samples_s), (ALERT, retention.alerts_s), (EVENT, retention.events_s)):
        cfg = StreamConfig(name=names.stream(kind), subjects=[names.all(kind)], max_age=age,
                           storage=StorageType.FILE, duplicate_window=retention.duplicate_window_s,
                           max_bytes=retention.max_bytes)
        try:
            await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
        else:
            await js.update_stream(cfg)
    try:
        await js.key_value(names.bucket)
    except (BucketNotFoundError, NotFoundError):
        await js.create_key_value(KeyValueConfig(bucket=names.bucket, history=1, storage=StorageType.FILE))


async def delete_all(js: Any, names: Names) -> None:
    """Remove this prefix's streams and bucket (tests, and tearing a deployment down)."""
    from nats.js.errors import NotFoundError

    for kind in (SAMPLE, ALERT, EVENT):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(names.stream(kind))
    with contextlib.suppress(NotFoundError):
        await js.delete_key_value(names.bucket)


def _held(side: BookSide, n: int) -> Sequence[codec.HeldLevel]:
    """The best ``n`` levels of ``side`` as its own ``(size, price, size string)`` tuples (none built here).

    ``itemgetter`` does the lookups in one C call (a bare value for one key, hence the short case).
    """
    keys = side.keys[:n]
    if len(keys) > 1:
        out: Sequence[codec.HeldLevel] = itemgetter(*keys)(side.levels)
        return out
    return [side.levels[k] for k in keys]


def alert_msg_id(action: str, a: Alert) -> str:
    return f"a|{a.venue}|{a.symbol}|{a.signal}|{a.opened_ns}|{action}|{a.severity}|{a.peak_z!r}|{a.closed_ns}"


class Collector:
    """Publishes one engine's market (see module docstring). ``tick(t_ns)`` after every sample."""

    def __init__(self, engine: Engine, nc: Any, names: Names, collector_id: str, *, book_levels: int = 20,
                 heartbeat_s: float = 1.0, retention: Retention | None = None,
                 clock: Callable[[], float] = time.monotonic, state_interval_s: float = STATE_INTERVAL_S) -> None:
        self.engine = engine
        self.monitor = engine.monitor
        self.nc = nc
        self.js = nc.jetstream()
        self.names = names
        self.id = collector_id
        self.book_levels = book_levels
        self.heartbeat_s = heartbeat_s
        self.state_interval_s = state_interval_s
        self.retention = retention or Retention()
        self.outbox = Outbox(nc)
        self.clock = clock
        self.watched: dict[Key, tuple[float, int]] = {}  # key -> (lease deadline, depth)
        self.samples_published = 0
        self.states_published = 0
        self.books_published = 0
        # key -> (what puts a state at once, what waits for the stream's refresh) as of its last put
        self._last_state: dict[Key, tuple[Any, ...]] = {}
        self._refresh_at = 0  # where in the streams' order this tick's share of refreshes starts
        self._refresh_credit = 0.0  # streams due for a refresh, fraction included
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Any] = []
        self._kv_prefix = f"$KV.{names.bucket}."
        self._subjects: dict[Key, str] = {}  # sample subject per stream (spelled once)
        self._kv_subjects: dict[Key, str] = {}
        self._stream_subject = {k: names.stream(k) for k in (SAMPLE, ALERT, EVENT)}

    async def start(self) -> None:
        await ensure_streams(self.js, self.names, self.retention)
        await self.outbox.start()
        self._subs.append(await self.nc.subscribe(self.names.all(WATCH), cb=self._on_watch))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="bus-heartbeat"))
        self._tasks.append(asyncio.create_task(self._book_loop(), name="bus-books"))
        self.publish_states()  # a viewer attaching before the first sample sees every stream at once

    async def close(self, timeout: float = 5.0) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for s in self._subs:
            with contextlib.suppress(Exception):
                await s.unsubscribe()
        self.publish_states(refresh_all=True)
        await self.outbox.close(timeout)
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=1)

    # ---- monitor listener ------------------------------------------------------------------
    def _sample_subject(self, venue: str, symbol: str) -> str:
        key = (venue, symbol)
        subj = self._subjects.get(key)
        if subj is None:
            subj = self._subjects[key] = self.names.subject(SAMPLE, venue, symbol)
        return subj

    def on_sample(self, sample: MetricSample, state: SymbolState | None = None) -> None:
        """Publish the sample with this tick's z per signal (the detectors ran first), frames, last update and
        top levels: the monitor calls this as soon as it has computed the sample, so the book is still the
        one the sample was computed from."""
        subj = self._sample_subject(sample.venue, sample.symbol)
        if state is None:
            state = self.monitor.states.get((sample.venue, sample.symbol))
        if state is None:
            tick = codec.SampleTick()
        else:
            book, n = state.book, self.book_levels
            tick = codec.SampleTick(self._signals(state.key), state.counters.frames, state.last_update_ns,
                                    _held(book.bids, n), _held(book.asks, n))
        self.outbox.put(subj, codec.encode_sample(sample, tick), f"s|{sample.venue}|{sample.symbol}|{sample.ts_ns}")
        self.samples_published += 1

    def _signals(self, key: Key) -> list[codec.SignalMsg]:
        d = self.monitor.detectors.get(key)
        return [codec.SignalMsg(name, z, z is not None) for name, z in d.z.items()] if d is not None else []

    def on_alert_change(self, change: AlertChange) -> None:
        self._publish_alert(str(change.action), change.alert)

    def on_event(self, ev: FeedEvent) -> None:
        eid = str(uuid.uuid4())
        msg = codec.EventMsg(eid, ev, self.id)
        self.outbox.put(self.names.subject(EVENT, ev.venue, ev.symbol), codec.encode(msg), eid)

    def _publish_alert(self, action: str, a: Alert) -> None:
        msg = codec.AlertMsg(action, a, self.id)
        self.outbox.put(self.names.subject(ALERT, a.venue, a.symbol), codec.encode(msg), alert_msg_id(action, a))

    # ---- the tick ----------------------------------------------------------------------------
    def tick(self, t_ns: int) -> None:
        """After a sample: the KV states due (alert changes went out as the monitor reported them)."""
        self.publish_states(t_ns)

    def publish_states(self, t_ns: int | None = None, *, refresh_all: bool = False) -> int:
        """Put the state of every stream whose status, detail or error counters changed since its last put,
        and of this tick's share of the rest (each once per ``state_interval_s``) if anything else changed.

        ``refresh_all`` puts every stream that changed in any way (on close: nothing is left behind).
        """
        ts = self.engine.now() if t_ns is None else t_ns
        n = 0
        latest = self.monitor.latest
        states = self.monitor.states
        total = len(states)
        if refresh_all:
            share = total
        else:  # streams due this tick; the fraction carries over, so a long interval is kept on average
            self._refresh_credit = min(float(total), self._refresh_credit + total * (
                self.engine.settings.metrics.sample_interval_s / max(self.state_interval_s, 1e-9)))
            share = math.floor(self._refresh_credit)
            self._refresh_credit -= share
        start = self._refresh_at if total else 0
        last_state = self._last_state
        for i, (key, st) in enumerate(states.items()):
            c = st.counters
            now = (st.status, st.status_detail, c.gaps, c.resyncs, c.checksum_failures, c.malformed,
                   c.reconnects, c.crossed)
            last = last_state.get(key)
            due = (i - start) % total < share
            if last is not None and last[0] == now and not due:
                continue
            s = latest.get(key)
            later = (c.frames, st.last_update_ns, s.ts_ns if s is not None else None)
            if last is not None and last[0] == now and last[1] == later:
                continue
            last_state[key] = (now, later)
            self._put_state(st, s, ts)
            n += 1
        if total:
            self._refresh_at = (start + share) % total
        for venue, why in self.engine.unavailable().items():
            vc = self.engine.settings.venues.get(venue)
            for sym in (vc.symbols if vc is not None else []):
                key = (venue, sym)
                if key in self.monitor.states or key in self._last_state:
                    continue
                self._last_state[key] = ("down",)
                msg = codec.StateMsg(venue, sym, self.id, ts, StreamStatus.DOWN, f"not running: {why}",
                                     codec.Counters(), 0, None, [], [], [])
                self.outbox.put(self._kv_prefix + self.names.key(venue, sym), codec.encode(msg))
                n += 1
        self.states_published += n
        return n

    def _put_state(self, st: SymbolState, s: MetricSample | None, ts: int) -> None:
        n = self.book_levels
        msg = codec.StateMsg(st.venue, st.symbol, self.id, ts, st.status, st.status_detail, st.counters,
                             st.last_update_ns, s, self._signals(st.key), st.book.bids.top(n), st.book.asks.top(n))
        subj = self._kv_subjects.get(st.key)
        if subj is None:
            subj = self._kv_subjects[st.key] = self._kv_prefix + self.names.key(st.venue, st.symbol)
        self.outbox.put(subj, codec.encode(msg))

    # ---- watch leases and book views ---------------------------------------------------------
    async def _on_watch(self, msg: Any) -> None:
        try:
            _, venue, symbol = self.names.parse(msg.subject)
            w = codec.decode(msg.data, codec.WatchMsg)
        except ValueError:
            return
        key = (venue, symbol)
        if key in self.monitor.states:
            lease = min(max(w.lease_s, 0.0), 60.0)
            depth = min(max(w.depth, 1), 1000)
            old = self.watched.get(key)
            self.watched[key] = (self.clock() + lease, max(depth, old[1]) if old and old[0] > self.clock() else depth)

    async def _book_loop(self) -> None:
        interval = 1.0 / self.engine.settings.ui.fps
        while True:
            await asyncio.sleep(interval)
            if not self.watched:
                continue
            now = self.clock()
            for key, (until, depth) in list(self.watched.items()):
                if until < now:
                    del self.watched[key]
                    continue
                snap = self.engine.view.snapshot(key[0], key[1], depth)
                if snap is None:
                    continue
                msg = codec.BookMsg(snap.venue, snap.symbol, snap.ts_ns, snap.bids, snap.asks, snap.metrics)
                with contextlib.suppress(Exception):  # disconnected: the next frame replaces it anyway
                    await self.nc.publish(self.names.subject(BOOK, key[0], key[1]), codec.encode(msg))
                    self.books_published += 1

    async def _heartbeat_loop(self) -> None:
        subject = self.names.heartbeat(self.id)
        while True:
            hb = codec.Heartbeat(self.id, time.time_ns(), self.heartbeat_s, len(self.monitor.states))
            with contextlib.suppress(Exception):
                await self.nc.publish(subject, codec.encode(hb))
            await asyncio.sleep(self.heartbeat_s)
