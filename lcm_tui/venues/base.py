"""The sans-I/O contract every venue adapter implements, and the per-symbol state it keeps.

An adapter turns received text frames into book changes and tells its runner what to send or do
next. It never touches a socket, a clock or a file: the live runner (``runtime/runner.py``), the
replayer (``runtime/replay.py``) and the tests all drive the same adapter code, which is what makes
replay exact and the adapters testable and fast.

Rules every adapter follows:

* Parse with ``orjson`` (Kraken: with exact decimals, see its module). A frame that cannot be parsed
  or has the wrong shape is *counted* (``counters.malformed``) and logged (rate-limited), never
  raised: ``on_frame`` must not raise for any input.
* A gap, a checksum mismatch or a crossed book discards that symbol's book, counts it, emits a
  ``FeedEvent`` and resyncs *that symbol only* (other symbols on the same connection keep going).
* Repeated resyncs of one symbol back off, because a venue whose checksums or sequence never match
  (a venue bug, a changed checksum rule) would otherwise get a resubscribe storm, which venues answer
  with a ban (OKX allows 480 subscribe/unsubscribe requests per hour per connection). A run of
  resyncs is a *streak*; the first resync of a streak acts at once (a lost message is the common case
  and must cost nothing), and the k-th (k >= 2) is deferred by the project's ``Backoff`` with
  ``min_s=RESYNC_MIN_S``, ``max_s=RESYNC_MAX_S``, ``jitter=RESYNC_JITTER`` and ``failures = k - 2``.
  The delay is data, not a sleep: the adapter remembers when the resubscribe is due and returns it
  from ``keepalive(t_ns)`` once ``t_ns`` has passed it (the runner calls ``keepalive`` about once a
  second, so a resubscribe goes out at most a tick late). Replay never calls ``keepalive`` and takes
  the recorded snapshot as it comes, so it stays deterministic (the jitter is seeded from the
  streak's first resync time) and never sleeps. While it waits, the stream's status detail says so,
  e.g. ``checksum mismatch x5; resubscribe in 4.0s``. A symbol that has stayed LIVE for
  ``RESYNC_STABLE_S`` ends its streak: its next resync acts at once again. A symbol that syncs by
  itself meanwhile (a venue-sent snapshot) or a connection that closes cancels the pending one.
  Subclasses say what "resync" means with ``_forget`` (drop the sequence state) and ``_resubscribe``
  (the actions for a list of symbols); ``start_resync`` returns whether to act now.
* A symbol's book is published (``status == LIVE``) only once it is synced; deltas that arrive
  before the snapshot are buffered and bridged with the venue's rule. A snapshot that no event has
  bridged yet, and a crossed book, are never LIVE.
* An out-of-band snapshot (``FetchSnapshot``) comes back through ``on_snapshot(symbol, ...)``: the
  symbol is the requester's, never guessed from the reply, so captures from any tool replay.

The venue rules each adapter follows are written up in ``docs/protocols.md``.
"""

from __future__ import annotations

import logging
import os
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import FeedEvent, FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff
from lcm_tui.core.settings import VenueConfig

log = logging.getLogger("lcm_tui.feeds")

_c_levels_ok: Callable[[object], bool] | None
try:
    from lcm_tui.core._fastbook import levels_ok as _c_levels_ok
except ImportError:  # the extension is optional (see core.book)
    _c_levels_ok = None
# Module-level so tests can swap it, like core.book._fast_apply; LCM_PURE_PYTHON=1 turns it off.
_levels_ok = None if os.environ.get("LCM_PURE_PYTHON") == "1" else _c_levels_ok

EventSink = Callable[[FeedEvent], None]


# ----------------------------------------------------------------------------- runner actions
@dataclass(slots=True, frozen=True)
class Send:
    """Send this text frame on the adapter's main connection."""

    text: str


@dataclass(slots=True, frozen=True)
class FetchSnapshot:
    """Fetch a snapshot out of band and feed the response text back through ``on_frame``.

    ``url`` is ws(s):// (send ``request`` once, read one reply, e.g. Binance WS-API ``depth``) or
    http(s):// (GET ``url``; ``request`` is unused). The runner captures the reply like any frame.
    """

    symbol: str
    url: str
    request: str = ""


