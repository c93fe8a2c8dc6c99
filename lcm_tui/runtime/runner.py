"""The I/O half of a feed: one ``StreamRunner`` keeps one venue connection alive forever.

It owns the socket, the clock and the retries; the adapter owns the protocol. The runner performs
the adapter's actions (send, fetch a snapshot out of band, reconnect), reconnects with exponential
backoff and jitter (so a venue outage does not turn into a reconnect storm from every client at
once), marks symbols STALE when their frames stop, and rolls the connection over before the venue's
24 h limit *make-before-break*: a second connection is synced first and only then replaces the old
one, so the books never go dark. An adapter bug is logged and counted and costs one reconnect with a
fresh adapter, never the process.

``states`` are stable objects for the life of the runner (the UI and the monitor hold them); on a
rollover the freshly synced books are moved into them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from lcm_tui.config import FeedsConfig
from lcm_tui.core.model import FeedEventKind, StreamStatus, SymbolState
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.http import http_get
from lcm_tui.venues.base import Action, Adapter, FetchSnapshot, Reconnect, Send

log = logging.getLogger("lcm_tui.runtime.runner")

_conn_ids = itertools.count(1)

AdapterFactory = Callable[[], Adapter]


def _proxy_for(url: str) -> str | bool | None:
    """Loopback (demo, tests) never goes through a proxy from the environment."""
    host = urlsplit(url).hostname or ""
    return None if host in ("127.0.0.1", "localhost", "::1") else True


def transplant(stable: dict[str, SymbolState], adapter: Adapter, *, synced: bool) -> None:
    """Make ``adapter`` work on the long-lived ``stable`` states.

    ``synced``: the adapter has synced its own books (rollover): move them into the stable states
    and fold its counters in. Otherwise (a fresh adapter after a crash) it simply takes the states
    over and will resync them.
    """
    for sym, new in list(adapter.states.items()):
        st = stable.get(sym)
        if st is None or st is new:
            continue
        if synced:
            st.book = new.book
            st.status = new.status
            st.status_detail = new.status_detail
            st.last_update_ns = new.last_update_ns
            c, n = st.counters, new.counters
            c.frames += n.frames
            c.gaps += n.gaps
            c.resyncs += n.resyncs
            c.checksum_failures += n.checksum_failures
            c.malformed += n.malformed
            c.crossed += n.crossed
            c.reconnects += n.reconnects + 1
        adapter.states[sym] = st


class _Closed(Exception):
    pass


@dataclass(eq=False)
class _Link:
    """One websocket connection driving one adapter."""

    adapter: Adapter
    ws: ClientConnection
    conn: int = field(default_factory=lambda: next(_conn_ids))
    opened: float = field(default_factory=time.monotonic)
    last_rx: float = field(default_factory=time.monotonic)
    last_rx_sym: dict[str, float] = field(default_factory=dict)
    done: asyncio.Future[str] | None = None
    reader: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    reason: str = ""
    synced: bool = False  # every symbol was LIVE at some point
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # a rollover link may replace the old one
    detached: bool = False  # replaced by a rollover: frames are no longer used
    adapter_failed: bool = False

    def request_close(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        t = asyncio.ensure_future(self.ws.close())
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)


class StreamRunner:
    """Runs one adapter's connection until cancelled. See the module docstring."""

    open_timeout_s = 10.0
    fetch_timeout_s = 10.0
    fetch_attempts = 3
    rollover_timeout_s = 60.0

    def __init__(self, adapter_factory: AdapterFactory, feeds_cfg: FeedsConfig, capture: Capture | None = None,
                 *, seed: int | None = None) -> None:
        self.factory = adapter_factory
        self.cfg = feeds_cfg
        self.capture = capture
        self.adapter = adapter_factory()
        self.venue = self.adapter.venue
        self.states: dict[str, SymbolState] = dict(self.adapter.states)
        self.attempts = 0  # consecutive connections that failed or never synced
        self.connects = 0
        self.adapter_errors = 0
        self.rollovers = 0
        self.fetches = 0
        self.last_delay = 0.0
        self._rng = random.Random(seed)
        self._link: _Link | None = None
        self._rollover: asyncio.Task[None] | None = None
        self._down_since: float | None = None

    # ---- public ------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.reason

    def backoff(self) -> float:
        """Exponential backoff with jitter in [min, max], growing with consecutive failures."""
        lo, hi = self.cfg.reconnect_min_s, self.cfg.reconnect_max_s
        base = min(hi, lo * 2.0 ** min(self.attempts, 30))
        return max(lo, min(hi, base * self._rng.uniform(0.5, 1.0) + lo * self._rng.random() * 0.5))

    def request_rollover(self, reason: str = "requested") -> None:
        """Start a make-before-break reconnect now (what ``Reconnect(rollover=True)`` does)."""
        link = self._link
        if link is not None and (self._rollover is None or self._rollover.done()):
            self._rollover = asyncio.create_task(self._do_rollover(link, reason), name=f"{self.venue}-rollover")

    async def run(self) -> None:
        mode = "fresh"
        try:
            while True:
                try:
                    mode = await self._session(mode)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a runner or adapter-constructor bug: never the end of the feed
                    log.exception("%s: runner error", self.venue)
                    self.attempts += 1
                    self._link = None
                self.last_delay = self.backoff()
                await asyncio.sleep(self.last_delay)
        finally:
            await self._shutdown()

    async def _session(self, mode: str) -> str:
        """One connection (and its rollovers) until it ends; returns how the next one opens."""
        link = await self._connect(self.adapter, mode)
        if link is None:
            self.attempts += 1
            return mode
        await self._drive(link)
        link = self._link
        self._link = None
        self.attempts = 0 if link is not None and link.synced else self.attempts + 1
        if link is not None and link.adapter_failed:
            self.adapter = self.factory()
            transplant(self.states, self.adapter, synced=False)
            return "fresh"
        return "reuse"

    # ---- connections -------------------------------------------------------------------------
    async def _connect(self, adapter: Adapter, mode: str) -> _Link | None:
        t0 = time.time_ns()
        url = ""
        try:
            url = adapter.url()
            ws = await connect(url, max_size=self.cfg.max_frame_bytes, open_timeout=self.open_timeout_s,
                               ping_interval=self.cfg.ping_interval_s, ping_timeout=self.cfg.ping_interval_s,
                               close_timeout=2, proxy=_proxy_for(url), max_queue=256)
        except Exception as e:
            if mode != "rollover":
                self._mark_down(f"connect failed: {type(e).__name__}: {e}", t0)
            log.info("%s: connect to %s failed: %s", self.venue, url, e)
            return None
        self.connects += 1
        link = _Link(adapter, ws)
        link.done = asyncio.get_running_loop().create_future()
        if self.capture is not None:
            self.capture.event(t0, self.venue, link.conn, "open", mode)
        if mode != "rollover":
            self._down_since = None
            if self.connects > 1:
                for st in self.states.values():
                    st.counters.reconnects += 1
                    adapter.emit(st, FeedEventKind.RECONNECT, mode, t0)
        link.reader = asyncio.create_task(self._read(link), name=f"{self.venue}-reader-{link.conn}")
        return link

    def _mark_down(self, why: str, t_ns: int) -> None:
        first = self._down_since is None
        if first:
            self._down_since = time.monotonic()
        for st in self.states.values():
            if st.status is not StreamStatus.DOWN:
                self.adapter.set_status(st, StreamStatus.DOWN, why, t_ns)
                if first:
                    self.adapter.emit(st, FeedEventKind.DISCONNECT, why, t_ns)

    async def _drive(self, link: _Link) -> None:
        """Run until the primary connection ends (following rollovers)."""
        self._link = link
        ticker = asyncio.create_task(self._ticker(), name=f"{self.venue}-ticker")
        try:
            while True:
                assert link.done is not None
                await asyncio.shield(link.done)
                if self._rollover is not None and not self._rollover.done():
                    # The old connection died mid-rollover (e.g. right after serverShutdown): the
                    # new one may still sync, and then nothing was lost.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._rollover)
                if self._link is not link and self._link is not None:
                    link = self._link
                    continue
                break
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            if self._rollover is not None and not self._rollover.done():
                self._rollover.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._rollover
            if self._link is not None and self._link is not link:
                # Cancelled right after a rollover switched: the new link is the one to close.
                await self._close_link(link)
                link = self._link
            await self._close_link(link)
            t = time.time_ns()
            reason = link.reason or "closed"
            with contextlib.suppress(Exception):
                link.adapter.on_close(t, reason)
            if self.capture is not None:
                self.capture.event(t, self.venue, link.conn, "close")
            for st in self.states.values():
                link.adapter.emit(st, FeedEventKind.DISCONNECT, reason, t)
            log.info("%s: connection closed: %s", self.venue, reason)

    async def _close_link(self, link: _Link) -> None:
        for t in list(link.tasks):
            t.cancel()
        if link.reader is not None and not link.reader.done():
            link.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.reader
        with contextlib.suppress(Exception):
            await asyncio.wait_for(link.ws.close(), 2)

    async def _shutdown(self) -> None:
        if self._rollover is not None:
            self._rollover.cancel()
        if self._link is not None:
            await self._close_link(self._link)
            self._link = None

    async def _read(self, link: _Link) -> None:
        try:
            await self._perform(link, self._call(link, lambda: link.adapter.on_open(time.time_ns())))
            async for msg in link.ws:
                await self._perform(link, self._feed(link, msg, time.time_ns()))
            link.reason = link.reason or f"closed by server ({link.ws.close_code})"
        except ConnectionClosed as e:
            link.reason = link.reason or f"connection lost ({e})"
        except _Closed:
            pass
        except asyncio.CancelledError:
            link.reason = link.reason or "cancelled"
            raise
        except Exception as e:  # a runner bug: still only costs a reconnect
            log.exception("%s: reader failed", self.venue)
            link.reason = link.reason or f"reader error: {e}"
        finally:
            if link.done is not None and not link.done.done():
                link.done.set_result(link.reason)

    def _call(self, link: _Link, fn: Callable[[], list[Action]]) -> list[Action]:
        try:
            return fn()
        except Exception as e:
            self.adapter_errors += 1
            link.adapter_failed = True
            sym = link.adapter.last_frame_symbol
            st = link.adapter.states.get(sym)
            if st is not None:
                st.counters.malformed += 1
            log.exception("%s: adapter error, reconnecting with a fresh adapter", self.venue)
            link.request_close(f"adapter error: {type(e).__name__}: {e}")
            raise _Closed from e

    def _call_quiet(self, link: _Link, fn: Callable[[], list[Action]]) -> list[Action]:
        try:
            return self._call(link, fn)
        except _Closed:
            return []

    def _feed(self, link: _Link, text: str | bytes, t_ns: int) -> list[Action]:
        """One received frame (or snapshot reply) through the adapter."""
        if link.detached or link.reason:
            return []
        adapter = link.adapter
        try:
            actions = self._call(link, lambda: adapter.on_frame(text, t_ns))
        finally:
            sym = adapter.last_frame_symbol
            if self.capture is not None:
                self.capture.frame(t_ns, self.venue, sym, text, link.conn)
        now = time.monotonic()
        link.last_rx = now
        if sym:
            link.last_rx_sym[sym] = now
            st = adapter.states.get(sym)
            if st is not None and st.status is StreamStatus.STALE:
                adapter.set_status(st, StreamStatus.LIVE, "frames resumed", t_ns)
        if not link.synced and all(st.status is StreamStatus.LIVE for st in adapter.states.values()):
            link.synced = True
        if link is self._rollover_link and not link.ready.is_set() and self._ready_to_switch(link):
            link.ready.set()
        return actions

    async def _perform(self, link: _Link, actions: list[Action]) -> None:
        for a in actions:
            if link.reason or link.detached:
                return
            if isinstance(a, Send):
                await link.ws.send(a.text)
            elif isinstance(a, FetchSnapshot):
                t = asyncio.create_task(self._fetch(link, a), name=f"{self.venue}-fetch-{a.symbol}")
                link.tasks.add(t)
                t.add_done_callback(link.tasks.discard)
            elif isinstance(a, Reconnect):
                if a.rollover:
                    if self._link is link:
                        self.request_rollover(a.reason)
                    continue
                link.request_close(a.reason)
                raise _Closed

    async def _fetch(self, link: _Link, a: FetchSnapshot) -> None:
        """Get one snapshot reply and feed it back through the adapter (retrying a few times)."""
        text = None
        for attempt in range(self.fetch_attempts):
            self.fetches += 1
            try:
                if a.url.startswith(("ws://", "wss://")):
                    async with connect(a.url, max_size=self.cfg.max_frame_bytes, open_timeout=self.open_timeout_s,
                                       proxy=_proxy_for(a.url), close_timeout=1) as ws:
                        await ws.send(a.request)
                        text = await asyncio.wait_for(ws.recv(), self.fetch_timeout_s)
                else:
                    status, body = await http_get(a.url, timeout=self.fetch_timeout_s,
                                                  max_bytes=self.cfg.max_frame_bytes)
                    if status != 200:
                        raise RuntimeError(f"HTTP {status}: {body[:120]}")
                    text = body
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("%s %s: snapshot fetch failed (%s), attempt %d", self.venue, a.symbol, e, attempt + 1)
                await asyncio.sleep(self.cfg.reconnect_min_s * 2**attempt)
        if text is None:
            link.request_close(f"snapshot for {a.symbol} unavailable")
            return
        with contextlib.suppress(_Closed, ConnectionClosed):
            await self._perform(link, self._feed(link, text, time.time_ns()))

    # ---- timers ------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        tick = min(1.0, self.cfg.stale_after_s / 4)
        while True:
            await asyncio.sleep(tick)
            link = self._link
            if link is None:
                continue
            try:
                self._tick(link)
                for lk in (link, self._rollover_link):
                    if lk is not None and not lk.reason:
                        t_ns = time.time_ns()
                        keep = self._call_quiet(lk, lambda lk=lk, t_ns=t_ns: lk.adapter.keepalive(t_ns))
                        with contextlib.suppress(_Closed, ConnectionClosed):
                            await self._perform(lk, keep)
            except Exception:
                log.exception("%s: timer error", self.venue)

    def _tick(self, link: _Link) -> None:
        """Stale marking, the silence watchdog and the age-based rollover."""
        t_ns = time.time_ns()
        now = time.monotonic()
        stale = self.cfg.stale_after_s
        for sym, st in self.states.items():
            if st.status is StreamStatus.LIVE and now - link.last_rx_sym.get(sym, link.opened) > stale:
                link.adapter.set_status(st, StreamStatus.STALE, f"no frames for {stale:g}s", t_ns)
                link.adapter.emit(st, FeedEventKind.STALE, f"no frames for {stale:g}s", t_ns)
        if now - link.last_rx > 3 * stale and not link.reason:
            link.request_close(f"silent for {3 * stale:g}s")
        elif now - link.opened > self.cfg.rollover_s:
            self.request_rollover("connection age")

    _rollover_link: _Link | None = None

    def _ready_to_switch(self, new: _Link) -> bool:
        """The new connection has every book the old one has (a symbol the venue never serves,
        e.g. a typo in the config, must not block the rollover forever)."""
        needed = [s for s, st in self.states.items() if st.status in (StreamStatus.LIVE, StreamStatus.STALE)]
        return all(new.adapter.states[s].status is StreamStatus.LIVE for s in needed or self.states)

    async def _do_rollover(self, old: _Link, reason: str) -> None:
        log.info("%s: rolling over (%s)", self.venue, reason)
        adapter = self.factory()
        link = await self._connect(adapter, "rollover")
        if link is None:
            old.request_close(f"rollover failed ({reason})")
            return
        self._rollover_link = link
        try:
            assert link.done is not None
            waiter = asyncio.ensure_future(link.ready.wait())
            try:
                await asyncio.wait([waiter, link.done], timeout=self.rollover_timeout_s,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if not link.ready.is_set() or link.reason:
                await self._close_link(link)
                old.request_close(f"rollover did not sync ({reason})")
                return
            t = time.time_ns()
            transplant(self.states, adapter, synced=True)
            old.detached = True
            self.adapter = adapter
            self._link = link
            self.rollovers += 1
            if self.capture is not None:
                self.capture.event(t, self.venue, link.conn, "switch")
            for st in self.states.values():
                adapter.emit(st, FeedEventKind.RECONNECT, f"rollover: {reason}", t)
            old.reason = old.reason or f"rolled over ({reason})"
            await self._close_link(old)
            if old.done is not None and not old.done.done():
                old.done.set_result(old.reason)
        except asyncio.CancelledError:
            if self._link is not link:
                await self._close_link(link)
            raise
        finally:
            self._rollover_link = None
