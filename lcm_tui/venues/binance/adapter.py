"""Binance spot diff-depth (docs/protocols.md, "Binance spot").

One combined-stream connection (``/stream?streams=<sym>@depth@100ms/...``) carries every symbol;
raw ``/ws`` frames (no ``{"stream","data"}`` wrapper) are accepted too, so captures of either kind
replay. Deltas are buffered from the first one on, the snapshot comes from the WebSocket API
``depth`` method (no HTTP needed; an http(s) ``snapshot_url`` means REST instead), and the buffer is
bridged with the exact documented rule: drop ``u <= lastUpdateId``, then every event must satisfy
``U <= book_id + 1``, else it is a gap and that symbol alone restarts from the snapshot step. A
snapshot older than the first buffered event is fetched again. ``serverShutdown`` asks the runner
for a make-before-break rollover.

A loaded snapshot is LIVE only once a delta has been applied on top of it (a snapshot no event
bridges proves nothing about the stream), and a crossed book never is. A REST body or WS-API reply
is attributed by ``on_snapshot`` to the symbol it was fetched for, never guessed from the reply.

The USD-M futures variant (``usdm.py``) only overrides the bridging rules. Rules: ``docs/protocols.md``.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from lcm_tui.core.model import FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.settings import VenueConfig
from lcm_tui.venues.base import Action, Adapter, EventSink, FetchSnapshot, Reconnect
from lcm_tui.venues.binance.spec import BINANCE, BINANCE_USDM

_DEFAULT_DEPTH = {s.name: s.default_depth for s in (BINANCE, BINANCE_USDM)}
MAX_BUFFER = 20_000  # deltas kept while a snapshot is on its way; older ones are dropped
RETRY_NS = 1_000_000_000
MAX_IN_FLIGHT = 20  # older-than-snapshot events tolerated right after a sync
_SYMBOL_RE = re.compile(rb'"stream":"([a-z0-9]+)@|"s":"([A-Z0-9]+)"')


@dataclass(slots=True)
class _Sync:
    """Per-symbol sequence state: everything a reconnect must forget."""

    buffer: deque[dict[str, Any]] = field(default_factory=deque)
    book_id: int | None = None  # None: not synced
    first_pending: bool = False  # USD-M: the first event after the snapshot must straddle it
    awaiting: bool = False  # a snapshot request is out
    retry_at_ns: int = 0  # re-request the snapshot at this time (after an error reply)
    backwards: int = 0  # consecutive events older than the book


class BinanceAdapter(Adapter):
    venue: ClassVar[str] = "binance"
    max_depth: ClassVar[int] = 5000
    stream_suffix: ClassVar[str] = "@depth@100ms"
    resync_verb: ClassVar[str] = "refetch"  # a resync is a new snapshot; the stream stays subscribed

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        super().__init__(cfg, [s.upper() for s in symbols], sink)
        self.depth = min(cfg.depth or _DEFAULT_DEPTH[self.venue], self.max_depth)
        self._sync: dict[str, _Sync] = {s: _Sync() for s in self.symbols}
        self._req = 0
        self._http_inflight: str | None = None
        # Symbols waiting for their REST request, in order (a dict as an ordered set: O(1) membership).
        self._http_queue: dict[str, None] = {}
        self.snapshots_requested = 0

    # ---- connection --------------------------------------------------------------------------
    def url(self) -> str:
        streams = "/".join(s.lower() + self.stream_suffix for s in self.symbols)
        return f"{self.cfg.ws_url.rstrip('/')}/stream?streams={streams}"

    def on_open(self, t_ns: int) -> list[Action]:
        for sym, st in self.states.items():
            self._sync[sym] = _Sync()
            self.set_status(st, StreamStatus.SYNCING, "waiting for the first delta", t_ns)
        self._http_inflight = None
        self._http_queue.clear()
        return []

    def on_close(self, t_ns: int, reason: str = "") -> None:
        for sym in self.symbols:
            self._sync[sym] = _Sync()
        self._http_inflight = None
        self._http_queue.clear()
        super().on_close(t_ns, reason)

    def keepalive(self, t_ns: int) -> list[Action]:
        out = super().keepalive(t_ns)  # resyncs whose backoff has run out: their snapshot requests
        for sym, sync in self._sync.items():
            if sync.retry_at_ns and t_ns >= sync.retry_at_ns and not sync.awaiting:
                sync.retry_at_ns = 0
                out += self._request(sym)
        return out

    # ---- snapshot requests -------------------------------------------------------------------
    def _http(self) -> bool:
        return self.cfg.snapshot_url.startswith(("http://", "https://"))

    def _request(self, sym: str) -> list[Action]:
        sync = self._sync[sym]
        sync.awaiting = True
        self.snapshots_requested += 1
        if self._http():
            if self._http_inflight is not None:
                # REST replies carry no symbol: one request at a time keeps them attributable.
                if sym != self._http_inflight:
                    self._http_queue[sym] = None
                return []
            self._http_inflight = sym
            return [FetchSnapshot(sym, f"{self.cfg.snapshot_url}?symbol={sym}&limit={self.depth}")]
        self._req += 1
        req = {"id": f"d{self._req}x{sym}", "method": "depth", "params": {"symbol": sym, "limit": self.depth}}
        return [FetchSnapshot(sym, self.cfg.snapshot_url, orjson.dumps(req).decode())]

    # ---- frames ------------------------------------------------------------------------------
    def on_frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        return self._guarded(text, t_ns, None)

    def on_snapshot(self, symbol: str, text: str | bytes, t_ns: int) -> list[Action]:
        sym = symbol.upper()
        return self._guarded(text, t_ns, sym if sym in self.states else None)

    def is_snapshot_reply(self, text: str | bytes) -> bool:
        head = text[:256] if isinstance(text, str) else text[:256].decode("utf-8", "replace")
        if '"stream"' in head or '"depthUpdate"' in head:
            return False
        return '"lastUpdateId"' in head or ('"status"' in head and '"id"' in head)

    def _guarded(self, text: str | bytes, t_ns: int, snap_sym: str | None) -> list[Action]:
        """The contract: whatever the frame holds, it is counted, never raised (a raise would cost
        the runner a reconnect of every symbol on the connection)."""
        self.last_frame_symbol = ""
        try:
            return self._dispatch(text, t_ns, snap_sym)
        except Exception as e:
            st = self.states.get(self.last_frame_symbol)
            self.malformed(st, text, f"{type(e).__name__}: {e}", t_ns)
            if st is None:
                return []
            return self._restart(st, self._sync[st.symbol], FeedEventKind.MALFORMED, "malformed frame", t_ns, None)

    def _dispatch(self, text: str | bytes, t_ns: int, snap_sym: str | None) -> list[Action]:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.malformed(self.states.get(snap_sym or "") or self._guess_state(text), text, "not JSON", t_ns)
            return []
        if type(msg) is not dict:
            self.malformed(None, text, "not an object", t_ns)
            return []
        data = msg.get("data") if "stream" in msg else msg
        if type(data) is not dict:
            self.malformed(None, text, "combined frame without data", t_ns)
            return []
        e = data.get("e")
        if e == "depthUpdate":
            return self._on_delta(data, text, t_ns)
        if e == "serverShutdown":
            return [Reconnect("serverShutdown", rollover=True)]
        if "lastUpdateId" in msg:
            if snap_sym is not None:
                return self._on_rest_for(snap_sym, msg, text, t_ns)
            return self._on_http_snapshot(msg, text, t_ns)
        if "status" in msg and "id" in msg:
            return self._on_ws_api(msg, text, t_ns, snap_sym)
        if "result" in msg or "id" in msg:
            return []  # SUBSCRIBE ack
        self.malformed(None, text, f"unknown message {str(e or '')[:20]!r}", t_ns)
        return []

    def _guess_state(self, text: str | bytes) -> SymbolState | None:
        """A frame cut in half still names its symbol early on: count it where it belongs."""
        raw = text.encode() if isinstance(text, str) else text
        m = _SYMBOL_RE.search(raw[:200])
        st = self.states.get((m.group(1) or m.group(2)).decode().upper()) if m else None
        if st is not None:
            self.last_frame_symbol = st.symbol
        return st

    def _on_delta(self, ev: dict[str, Any], text: str | bytes, t_ns: int) -> list[Action]:
        sym = ev.get("s")
        st = self.states.get(sym) if type(sym) is str else None
        if st is None or type(sym) is not str:
            self.malformed(None, text, "depthUpdate for an unknown symbol", t_ns)
            return []
        self.last_frame_symbol = sym
        st.counters.frames += 1
        if not (type(ev.get("U")) is int and type(ev.get("u")) is int and type(ev.get("b")) is list
                and type(ev.get("a")) is list and (not self._needs_pu() or type(ev.get("pu")) is int)):
            self.malformed(st, text, "depthUpdate fields", t_ns)
            return []
        sync = self._sync[sym]
        if sync.book_id is None:
            sync.buffer.append(ev)
            if len(sync.buffer) > MAX_BUFFER:
                for _ in range(MAX_BUFFER // 2):
                    sync.buffer.popleft()
            if not sync.awaiting and not sync.retry_at_ns and not self.resync_pending(sym):
                return self._request(sym)
            return []
        return self._live(st, sync, ev, t_ns, replaying=False)

    # ---- the bridging rules (USD-M overrides these three) ------------------------------------
    def _needs_pu(self) -> bool:
        return False

    def _too_old(self, last_update_id: int, first: dict[str, Any]) -> bool:
        return last_update_id + 1 < first["U"]

    def _check(self, sync: _Sync, ev: dict[str, Any]) -> str:
        """'' to apply, 'stale' to skip, or a gap description."""
        book_id = sync.book_id
        assert book_id is not None
        if ev["u"] <= book_id:
            return "stale"
        if ev["U"] > book_id + 1:
            return f"{book_id}->{ev['U']}"
        return ""

    # ---- applying ----------------------------------------------------------------------------
    def _live(self, st: SymbolState, sync: _Sync, ev: dict[str, Any], t_ns: int, *, replaying: bool) -> list[Action]:
        verdict = self._check(sync, ev)
        if verdict == "stale":
            # Events still in flight when the snapshot was taken are legitimately older (a few);
            # once the book has moved past the snapshot, older ids mean the venue restarted its
            # sequence and ours would never match again.
            if not replaying:
                sync.backwards += 1
                if sync.backwards >= (MAX_IN_FLIGHT if sync.first_pending else 2):
                    return self._restart(st, sync, FeedEventKind.GAP, f"update ids went back to {ev['u']}", t_ns, ev)
            return []
        sync.backwards = 0
        if verdict:
            return self._restart(st, sync, FeedEventKind.GAP, verdict, t_ns, ev)
        try:
            st.book.apply(ev["b"], ev["a"])
        except Exception as e:  # a level that is not [str, str] ({} included): all or nothing, nothing applied
            self.malformed(st, orjson.dumps(ev), f"bad level: {type(e).__name__}: {e}", t_ns)
            return self._restart(st, sync, FeedEventKind.MALFORMED, "bad level", t_ns, None)
        sync.book_id = ev["u"]
        sync.first_pending = False
        st.last_update_ns = t_ns
        if st.book.is_crossed():
            return self._restart(st, sync, FeedEventKind.CROSSED, f"crossed at {sync.book_id}", t_ns, None)
        if not replaying and st.status is not StreamStatus.LIVE:
            # The first event after a snapshot that none of the buffered events had bridged.
            self.set_status(st, StreamStatus.LIVE, f"synced at {sync.book_id}", t_ns)
        return []

    def _resync(self, st: SymbolState, kind: FeedEventKind, detail: str, t_ns: int) -> list[Action]:
        return self._restart(st, self._sync[st.symbol], kind, detail, t_ns, None)

    def _resubscribe(self, sts: list[SymbolState]) -> list[Action]:
        """Binance resyncs by fetching a snapshot; the deltas buffered while waiting bridge it."""
        out: list[Action] = []
        for st in sts:
            sync = self._sync[st.symbol]
            if sync.book_id is None and not sync.awaiting and sync.buffer:
                out += self._request(st.symbol)
            # An empty buffer: the next delta asks for the snapshot, as after any restart.
        return out

    def _restart(self, st: SymbolState, sync: _Sync, kind: FeedEventKind, detail: str, t_ns: int,
                 keep: dict[str, Any] | None) -> list[Action]:
        now = self.start_resync(st, kind, detail, t_ns)
        sync.book_id = None
        sync.first_pending = False
        sync.backwards = 0
        sync.buffer.clear()
        if keep is None or sync.awaiting:
            return []  # the next delta starts the buffer and asks for the snapshot
        sync.buffer.append(keep)
        if not now:
            return []  # backing off: ``keepalive`` asks once it is due (deltas are buffered meanwhile)
        return self._request(st.symbol)

    def _load(self, sym: str, result: Any, text: str | bytes, t_ns: int) -> list[Action]:
        st = self.states[sym]
        sync = self._sync[sym]
        self.last_frame_symbol = sym
        st.counters.frames += 1
        if sync.book_id is not None:
            return []  # a duplicate or late reply: this symbol is already synced
        # Accepted even when no request is out (keepalive retries are not in a capture): the
        # bridge rules decide whether this snapshot fits the buffered deltas.
        sync.awaiting = False
        lid = result.get("lastUpdateId") if type(result) is dict else None
        if type(lid) is not int or type(result.get("bids")) is not list or type(result.get("asks")) is not list:
            self.malformed(st, text, "snapshot fields", t_ns)
            self._retry_later(st, sync, "bad snapshot fields", t_ns)
            return []
        if not sync.buffer:
            return []  # nothing to bridge yet: the next delta asks again
        if self._too_old(lid, sync.buffer[0]):
            # A lagging snapshot is normal once; one that never fits (a venue bug) must not turn
            # into a request-weight storm, so each refetch counts in the symbol's resync streak.
            if not self.pace_retry(st, "snapshot older than the stream",
                                   f"lastUpdateId {lid}, first buffered U {sync.buffer[0]['U']}", t_ns):
                return []
            st.status_detail = "snapshot older than the stream, fetching again"
            return self._request(sym)
        try:
            st.book.load_snapshot(result["bids"], result["asks"])
        except Exception as e:  # a level that is not [str, str]: counted, the snapshot is fetched again
            st.book.clear()
            self.malformed(st, text, f"bad snapshot level: {e}", t_ns)
            self._retry_later(st, sync, "bad snapshot level", t_ns)
            return []
        sync.book_id = lid
        sync.first_pending = True
        buffered = list(sync.buffer)
        sync.buffer.clear()
        for i, ev in enumerate(buffered):
            actions = self._live(st, sync, ev, t_ns, replaying=True)
            if sync.book_id is None:  # a gap inside the buffer: keep what follows it
                sync.buffer.extend(buffered[i + 1:])
                return actions
        st.last_update_ns = t_ns
        if sync.first_pending:
            # Every buffered event was older than the snapshot: nothing proves yet that the stream
            # continues it. The next event must straddle lastUpdateId (or it is a gap); only then is
            # the book LIVE. A crossed snapshot is caught there too, by the check after each apply.
            st.status_detail = f"snapshot {lid} loaded, waiting for the event that bridges it"
            return []
        self.set_status(st, StreamStatus.LIVE, f"synced at {sync.book_id}", t_ns)
        return []

    def _on_ws_api(self, msg: dict[str, Any], text: str | bytes, t_ns: int, snap_sym: str | None) -> list[Action]:
        rid = msg.get("id")
        sym = snap_sym or (rid.partition("x")[2] if type(rid) is str and rid.startswith("d") else "")
        if sym not in self.states:
            self.malformed(None, text, "WS-API reply to an unknown request", t_ns)
            return []
        if msg.get("status") != 200:
            st = self.states[sym]
            self.last_frame_symbol = sym
            self.malformed(st, text, f"snapshot request failed with status {msg.get('status')}", t_ns)
            sync = self._sync[sym]
            sync.awaiting = False
            self._retry_later(st, sync, f"status {msg.get('status')}", t_ns)
            return []
        return self._load(sym, msg.get("result"), text, t_ns)

    def _retry_later(self, st: SymbolState, sync: _Sync, why: str, t_ns: int) -> None:
        """Ask again after a second, and after the resync backoff when it keeps failing: a venue
        answering 429 must not get a request a second (repeated 429s turn into an IP ban, 418)."""
        d = self.retry_delay(st, "snapshot request failed", why, t_ns)
        sync.retry_at_ns = t_ns + max(RETRY_NS, int(d * 1_000_000_000))

    def _on_http_snapshot(self, msg: dict[str, Any], text: str | bytes, t_ns: int) -> list[Action]:
        """A REST body that came without its symbol: only the one request in flight can own it."""
        sym = self._http_inflight
        if sym is None or sym not in self.states:
            self._http_inflight = None
            self.malformed(None, text, "REST snapshot nobody asked for", t_ns)
            return self._next_http()
        return self._on_rest_for(sym, msg, text, t_ns)

    def _on_rest_for(self, sym: str, msg: dict[str, Any], text: str | bytes, t_ns: int) -> list[Action]:
        if self._http_inflight == sym:
            self._http_inflight = None
        else:
            self._http_queue.pop(sym, None)
        actions = self._load(sym, msg, text, t_ns)
        return actions + self._next_http()

    def _next_http(self) -> list[Action]:
        actions: list[Action] = []
        while self._http_queue and self._http_inflight is None:
            nxt = next(iter(self._http_queue))
            del self._http_queue[nxt]
            if self._sync[nxt].awaiting and self._sync[nxt].book_id is None:
                actions += self._request(nxt)
        return actions