@dataclass(slots=True, frozen=True)
class Reconnect:
    """Drop the connection and open a new one (with backoff), e.g. on ``serverShutdown``.

    ``rollover`` asks for make-before-break: open the new connection first and switch once it is
    synced, so the shown books have no gap.
    """

    reason: str
    rollover: bool = False


Action = Send | FetchSnapshot | Reconnect


_ratelog = RateLimitedLog(log, every=5.0)  # a broken feed must not flood the log

# Resync backoff (see the module docstring). The ceiling keeps a symbol that never syncs to at most
# one unsubscribe/subscribe pair a minute (120 s less its jitter), a fraction of OKX's 480 requests an
# hour per connection; the stable period matches the runner's for connections.
RESYNC_MIN_S = 0.5
RESYNC_MAX_S = 120.0
RESYNC_JITTER = 0.5
RESYNC_STABLE_S = 30.0
_NS = 1_000_000_000

_WHY = {
    FeedEventKind.CHECKSUM: "checksum mismatch",
    FeedEventKind.GAP: "sequence gap",
    FeedEventKind.CROSSED: "crossed book",
    FeedEventKind.MALFORMED: "malformed frame",
}


@dataclass(slots=True)
class ResyncPace:
    """One symbol's current streak of resyncs that no stable LIVE period separated."""

    streak: int = 0
    backoff: Backoff | None = None
    due_ns: int = 0  # a deferred resubscribe is due at this time; 0: none pending
    live_since_ns: int = -1  # when the symbol last became LIVE; -1: not LIVE since the last resync
    why: str = ""  # what the streak is about, for the status detail


def check_levels(levels: Any) -> list[list[str]]:
    """Wire levels must be ``[[price, size, ...], ...]`` of strings: anything else would poison the book.

    The C extension checks a frame's levels in one call (a few microseconds a frame in Python, on every
    frame); whatever it refuses is looked at here again, to say what is wrong.
    """
    if _levels_ok is not None and _levels_ok(levels):
        return cast("list[list[str]]", levels)
    if type(levels) is not list:
        raise ValueError("levels are not a list")
    for lv in levels:
        if type(lv) is not list or len(lv) < 2 or type(lv[0]) is not str or type(lv[1]) is not str:
            raise ValueError(f"bad level {lv!r:.40}")
    return levels


