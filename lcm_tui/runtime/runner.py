"""The I/O half of a feed: one ``StreamRunner`` keeps one venue connection alive forever.

It owns the socket, the clock and the retries; the adapter owns the protocol. The socket is a picows
connection that hands each frame to the adapter from ``data_received``, or a websockets one when a
proxy from the environment applies (``runtime.transport``); the rest of the runner is the same for
both. The runner performs the adapter's actions (send, fetch a snapshot out of band, reconnect),
reconnects with exponential backoff and jitter (so a venue outage does not turn into a reconnect
storm from every client at once), marks symbols STALE when their frames stop, and rolls the
connection over before the venue's 24 h limit *make-before-break*: a second connection is synced
first and only then replaces the old one, so the books never go dark. An adapter bug is logged and
counted and costs one reconnect with a fresh adapter, never the process.

Feeds say why: the reason a stream is down (HTTP 414/429 on the handshake, a handshake that never
completes, DNS failure, connection refused, a frame over ``max_frame_bytes``, invalid UTF-8, no pong)
is turned into one short stable sentence, kept in every affected stream's ``status_detail`` and
logged at WARNING once per change (and once more when the stream is live again), so an operator
without ``-v`` sees why a venue is dark.

Venues limit what one connection may carry (Binance: streams in the URL and per connection, OKX:
fewer than 30 deep-book channels): ``split_symbols`` cuts a venue's symbols into chunks that fit, one
runner per chunk, and a shared ``ConnectPacer`` keeps their connection attempts within the venue's
per-IP rate (docs/protocols.md, "Connection limits").

``states`` are stable objects for the life of the runner (the UI and the monitor hold them); on a
rollover the freshly synced books are moved into them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
)

from lcm_tui.config import FeedsConfig, VenueConfig
from lcm_tui.core.model import FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.http import HttpError, describe_network_error, fetch, make_client
from lcm_tui.runtime.transport import FastConnection, describe_closing, describe_open_error, proxied, proxy_for
from lcm_tui.venues import registry
from lcm_tui.venues.base import Action, Adapter, FetchSnapshot, Reconnect, Send
from lcm_tui.venues.spec import VenueLimits

log = logging.getLogger("lcm_tui.runtime.runner")

_conn_ids = itertools.count(1)

AdapterFactory = Callable[[], Adapter]

# Why a stream is down is said once per change of reason, never once per retry.
_reasons = RateLimitedLog(log)


# ----------------------------------------------------------------------------- per-venue limits
def venue_limits(venue: str) -> VenueLimits:
    """The venue's documented per-connection and per-IP limits, declared in its spec."""
    try:
        return registry.spec(venue).limits
    except KeyError:
        return VenueLimits()


