"""OKX v5 public ``books`` channel (docs/protocols.md, "OKX v5").

Integrity comes from the ``prevSeqId``/``seqId`` chain: every update's ``prevSeqId`` must equal the
``seqId`` last applied. That one test also admits OKX's two exceptions, the empty keepalive
(``prevSeqId == seqId``) and the post-maintenance reset (``seqId < prevSeqId``), so ``seqId`` is never
compared for growth. The CRC32 ``checksum`` is verified only when non-zero: OKX has sent 0 since
June 2026 and checking it would fail every frame.

OKX announced that ``books`` would stop sending the in-stream snapshot. Both paths are handled: a WS
snapshot is used when one comes; an update that arrives after the subscribe ack with no snapshot
starts a bootstrap from REST ``/api/v5/market/books`` (buffer, fetch, bridge on ``seqId``).

A crossed book is not treated as a desync here: OKX documents legitimately crossed books during
pre-open and call auctions, and the sequence chain already proves the book is complete. It is
counted and held back from LIVE until it uncrosses. Rules: ``docs/protocols.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from lcm_tui.core.model import FeedEventKind, StreamStatus
from lcm_tui.core.settings import VenueConfig
from lcm_tui.venues.base import (
    Action,
    Adapter,
    EventSink,
    FetchSnapshot,
    Reconnect,
    Send,
    SymbolState,
    check_levels,
    log,
)
from lcm_tui.venues.okx.checksum import okx_matches

CHANNEL = "books"
BOOKS_DEPTH = 400  # levels of the public books channel (and the most REST books returns)
PING_IDLE_NS = 20 * 1_000_000_000  # OKX closes a connection after 30 s without traffic
MAX_BUFFER = 5000  # updates buffered while a REST snapshot is in flight
REFETCH_PAUSE_NS = 1_000_000_000  # after a failed REST bootstrap, wait before the next one


def _int(v: Any, name: str) -> int:
    if type(v) is not int:
        raise ValueError(f"{name} is not an integer")
    return v


@dataclass(slots=True)
class _Update:
    prev: int
    seq: int
    bids: list[list[str]]
    asks: list[list[str]]
    checksum: int


@dataclass(slots=True)
class _Bootstrap:
    """Updates buffered from the subscription while the REST snapshot is fetched."""

    first_prev: int
    buffer: list[_Update] = field(default_factory=list)


class OkxAdapter(Adapter):
    venue = "okx"

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        super().__init__(cfg, symbols, sink)
        self._seq: dict[str, int | None] = dict.fromkeys(self.symbols)  # last seqId applied, None: not synced
        self._bridge: dict[str, int | None] = dict.fromkeys(self.symbols)  # REST snapshot seqId still to bridge
        self._acked: dict[str, bool] = dict.fromkeys(self.symbols, False)
        self._boot: dict[str, _Bootstrap | None] = dict.fromkeys(self.symbols)
        # One REST fetch at a time: the reply carries no instId and the runner feeds replies back in
        # completion order, so only a single outstanding request can be attributed with certainty.
        self._inflight: str | None = None
        self._queue: list[str] = []
        self._refetch_at_ns: dict[str, int] = {}  # no REST bootstrap before this time (after a failure)
        self._req = 0
        self._last_rx_ns = 0
        self._last_ping_ns = 0
        self.pongs = 0
        self.errors = 0  # event:error replies and failed REST snapshots
        self.rest_bootstraps = 0

    # ---- runner interface ------------------------------------------------------------------
    def url(self) -> str:
        return self.cfg.ws_url

    def snapshot_request(self, symbol: str) -> FetchSnapshot:
        # Always the channel's full 400 levels: a shallower REST book would leave holes the updates never fill.
        return FetchSnapshot(symbol, f"{self.cfg.snapshot_url}?instId={symbol}&sz={BOOKS_DEPTH}")

    def on_open(self, t_ns: int) -> list[Action]:
        self._last_rx_ns = self._last_ping_ns = t_ns
        self._inflight = None
        self._queue.clear()
        for s, st in self.states.items():
            self._reset_symbol(s)
            st.book.clear()
            self.set_status(st, StreamStatus.SYNCING, "subscribing", t_ns)
        return [Send(self._op("subscribe", self.symbols))]

    def keepalive(self, t_ns: int) -> list[Action]:
        out = super().keepalive(t_ns)  # deferred resubscribes
        if t_ns - self._last_rx_ns < PING_IDLE_NS or t_ns - self._last_ping_ns < PING_IDLE_NS:
            return out
        self._last_ping_ns = t_ns
        return [*out, Send("ping")]

    def on_frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        self._last_rx_ns = t_ns  # any frame, even a bad one, means the connection is not idle
        return super().on_frame(text, t_ns)

    def _named(self, text: str | bytes) -> SymbolState | None:
        """The symbol a cut-off books push was for, if its arg survived (resync now, not at the next push)."""
        raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
        if not raw.startswith('{"arg"'):
            return None
        for sym, st in self.states.items():
            if f'"{sym}"' in raw:
                return st
        return None

    # ---- internals -------------------------------------------------------------------------
    def _op(self, op: str, symbols: list[str]) -> str:
        self._req += 1
        args = [{"channel": CHANNEL, "instId": s} for s in symbols]
        return orjson.dumps({"id": str(self._req), "op": op, "args": args}).decode()

    def _reset_symbol(self, sym: str) -> None:
        self._seq[sym] = None
        self._bridge[sym] = None
        self._acked[sym] = False
        self._boot[sym] = None
        if sym in self._queue:
            self._queue.remove(sym)

    def _forget(self, st: SymbolState) -> None:
        self._reset_symbol(st.symbol)  # not acked: updates are dropped until the new subscription's

    def _resubscribe(self, sts: list[SymbolState]) -> list[Action]:
        syms = [st.symbol for st in sts]
        return [Send(self._op("unsubscribe", syms)), Send(self._op("subscribe", syms))]

    def _frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        if text == "pong" or text == b"pong":
            self.pongs += 1
            return []
        msg = orjson.loads(text)
        if type(msg) is not dict:
            raise ValueError("not an object")
        if "event" in msg:
            return self._event(msg, text, t_ns)
        arg = msg.get("arg")
        if arg is None and "code" in msg:
            return self._rest_snapshot(msg, text, t_ns)
        if type(arg) is not dict or arg.get("channel") != CHANNEL:
            self.malformed(None, text, "not a books push", t_ns)
            return []
        sym = arg.get("instId")
        st = self.states.get(sym) if type(sym) is str else None
        if st is None or type(sym) is not str:
            self.malformed(None, text, f"unsubscribed instId {sym!r:.40}", t_ns)
            return []
        self.last_frame_symbol = sym
        st.counters.frames += 1
        action = msg["action"]
        out: list[Action] = []
        for d in msg["data"]:
            up = _Update(
                _int(d["prevSeqId"], "prevSeqId"), _int(d["seqId"], "seqId"),
                check_levels(d["bids"]), check_levels(d["asks"]), _int(d.get("checksum", 0), "checksum"),
            )
            if action == "snapshot":
                out.extend(self._ws_snapshot(st, up, t_ns))
            elif action == "update":
                out.extend(self._update(st, up, t_ns))
            else:
                raise ValueError(f"unknown action {action!r:.20}")
            if st.status is StreamStatus.RESYNCING:
                break  # this symbol is being resubscribed: the rest of the frame is moot
        return out

    def _ws_snapshot(self, st: SymbolState, up: _Update, t_ns: int) -> list[Action]:
        sym = st.symbol
        self._boot[sym] = None
        self._bridge[sym] = None
        st.book.load_snapshot(up.bids, up.asks)
        self._seq[sym] = up.seq
        return self._after_apply(st, up, t_ns)

    def _update(self, st: SymbolState, up: _Update, t_ns: int) -> list[Action]:
        sym = st.symbol
        last = self._seq[sym]
        if last is None:
            return self._unsynced_update(st, up, t_ns)
        bridge = self._bridge[sym]
        if bridge is not None:
            if up.seq <= bridge:
                return []  # already contained in the REST snapshot
            if up.prev > bridge:
                return self._resync(st, FeedEventKind.GAP, f"REST snapshot seqId {bridge} < prevSeqId {up.prev}", t_ns)
            self._bridge[sym] = None
        elif up.prev != last:
            return self._resync(st, FeedEventKind.GAP, f"prevSeqId {up.prev} != last seqId {last}", t_ns)
        if up.bids or up.asks:
            st.book.apply(up.bids, up.asks)
        self._seq[sym] = up.seq
        return self._after_apply(st, up, t_ns)

    def _after_apply(self, st: SymbolState, up: _Update, t_ns: int) -> list[Action]:
        st.last_update_ns = t_ns
        if up.checksum and not okx_matches(up.checksum, st.book.bids.top(25), st.book.asks.top(25)):
            return self._resync(st, FeedEventKind.CHECKSUM, f"checksum {up.checksum} at seqId {up.seq}", t_ns)
        return self._publish(st, t_ns)

    def _publish(self, st: SymbolState, t_ns: int) -> list[Action]:
        """LIVE unless crossed: a crossed book is complete here (auction), but never shown as live."""
        if st.book.is_crossed():
            if st.status is not StreamStatus.SYNCING:
                st.counters.crossed += 1
                self.set_status(st, StreamStatus.SYNCING, "crossed book (pre-open or call auction)", t_ns)
            return []
        if st.status is not StreamStatus.LIVE:
            self.set_status(st, StreamStatus.LIVE, "", t_ns)
        return []

    def _unsynced_update(self, st: SymbolState, up: _Update, t_ns: int) -> list[Action]:
        """An update with no book: buffer it, and start a REST bootstrap if OKX sent no WS snapshot."""
        sym = st.symbol
        boot = self._boot[sym]
        if boot is not None:
            last = boot.buffer[-1].seq if boot.buffer else boot.first_prev
            if up.prev != last or len(boot.buffer) >= MAX_BUFFER:
                # The buffer itself has a hole: start it again from this update.
                boot.first_prev = up.prev
                boot.buffer.clear()
            boot.buffer.append(up)
            if self._inflight is None and sym not in self._queue and t_ns >= self._refetch_at_ns.get(sym, 0):
                return self._fetch(sym)  # the previous reply was unusable: ask again
            return []
        if not self._acked[sym] or t_ns < self._refetch_at_ns.get(sym, 0):
            return []  # before the ack these are leftovers of a subscription we dropped
        self._boot[sym] = _Bootstrap(up.prev, [up])
        self.rest_bootstraps += 1
        self.set_status(st, StreamStatus.SYNCING, "", t_ns)
        st.status_detail = "no WS snapshot: bootstrapping from REST books"
        return self._fetch(sym)

    def _fetch(self, sym: str) -> list[Action]:
        if self._inflight is None:
            self._inflight = sym
            return [self.snapshot_request(sym)]
        if sym not in self._queue and sym != self._inflight:
            self._queue.append(sym)
        return []

    def on_snapshot(self, symbol: str, text: str | bytes, t_ns: int) -> list[Action]:
        """A REST ``/market/books`` reply fetched for ``symbol`` (the body names no instId)."""
        if symbol not in self.states:
            return self.on_frame(text, t_ns)
        self._last_rx_ns = t_ns
        self.last_frame_symbol = symbol
        try:
            msg = orjson.loads(text)
            if type(msg) is not dict or "code" not in msg or "arg" in msg or "event" in msg:
                return self.on_frame(text, t_ns)  # not a REST body after all: an ordinary frame
            return self._rest_for(symbol, msg, t_ns)
        except Exception as e:  # the contract: counted, never raised
            st = self.states[symbol]
            self.malformed(st, text, f"{type(e).__name__}: {e}", t_ns)
            return self._resync(st, FeedEventKind.MALFORMED, "malformed snapshot", t_ns)

    def is_snapshot_reply(self, text: str | bytes) -> bool:
        head = text[:64] if isinstance(text, str) else text[:64].decode("utf-8", "replace")
        return head.lstrip().startswith('{"code"')

    def _rest_snapshot(self, msg: dict[str, Any], text: str | bytes, t_ns: int) -> list[Action]:
        """A REST body that came without its symbol: only the one fetch in flight can own it."""
        sym = self._inflight
        if sym is None:
            self.malformed(None, text, "REST reply with no fetch pending", t_ns)
            return []
        return self._rest_for(sym, msg, t_ns)

    def _rest_for(self, sym: str, msg: dict[str, Any], t_ns: int) -> list[Action]:
        if self._inflight == sym:
            self._inflight = None
        elif sym in self._queue:
            self._queue.remove(sym)
        self.last_frame_symbol = sym
        out = self._bootstrap(sym, msg, t_ns)
        while self._inflight is None and self._queue:
            nxt = self._queue.pop(0)
            if self._boot[nxt] is not None:
                out.extend(self._fetch(nxt))
        return out

    def _bootstrap(self, sym: str, msg: dict[str, Any], t_ns: int) -> list[Action]:
        data = msg.get("data")
        d = data[0] if type(data) is list and data and type(data[0]) is dict else None
        st = self.states[sym]
        boot = self._boot[sym]
        if boot is None:
            return []  # a WS snapshot arrived meanwhile, or the symbol was resubscribed
        if msg.get("code") != "0" or d is None:
            self.errors += 1
            log.warning("okx %s: REST books failed: %.200s", sym, msg.get("msg"))
            self._boot[sym] = None
            self._refetch_later(st, "REST books failed", str(msg.get("msg", ""))[:80], t_ns)
            return []
        snap_seq = _int(d["seqId"], "seqId")
        bids, asks = check_levels(d["bids"]), check_levels(d["asks"])
        if snap_seq < boot.first_prev:
            # Older than the buffer: fetch again, at once the first time, backing off if it persists.
            if self._refetch_later(st, "snapshot older than the stream",
                                   f"seqId {snap_seq} < prevSeqId {boot.first_prev}", t_ns, pause_ns=0):
                return []
            return self._fetch(sym)
        self._boot[sym] = None
        st.book.load_snapshot(bids, asks)
        st.counters.frames += 1
        self._seq[sym] = snap_seq
        self._bridge[sym] = snap_seq
        for up in boot.buffer:
            out = self._update(st, up, t_ns)
            if out:
                return out
        st.last_update_ns = t_ns
        if self._bridge[sym] is not None:
            # Every buffered update was already in the snapshot: LIVE waits for the update that
            # bridges it (prevSeqId <= snapshot seqId < seqId), the proof the stream continues it.
            st.status_detail = f"REST snapshot {snap_seq} loaded, waiting for the update that bridges it"
            return []
        return self._publish(st, t_ns)

    def _refetch_later(self, st: SymbolState, why: str, detail: str, t_ns: int,
                       pause_ns: int = REFETCH_PAUSE_NS) -> bool:
        """Hold the next REST bootstrap of ``st`` for ``pause_ns``, or for the resync backoff when
        this keeps happening (OKX limits REST books to about 40 requests per 2 s per IP); whether
        there is anything to wait for."""
        wait = max(pause_ns, int(self.retry_delay(st, why, detail, t_ns) * 1_000_000_000))
        self._refetch_at_ns[st.symbol] = t_ns + wait
        return wait > 0

    def _event(self, msg: dict[str, Any], text: str | bytes, t_ns: int) -> list[Action]:
        ev = msg["event"]
        if ev in ("subscribe", "unsubscribe"):
            arg = msg.get("arg") or {}
            sym = arg.get("instId") if type(arg) is dict else None
            if ev == "subscribe" and sym in self._acked:
                self._acked[sym] = True
            return []
        if ev == "error":
            self.errors += 1
            why = str(msg.get("msg", ""))[:300]
            log.warning("okx: error %s: %.200s", msg.get("code"), why)
            # Errors carry no arg; a rejected subscribe names the instrument in its message.
            for sym, st in self.states.items():
                if re.search(r"(?<![-\w])" + re.escape(sym) + r"(?![-\w])", why) and self._seq[sym] is None:
                    self.set_status(st, StreamStatus.DOWN, f"rejected: {why}", t_ns)
            return []
        if ev == "notice":
            log.warning("okx: notice %s: %.200s", msg.get("code"), msg.get("msg"))
            if str(msg.get("code")) == "64008":
                return [Reconnect(f"okx notice 64008: {msg.get('msg', '')}"[:200], rollover=True)]
            return []
        self.malformed(None, text, f"unknown event {ev!r:.20}", t_ns)
        return []