class Adapter(ABC):
    """One venue's wire protocol for one connection carrying one or more symbols."""

    venue: ClassVar[str]
    # What a resync does on this venue, as the status detail says while it backs off.
    resync_verb: ClassVar[str] = "resubscribe"

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        self.cfg = cfg
        self.symbols = list(symbols)
        self.sink = sink
        self.states: dict[str, SymbolState] = {
            s: SymbolState(venue=self.venue, symbol=s, book=OrderBook(self.venue, s, cfg.max_levels))
            for s in self.symbols
        }
        # Symbol of the frame last passed to on_frame ("" when it has none): used by capture.
        self.last_frame_symbol = ""
        # Frames that could not be attributed to a symbol and were malformed.
        self.unattributed_malformed = 0
        self.pace: dict[str, ResyncPace] = {s: ResyncPace() for s in self.symbols}

    # ---- what the runner calls -------------------------------------------------------------
    @abstractmethod
    def url(self) -> str:
        """The URL of the main connection (may encode the subscribed streams)."""

    @abstractmethod
    def on_open(self, t_ns: int) -> list[Action]:
        """The connection is open: subscribe (and request snapshots where the venue needs them)."""

    def on_frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        """Parse, validate and apply one received frame. Never raises.

        The venue's work is in ``_frame``, which may raise on anything it cannot use: that frame is
        counted as malformed and the books it may have touched (``_lost_books``) are resynced, since
        part of it may have been applied or an update was lost.
        """
        self.last_frame_symbol = ""
        try:
            return self._frame(text, t_ns)
        except Exception as e:  # the contract: a bad frame is counted, never raised
            counted, lost = self._lost_books(text)
            self.malformed(counted, text, f"{type(e).__name__}: {e}", t_ns)
            return self._resync_books(lost, FeedEventKind.MALFORMED, "malformed book frame", t_ns)

    def on_snapshot(self, symbol: str, text: str | bytes, t_ns: int) -> list[Action]:
        """A snapshot reply (REST body or WebSocket-API reply) for ``symbol``. Never raises.

        The symbol comes from whoever fetched or recorded the reply (the runner's ``FetchSnapshot``,
        a capture record), never from the reply itself: a REST depth body names no symbol, and a
        WebSocket-API reply carries whatever id its requester chose. Venues whose snapshots arrive
        in-stream have nothing to attribute and take the frame as any other.
        """
        return self.on_frame(text, t_ns)

    def is_snapshot_reply(self, text: str | bytes) -> bool:
        """Whether a recorded frame is an out-of-band snapshot reply (so replay routes it to
        ``on_snapshot`` with the record's symbol even when the capture does not mark it)."""
        return False

    def _frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        """Parse, validate and apply one frame; raise on anything unusable (see ``on_frame``)."""
        raise NotImplementedError(f"{type(self).__name__} overrides neither on_frame nor _frame")

    def _lost_books(self, text: str | bytes) -> tuple[SymbolState | None, list[SymbolState]]:
        """(the state to count a malformed frame on, the states whose books can no longer be trusted).

        By default the symbol whose frame was being parsed, else the one a cut-off frame still names.
        """
        st = self.states.get(self.last_frame_symbol) or self._named(text)
        return st, [st] if st is not None else []

    def _named(self, text: str | bytes) -> SymbolState | None:
        """The symbol a frame that could not be parsed was for, if its text still says (venue-specific)."""
        return None

    def _resync(self, st: SymbolState, kind: FeedEventKind, detail: str, t_ns: int) -> list[Action]:
        """Discard one symbol's book and return the actions that resync it now (or none, deferred)."""
        return self._resync_books([st], kind, detail, t_ns)

    def _resync_books(self, sts: list[SymbolState], kind: FeedEventKind, detail: str,
                      t_ns: int) -> list[Action]:
        now: list[SymbolState] = []
        for st in sts:
            if self.start_resync(st, kind, detail, t_ns):
                now.append(st)
            self._forget(st)
        return self._resubscribe(now) if now else []

    def _forget(self, st: SymbolState) -> None:
        """Drop the symbol's sequence state, so that nothing is applied until it is synced again.

        The default keeps none: a venue whose only state is the book (already cleared) needs nothing.
        """
        return None

    def _resubscribe(self, sts: list[SymbolState]) -> list[Action]:
        """The venue's actions that get fresh snapshots for these symbols."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to resubscribe")

    def keepalive(self, t_ns: int) -> list[Action]:
        """What is due (called about once a second): deferred resubscribes here, pings in subclasses."""
        due = self.due_resyncs(t_ns)
        return self._resubscribe(due) if due else []

    def due_resyncs(self, t_ns: int) -> list[SymbolState]:
        """The symbols whose deferred resubscribe is due at ``t_ns``; they are no longer pending."""
        out: list[SymbolState] = []
        for sym, p in self.pace.items():
            if p.due_ns and t_ns >= p.due_ns:
                p.due_ns = 0
                st = self.states[sym]
                if st.status is StreamStatus.DOWN:
                    continue  # the venue refused the symbol meanwhile: asking again would not help
                st.status_detail = f"{p.why} x{p.streak}; {self.resync_verb} now"
                out.append(st)
        return out

    def resync_pending(self, symbol: str) -> bool:
        """Whether the symbol is waiting out its resync backoff."""
        return self.pace[symbol].due_ns != 0

    def on_close(self, t_ns: int, reason: str = "") -> None:
        """The connection is gone: sequence state is invalid, books wait for a fresh sync."""
        for p in self.pace.values():
            p.due_ns = 0  # the next connection subscribes every symbol anyway
        for st in self.states.values():
            if st.status is not StreamStatus.DOWN:
                self.set_status(st, StreamStatus.CONNECTING, reason)

    # ---- helpers for subclasses ------------------------------------------------------------
    def emit(self, st: SymbolState | None, kind: FeedEventKind, detail: str = "", t_ns: int = 0) -> None:
        if self.sink is not None:
            self.sink(FeedEvent(t_ns, self.venue, st.symbol if st else "", kind, detail))

    def set_status(self, st: SymbolState, status: StreamStatus, detail: str = "", t_ns: int = 0) -> None:
        if st.status is not status:
            st.status = status
            st.status_detail = detail
            if status is StreamStatus.LIVE:
                p = self.pace.get(st.symbol)
                if p is not None:
                    p.live_since_ns = t_ns
                    p.due_ns = 0  # synced by itself (e.g. a venue-sent snapshot): nothing to resubscribe
                self.emit(st, FeedEventKind.LIVE, detail, t_ns)

    def malformed(self, st: SymbolState | None, text: str | bytes, why: str, t_ns: int = 0) -> None:
        """Count and log a frame we could not use; the stream goes on."""
        if st is not None:
            st.counters.malformed += 1
        else:
            self.unattributed_malformed += 1
        preview = text[:160] if isinstance(text, str) else text[:160].decode("utf-8", "replace")
        _ratelog.warn(f"{self.venue}:malformed", "%s: malformed frame (%s): %r", self.venue, why, preview)
        self.emit(st, FeedEventKind.MALFORMED, why, t_ns)

    def start_resync(self, st: SymbolState, kind: FeedEventKind, detail: str, t_ns: int = 0) -> bool:
        """Discard the symbol's book, count why, and say whether to resubscribe now.

        False means the resubscribe is deferred (``keepalive`` returns it when due) or already
        pending: the caller returns no actions for this symbol.
        """
        c = st.counters
        if kind is FeedEventKind.GAP:
            c.gaps += 1
        elif kind is FeedEventKind.CHECKSUM:
            c.checksum_failures += 1
        elif kind is FeedEventKind.CROSSED:
            c.crossed += 1
        c.resyncs += 1
        st.book.clear()
        _ratelog.warn(f"{self.venue}:{st.symbol}:{kind}", "%s %s: %s (%s), resyncing", self.venue,
                      st.symbol, kind, detail)
        self.emit(st, kind, detail, t_ns)
        self.emit(st, FeedEventKind.RESYNC, detail, t_ns)
        self.set_status(st, StreamStatus.RESYNCING, f"{kind}: {detail}", t_ns)
        return self.pace_retry(st, _WHY.get(kind, str(kind)), detail, t_ns)

    def pace_retry(self, st: SymbolState, why: str, detail: str, t_ns: int) -> bool:
        """Count one more attempt to sync ``st`` in its streak; whether to make it now.

        ``start_resync`` calls this; a venue calls it directly for a retry that discards no book
        (Binance refetching a snapshot that did not fit the stream), so that it backs off too.
        When it returns False, ``keepalive`` hands the symbol to ``_resubscribe`` once it is due.
        """
        p = self.pace.get(st.symbol)
        if p is None:
            return True
        if p.due_ns:
            return False  # still waiting: nothing was tried since, so the streak does not grow
        d = self.retry_delay(st, why, detail, t_ns, self.resync_verb)
        if d == 0.0:
            return True
        p.due_ns = t_ns + max(1, int(d * _NS))
        return False

    def retry_delay(self, st: SymbolState, why: str, detail: str, t_ns: int, verb: str = "retry") -> float:
        """Count one more attempt in the symbol's streak and return how long to wait before it
        (0.0 for the first of a streak), for a venue that schedules the retry itself (a snapshot
        request that failed); the status detail says so while it waits."""
        p = self.pace.get(st.symbol)
        if p is None:
            return 0.0
        if p.live_since_ns >= 0 and t_ns - p.live_since_ns >= RESYNC_STABLE_S * _NS:
            p.streak = 0  # it was healthy for a while: this is news, not a loop
        p.live_since_ns = -1
        p.why = why
        if p.streak == 0 or p.backoff is None:
            # Seeded from the symbol and the time, so replay repeats the delays and clients that
            # lost the same venue at the same moment still do not resubscribe in lockstep.
            p.backoff = Backoff(RESYNC_MIN_S, RESYNC_MAX_S, jitter=RESYNC_JITTER,
                                seed=t_ns ^ zlib.crc32(f"{self.venue}:{st.symbol}".encode()))
        p.streak += 1
        if p.streak == 1:
            return 0.0
        p.backoff.failures = p.streak - 2
        d = p.backoff.next()
        st.status_detail = f"{p.why} x{p.streak}; {verb} in {d:.1f}s ({detail})"
        return d
