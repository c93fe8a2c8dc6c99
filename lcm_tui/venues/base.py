"""The sans-I/O contract every venue adapter implements, and the per-symbol state it keeps.

An adapter turns received text frames into book changes and tells its runner what to send or do
next. It never touches a socket, a clock or a file: the live runner (``feeds/runner.py``), the
replayer (``feeds/replay.py``) and the tests all drive the same adapter code, which is what makes
replay exact and the adapters testable and fast.

Rules every adapter follows:

* Parse with ``orjson`` (Kraken: with exact decimals, see its module). A frame that cannot be parsed
  or has the wrong shape is *counted* (``counters.malformed``) and logged (rate-limited), never
  raised: ``on_frame`` must not raise for any input.
* A gap, a checksum mismatch or a crossed book discards that symbol's book, counts it, emits a
  ``FeedEvent`` and returns the actions that resync *that symbol only* (other symbols on the same
  connection keep going).
* A symbol's book is published (``status == LIVE``) only once it is synced; deltas that arrive
  before the snapshot are buffered and bridged with the venue's rule. A snapshot that no event has
  bridged yet, and a crossed book, are never LIVE.
* An out-of-band snapshot (``FetchSnapshot``) comes back through ``on_snapshot(symbol, ...)``: the
  symbol is the requester's, never guessed from the reply, so captures from any tool replay.

The venue rules each adapter follows are written up in ``docs/protocols.md``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import FeedEvent, FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.settings import VenueConfig

log = logging.getLogger("lcm_tui.feeds")

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


def check_levels(levels: Any) -> list[list[str]]:
    """Wire levels must be ``[[price, size, ...], ...]`` of strings: anything else would poison the book."""
    if type(levels) is not list:
        raise ValueError("levels are not a list")
    for lv in levels:
        if type(lv) is not list or len(lv) < 2 or type(lv[0]) is not str or type(lv[1]) is not str:
            raise ValueError(f"bad level {lv!r:.40}")
    return levels


class Adapter(ABC):
    """One venue's wire protocol for one connection carrying one or more symbols."""

    venue: ClassVar[str]

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
        """Discard one symbol's book (``start_resync``) and return the venue's actions to resync it."""
        raise NotImplementedError

    def _resync_books(self, sts: list[SymbolState], kind: FeedEventKind, detail: str,
                      t_ns: int) -> list[Action]:
        out: list[Action] = []
        for st in sts:
            out += self._resync(st, kind, detail, t_ns)
        return out

    def keepalive(self, t_ns: int) -> list[Action]:
        """Application-level pings that are due (called about once a second)."""
        return []

    def on_close(self, t_ns: int, reason: str = "") -> None:
        """The connection is gone: sequence state is invalid, books wait for a fresh sync."""
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

    def start_resync(self, st: SymbolState, kind: FeedEventKind, detail: str, t_ns: int = 0) -> None:
        """Discard the symbol's book and count why; the caller returns the venue's resync actions."""
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