def split_symbols(adapter_cls: Callable[[VenueConfig, list[str]], Adapter], cfg: VenueConfig,
                  symbols: list[str] | None = None) -> list[list[str]]:
    """Cut a venue's symbols into connection-sized chunks (in config order, none empty).

    A chunk holds at most the venue's ``max_symbols``, and an adapter built for it must produce a URL
    of at most ``max_url_bytes``: the URL is measured from the adapter itself, so a venue that names
    its streams in the URL is cut by what it really sends.
    """
    syms = list(cfg.symbols if symbols is None else symbols)
    if not syms:
        return [[]]
    lim = venue_limits(cfg.name)
    cap = lim.max_symbols or len(syms)
    size = -(-len(syms) // -(-len(syms) // cap))  # as few chunks as the cap allows, evenly filled
    chunks = [syms[i:i + size] for i in range(0, len(syms), size)]
    if lim.max_url_bytes is None:
        return chunks
    url_cap = lim.max_url_bytes

    def url_len(part: list[str]) -> int:
        return len(adapter_cls(cfg, part).url().encode())

    out: list[list[str]] = []
    while chunks:
        chunk = chunks.pop(0)
        n = len(chunk)
        while n > 1 and (size_n := url_len(chunk[:n])) > url_cap:
            n = max(1, min(n - 1, n * url_cap // size_n))  # shrink in proportion, then step down
        out.append(chunk[:n])
        if chunk[n:]:
            chunks.insert(0, chunk[n:])
    # As many connections as the greedy cut needs, but evenly filled when that fits too.
    size = -(-len(syms) // len(out))
    even = [syms[i:i + size] for i in range(0, len(syms), size)]
    if len(even) == len(out) and all(len(c) <= cap and url_len(c) <= url_cap for c in even):
        return even
    return out


class ConnectPacer:
    """Spaces the connection attempts of every runner of one venue (the venues limit them per IP).

    Attempts are kept ``1 / per_s`` apart, which satisfies both "N per second" and "N per 5 minutes"
    limits; a single runner that reconnects after a long time never waits.
    """

    def __init__(self, per_s: float) -> None:
        self.interval = 1.0 / per_s if per_s > 0 else 0.0
        self._next = 0.0

    @classmethod
    def for_venue(cls, venue: str) -> ConnectPacer:
        return cls(venue_limits(venue).connects_per_s)

    def delay(self, now: float) -> float:
        """Book the next attempt slot; how long to wait from ``now`` (a monotonic time) until it."""
        at = max(now, self._next)
        self._next = at + self.interval
        return at - now

    async def wait(self) -> None:
        d = self.delay(asyncio.get_running_loop().time())
        if d > 0:
            await asyncio.sleep(d)


class SnapshotBudget:
    """The request weight a venue lets one IP spend per minute, shared by all of its runners.

    A bucket of half the minute's weight that refills at half the minute's weight per minute: a
    first sync bursts what the bucket holds, and no 60 s window, however placed, ever spends more
    than ``per_minute``. A request that does not fit books its weight anyway and waits until the
    bucket would have covered it, so requests are served in the order they asked.
    """

    def __init__(self, per_minute: float) -> None:
        self.capacity = per_minute / 2
        self.rate = per_minute / 2 / 60.0
        self.tokens = self.capacity
        self._t: float | None = None

    @classmethod
    def for_venue(cls, venue: str) -> SnapshotBudget | None:
        lim = venue_limits(venue)
        return cls(lim.weight_per_minute) if lim.weight_per_minute > 0 and lim.snapshot_weight else None

    def delay(self, now: float, weight: float) -> float:
        """Spend ``weight`` at ``now`` (monotonic seconds); how long to wait before sending."""
        if self._t is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self._t) * self.rate)
        self._t = now
        self.tokens -= weight
        return max(0.0, -self.tokens / self.rate) if self.rate > 0 else 0.0


class _WsRequests:
    """Persistent request/reply WebSocket connections (Binance's WS-API ``depth``), reused per URL.

    Opening one connection per snapshot would cost hundreds of handshakes when hundreds of symbols
    sync (and Binance counts each WS-API connection against the request weight). One request at a
    time per connection, so the reply is the next frame carrying the request's ``id``.
    """

    def __init__(self, runner: StreamRunner) -> None:
        self.runner = runner
        self.idle: dict[str, list[ClientConnection]] = {}

    async def _open(self, url: str) -> ClientConnection:
        r = self.runner
        return await connect(url, max_size=r.cfg.max_frame_bytes, open_timeout=r.open_timeout_s,
                             proxy=proxy_for(url), close_timeout=1)

    async def request(self, url: str, text: str) -> str | bytes:
        try:
            rid = orjson.loads(text).get("id") if text.startswith("{") else None
        except (orjson.JSONDecodeError, AttributeError):
            rid = None
        pool = self.idle.setdefault(url, [])
        while pool:
            ws = pool.pop()
            try:
                reply = await self._exchange(ws, text, rid)
            except ConnectionClosed:
                continue  # closed while idle (24 h limit, serverShutdown): try the next or a new one
            except BaseException:
                await self._discard(ws)
                raise
            self._keep(url, ws)
            return reply
        ws = await self._open(url)
        try:
            reply = await self._exchange(ws, text, rid)
        except BaseException:
            await self._discard(ws)
            raise
        self._keep(url, ws)
        return reply

    async def _exchange(self, ws: ClientConnection, text: str, rid: Any) -> str | bytes:
        await ws.send(text)
        async with asyncio.timeout(self.runner.fetch_timeout_s):
            for _ in range(64):
                reply = await ws.recv()
                if rid is None:
                    return reply
                try:
                    got = orjson.loads(reply)
                except orjson.JSONDecodeError:
                    return reply  # the adapter counts what it cannot parse
                if type(got) is dict and got.get("id") != rid:
                    continue  # not ours (an event such as this connection's serverShutdown)
                return reply
        raise TimeoutError("no reply carrying the request id")

    def _keep(self, url: str, ws: ClientConnection) -> None:
        pool = self.idle.setdefault(url, [])
        if len(pool) < self.runner.fetch_concurrency:
            pool.append(ws)
        else:
            t = asyncio.ensure_future(ws.close())
            self.runner._bg.add(t)
            t.add_done_callback(self.runner._bg.discard)

    @staticmethod
    async def _discard(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 1)

    async def close(self) -> None:
        conns = [ws for pool in self.idle.values() for ws in pool]
        self.idle.clear()
        await asyncio.gather(*(self._discard(ws) for ws in conns))


# ----------------------------------------------------------------------------- reasons
def _phrase(code: int) -> str:
    try:
        return " " + HTTPStatus(code).phrase
    except ValueError:
        return ""


def describe_connect_error(exc: BaseException, open_timeout_s: float) -> str:
    """Why opening the WebSocket failed, as one short stable sentence."""
    said = describe_open_error(exc)
    if said is not None:
        return said
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        retry = exc.response.headers.get("Retry-After")
        return f"handshake refused: HTTP {code}{_phrase(code)}" + (f" (Retry-After {retry[:12]})" if retry else "")
    if isinstance(exc, TimeoutError):
        return f"opening handshake timed out after {open_timeout_s:g}s"
    if isinstance(exc, InvalidURI):
        return f"invalid URL ({exc})"[:160]
    if isinstance(exc, InvalidMessage):
        return "handshake failed: no valid HTTP response"
    if isinstance(exc, InvalidHandshake):
        return f"handshake failed: {exc}"[:160]
    return describe_network_error(exc)


def describe_close(exc: ConnectionClosed, cfg: FeedsConfig) -> str:
    """Why an open connection ended, from the close frames (ours first: we closed for a reason)."""
    return describe_closing(exc.sent, exc.rcvd, exc.rcvd_then_sent, cfg.max_frame_bytes, cfg.ping_interval_s,
                            too_big=isinstance(exc.__cause__, PayloadTooBig))


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
    ws: ClientConnection | FastConnection
    conn: int = field(default_factory=lambda: next(_conn_ids))
    opened: float = field(default_factory=time.monotonic)
    last_rx: float = field(default_factory=time.monotonic)
    last_rx_sym: dict[str, float] = field(default_factory=dict)
    done: asyncio.Future[str] | None = None
    reader: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    reason: str = ""
    synced: bool = False  # every symbol was LIVE at some point
    synced_at: float = 0.0
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
    stable_after_s = 30.0  # a connection synced this long is healthy: the next failure is news again
    fetch_concurrency = 4  # snapshot requests in flight at once (hundreds of symbols sync at start)
    rollover_timeout_s = 60.0

    def __init__(self, adapter_factory: AdapterFactory, feeds_cfg: FeedsConfig, capture: Capture | None = None,
                 *, seed: int | None = None, pacer: ConnectPacer | None = None,
                 budget: SnapshotBudget | None = None, label: str = "") -> None:
        self.factory = adapter_factory
        self.cfg = feeds_cfg
        self.capture = capture
        self.adapter = adapter_factory()
        self.venue = self.adapter.venue
        self.label = label or self.venue  # in logs: several runners may serve one venue
        self.pacer = pacer
        self.budget = budget  # shared by the venue's runners (hub); None: not budgeted
        self._requests = _WsRequests(self)
        self._bg: set[asyncio.Future[Any]] = set()
        self.reason = ""  # why the streams are not live (the last failure while retrying); "" when healthy
        self._said_live = False
        self._fetch_sem = asyncio.Semaphore(self.fetch_concurrency)
        self._http: httpx.AsyncClient | None = None
        self.states: dict[str, SymbolState] = dict(self.adapter.states)
        self.attempts = 0  # consecutive connections that failed or never synced
        self.connects = 0
        self.adapter_errors = 0
        self.rollovers = 0
        self.fetches = 0
        self.last_delay = 0.0
        self._rng = random.Random(seed)
        self._backoff = Backoff(feeds_cfg.reconnect_min_s, feeds_cfg.reconnect_max_s, rand=self._rng.random)
        self._link: _Link | None = None
        self._rollover: asyncio.Task[None] | None = None
        self._down_since: float | None = None

    # ---- public ------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.reason

    def _note(self, reason: str) -> None:
        """Remember why the streams are not live; logged at WARNING when it differs from the last one.

        A connection that syncs and then fails the same way again (a venue that cuts every connection
        after the snapshot) repeats nothing: the reason is forgotten only once a connection has stayed
        synced for ``stable_after_s``.
        """
        self.reason = reason
        if _reasons.changed(f"runner:{id(self)}", reason, "%s: %s", self.label, reason):
            self._said_live = False

    def _recovered(self) -> None:
        if self.reason and not self._said_live:
            log.warning("%s: live again (was: %s)", self.label, self.reason)
            self._said_live = True
        self.reason = ""

    def _stable(self) -> None:
        _reasons.forget(f"runner:{id(self)}")
        self._said_live = False

    def backoff(self) -> float:
        """Exponential backoff with jitter in [min, max], growing with consecutive failures."""
        return self._backoff.delay(self.attempts)

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
                    log.exception("%s: runner error", self.label)
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
        if link is not None and not link.synced and link.reason:
            # It never served a book: the streams are down, and say why until one syncs.
            self._mark_down(link.reason, time.time_ns(), announce=False)
        if link is not None and link.adapter_failed:
            self.adapter = self.factory()
            transplant(self.states, self.adapter, synced=False)
            return "fresh"
        return "reuse"

    # ---- connections -------------------------------------------------------------------------
    async def _connect(self, adapter: Adapter, mode: str) -> _Link | None:
        if self.pacer is not None:
            await self.pacer.wait()
        t0 = time.time_ns()
        url = ""
        try:
            url = adapter.url()
            ws: ClientConnection | FastConnection
            if not self.cfg.compression and not proxied(url):  # picows (runtime.transport)
                ws = await FastConnection.open(url, max_frame_bytes=self.cfg.max_frame_bytes,
                                               open_timeout_s=self.open_timeout_s,
                                               ping_interval_s=self.cfg.ping_interval_s)
            else:
                ws = await connect(url, max_size=self.cfg.max_frame_bytes, open_timeout=self.open_timeout_s,
                                   ping_interval=self.cfg.ping_interval_s, ping_timeout=self.cfg.ping_interval_s,
                                   close_timeout=2, proxy=proxy_for(url), max_queue=256)
        except Exception as e:
            why = describe_connect_error(e, self.open_timeout_s)
            if mode != "rollover":
                self._mark_down(why, t0)
                self._note(why)
            else:
                log.warning("%s: rollover connection failed: %s", self.label, why)
            log.info("%s: connect to %.200s failed: %r", self.label, url, e)
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

    def _mark_down(self, why: str, t_ns: int, *, announce: bool = True) -> None:
        """Every stream DOWN with ``why`` (the latest reason replaces an older one).

        ``announce``: emit the DISCONNECT event, once per outage (a closed connection already did).
        """
        first = self._down_since is None
        if first:
            self._down_since = time.monotonic()
        for st in self.states.values():
            if st.status is not StreamStatus.DOWN:
                self.adapter.set_status(st, StreamStatus.DOWN, why, t_ns)
                if first and announce:
                    self.adapter.emit(st, FeedEventKind.DISCONNECT, why, t_ns)
            st.status_detail = why

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
            if reason == "cancelled":  # shutting down: nothing is wrong
                log.info("%s: connection closed: %s", self.label, reason)
            else:
                self._note(f"connection closed: {reason}")

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
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
            self._http = None
        await self._requests.close()

    async def _read(self, link: _Link) -> None:
        try:
            actions = self._call(link, lambda: link.adapter.on_open(time.time_ns()))
            if self.reason and link is self._link:
                # Still retrying after a failure: keep saying which while the streams sync.
                for st in self.states.values():
                    if st.status is not StreamStatus.LIVE and self.reason not in st.status_detail:
                        st.status_detail = f"{st.status_detail}; after: {self.reason}".lstrip("; ")
            await self._perform(link, actions)
            ws = link.ws
            if isinstance(ws, FastConnection):
                # Frames come in from data_received, straight through the adapter (no queue, no task switch).
                await asyncio.shield(ws.serve(functools.partial(self._pushed, link)))
                link.reason = link.reason or ws.why_closed(self.cfg.max_frame_bytes, self.cfg.ping_interval_s)
                return
            async for msg in ws:
                await self._perform(link, self._feed(link, msg, time.time_ns()))
            exc = ws.protocol.close_exc
            link.reason = link.reason or (describe_close(exc, self.cfg) if isinstance(exc, ConnectionClosed)
                                          else f"closed by the venue ({ws.close_code})")
        except ConnectionClosed as e:
            link.reason = link.reason or describe_close(e, self.cfg)
        except _Closed:
            pass
        except asyncio.CancelledError:
            link.reason = link.reason or "cancelled"
            raise
        except Exception as e:  # a runner bug: still only costs a reconnect
            log.exception("%s: reader failed", self.label)
            link.reason = link.reason or f"reader error: {e}"
        finally:
            if isinstance(link.ws, FastConnection):
                link.ws.stop_delivery()  # this reader is done: nothing more is fed from the connection
            if link.done is not None and not link.done.done():
                link.done.set_result(link.reason)

    def _pushed(self, link: _Link, msg: str | bytes) -> None:
        """One message from a picows connection, fed and acted on before the next one is parsed."""
        try:
            actions = self._feed(link, msg, time.time_ns())
            if actions:
                self._perform_now(link, actions)
        except _Closed:
            pass  # the adapter failed: the connection is closing (_call said why)
        except Exception as e:  # a runner bug: still only costs a reconnect
            log.exception("%s: reader failed", self.label)
            link.request_close(f"reader error: {e}")

    def _call(self, link: _Link, fn: Callable[[], list[Action]]) -> list[Action]:
        try:
            return fn()
        except Exception as e:
            self._adapter_failed(link, e)
            raise _Closed from e

    def _adapter_failed(self, link: _Link, e: Exception) -> None:
        """An adapter raised (a bug: ``on_frame`` never should): count it, close, start a fresh adapter."""
        self.adapter_errors += 1
        link.adapter_failed = True
        sym = link.adapter.last_frame_symbol
        st = link.adapter.states.get(sym)
        if st is not None:
            st.counters.malformed += 1
        log.exception("%s: adapter error, reconnecting with a fresh adapter", self.label)
        link.request_close(f"adapter error: {type(e).__name__}: {e}")

    def _call_quiet(self, link: _Link, fn: Callable[[], list[Action]]) -> list[Action]:
        try:
            return self._call(link, fn)
        except _Closed:
            return []

    def _feed(self, link: _Link, text: str | bytes, t_ns: int, snapshot_for: str = "") -> list[Action]:
        """One received frame (or, with ``snapshot_for``, the snapshot reply fetched for that symbol)."""
        if link.detached or link.reason:
            return []
        adapter = link.adapter
        try:
            actions = adapter.on_snapshot(snapshot_for, text, t_ns) if snapshot_for else adapter.on_frame(text, t_ns)
        except Exception as e:
            self._adapter_failed(link, e)
            raise _Closed from e
        finally:
            sym = snapshot_for or adapter.last_frame_symbol
            if self.capture is not None:
                self.capture.frame(t_ns, self.venue, sym, text, link.conn, snapshot=bool(snapshot_for))
        now = time.monotonic()
        link.last_rx = now
        if sym:
            link.last_rx_sym[sym] = now
            st = adapter.states.get(sym)
            if st is not None and st.status is StreamStatus.STALE:
                adapter.set_status(st, StreamStatus.LIVE, "frames resumed", t_ns)
        if not link.synced and all(st.status is StreamStatus.LIVE for st in adapter.states.values()):
            link.synced = True
            link.synced_at = now
            if link is self._link:
                self._recovered()
        if link is self._rollover_link and not link.ready.is_set() and self._ready_to_switch(link):
            link.ready.set()
        return actions

    async def _perform(self, link: _Link, actions: list[Action]) -> None:
        for a in actions:
            if link.reason or link.detached:
                return
            if isinstance(a, Send):
                await link.ws.send(a.text)
            elif not self._act(link, a):
                raise _Closed

    def _perform_now(self, link: _Link, actions: list[Action]) -> None:
        """``_perform`` without waiting: a picows send is written at once, in order."""
        ws = link.ws
        assert isinstance(ws, FastConnection)
        for a in actions:
            if link.reason or link.detached:
                return
            if isinstance(a, Send):
                ws.send_now(a.text)
            elif not self._act(link, a):
                return

    def _act(self, link: _Link, a: Action) -> bool:
        """A snapshot fetch or a reconnect; False when the connection is closing now."""
        if isinstance(a, FetchSnapshot):
            t = asyncio.create_task(self._fetch(link, a), name=f"{self.venue}-fetch-{a.symbol}")
            link.tasks.add(t)
            t.add_done_callback(link.tasks.discard)
        elif isinstance(a, Reconnect):
            if a.rollover:
                if self._link is link:
                    self.request_rollover(a.reason)
                return True
            link.request_close(a.reason)
            return False
        return True

    async def _fetch(self, link: _Link, a: FetchSnapshot) -> None:
        """Get one snapshot reply and feed it back through the adapter (retrying a few times)."""
        text = None
        why = ""
        for attempt in range(self.fetch_attempts):
            self.fetches += 1
            try:
                async with self._fetch_sem:
                    await self._spend(link, a)
                    text = await self._fetch_once(a)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                why = self._describe_fetch_error(e)
                st = link.adapter.states.get(a.symbol)
                if st is not None and st.status is not StreamStatus.LIVE:
                    st.status_detail = f"snapshot fetch failed: {why}"
                log.info("%s %s: snapshot fetch failed (%s), attempt %d", self.label, a.symbol, why, attempt + 1)
                await asyncio.sleep(self._backoff.delay(attempt))
        if text is None:
            if link is self._link:
                self._note(f"snapshot for {a.symbol} failed: {why}")
            link.request_close(f"snapshot for {a.symbol} unavailable: {why}")
            return
        with contextlib.suppress(_Closed, ConnectionClosed):
            await self._perform(link, self._feed(link, text, time.time_ns(), snapshot_for=a.symbol))

    async def _spend(self, link: _Link, a: FetchSnapshot) -> None:
        """Wait until the venue's request-weight budget covers this snapshot."""
        weigh = venue_limits(self.venue).snapshot_weight
        if self.budget is None or weigh is None:
            return
        depth = getattr(link.adapter, "depth", 0)
        wait = self.budget.delay(asyncio.get_running_loop().time(), weigh(depth if isinstance(depth, int) else 0))
        if wait > 0:
            st = link.adapter.states.get(a.symbol)
            if st is not None and st.status is not StreamStatus.LIVE:
                st.status_detail = f"waiting {wait:.0f}s for the venue's request-weight budget"
            await asyncio.sleep(wait)

    async def _fetch_once(self, a: FetchSnapshot) -> str | bytes:
        if a.url.startswith(("ws://", "wss://")):
            return await self._requests.request(a.url, a.request)
        if self._http is None:
            self._http = make_client(timeout=self.fetch_timeout_s)
        status, body = await fetch(self._http, a.url, timeout=self.fetch_timeout_s,
                                   max_bytes=self.cfg.max_frame_bytes)
        if status != 200:
            raise HttpError(f"HTTP {status}{_phrase(status)}")
        return body

    def _describe_fetch_error(self, e: Exception) -> str:
        if isinstance(e, HttpError):
            return str(e)
        if isinstance(e, ConnectionClosed):
            return describe_close(e, self.cfg)
        if isinstance(e, TimeoutError):
            return f"no reply within {self.fetch_timeout_s:g}s"
        return describe_connect_error(e, self.open_timeout_s)

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
                        keep = self._call_quiet(lk, functools.partial(lk.adapter.keepalive, t_ns))
                        with contextlib.suppress(_Closed, ConnectionClosed):
                            await self._perform(lk, keep)
            except Exception:
                log.exception("%s: timer error", self.label)

    def _tick(self, link: _Link) -> None:
        """Stale marking, the silence watchdog and the age-based rollover."""
        t_ns = time.time_ns()
        now = time.monotonic()
        stale = self.cfg.stale_after_s
        for sym, st in self.states.items():
            if st.status is StreamStatus.LIVE and now - link.last_rx_sym.get(sym, link.opened) > stale:
                link.adapter.set_status(st, StreamStatus.STALE, f"no frames for {stale:g}s", t_ns)
                link.adapter.emit(st, FeedEventKind.STALE, f"no frames for {stale:g}s", t_ns)
        if link.synced and now - link.synced_at > self.stable_after_s:
            self._stable()
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
        log.info("%s: rolling over (%s)", self.label, reason)
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
                both: list[asyncio.Future[Any]] = [waiter, link.done]
                await asyncio.wait(both, timeout=self.rollover_timeout_s,
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
