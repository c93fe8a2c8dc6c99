"""Coinbase Advanced Trade ``level2`` (docs/protocols.md, "Coinbase Advanced Trade").

There is no per-product sequence and no checksum. The only integrity signal is ``sequence_num``, a
counter of every message on the connection across all channels (heartbeats included). A jump means
this connection lost a message, and since it cannot tell which product the message was for, every
level2 book is resynced (unsubscribe + subscribe level2, which makes Coinbase send new snapshots). A
smaller or repeated value is a late duplicate and is ignored.

Coinbase answers ``-USDC`` subscriptions with ``-USD`` product ids; replies are mapped back to the
symbol the user configured. Snapshots of busy products are several MB in one frame: the runner's
``max_frame_bytes`` has to allow for that.

The venue rules this adapter follows: ``docs/protocols.md``.
"""

from __future__ import annotations

from typing import Any

import orjson

from lcm_tui.core.model import FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.settings import VenueConfig
from lcm_tui.venues.base import Action, Adapter, EventSink, Send, log

BID_SIDES = frozenset({"bid"})
ASK_SIDES = frozenset({"offer", "ask"})


def _alias_map(symbols: list[str]) -> dict[str, str]:
    """Reply product_id -> configured symbol; exact ids win over the -USDC -> -USD alias."""
    out = {s: s for s in symbols}
    for s in symbols:
        if s.upper().endswith("-USDC"):
            out.setdefault(s[:-1], s)
    return out


def split_updates(updates: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    if type(updates) is not list:
        raise ValueError("updates are not a list")
    bids: list[tuple[str, str]] = []
    asks: list[tuple[str, str]] = []
    for u in updates:
        p = u["price_level"]
        q = u["new_quantity"]
        if type(p) is not str or type(q) is not str:
            raise ValueError("price_level/new_quantity are not strings")
        side = u["side"]
        if side in BID_SIDES:
            bids.append((p, q))
        elif side in ASK_SIDES:
            asks.append((p, q))
        else:
            raise ValueError(f"unknown side {side!r:.20}")
    return bids, asks


class CoinbaseAdapter(Adapter):
    venue = "coinbase"

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        super().__init__(cfg, symbols, sink)
        self._product = _alias_map(self.symbols)
        self._synced: dict[str, bool] = dict.fromkeys(self.symbols, False)
        self._last_seq: int | None = None
        self.heartbeats = 0
        self.errors = 0  # {"type":"error"} replies
        self.connection_gaps = 0

    # ---- runner interface ------------------------------------------------------------------
    def url(self) -> str:
        return self.cfg.ws_url

    def on_open(self, t_ns: int) -> list[Action]:
        # Coinbase disconnects a client that has not subscribed within 5 s: subscribe right away.
        self._last_seq = None
        for s, st in self.states.items():
            self._synced[s] = False
            st.book.clear()
            self.set_status(st, StreamStatus.SYNCING, "subscribing", t_ns)
        return [
            Send(self._msg("subscribe", "level2", self.symbols)),
            Send(self._msg("subscribe", "heartbeats", self.symbols)),
        ]

    # ---- internals -------------------------------------------------------------------------
    @staticmethod
    def _msg(kind: str, channel: str, symbols: list[str]) -> str:
        return orjson.dumps({"type": kind, "product_ids": symbols, "channel": channel}).decode()

    def _forget(self, st: SymbolState) -> None:
        self._synced[st.symbol] = False  # updates are dropped until the resubscribe's snapshot

    def _resubscribe(self, sts: list[SymbolState]) -> list[Action]:
        # One unsubscribe/subscribe pair for all of them: level2 resubscribes per message, not per product.
        syms = [st.symbol for st in sts]
        return [Send(self._msg("unsubscribe", "level2", syms)), Send(self._msg("subscribe", "level2", syms))]

    def _frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        msg = orjson.loads(text)
        if type(msg) is not dict:
            raise ValueError("not an object")
        if msg.get("type") == "error":
            self.errors += 1
            log.warning("coinbase: error: %.200s", msg.get("message"))
            return []
        channel = msg["channel"]
        seq = msg["sequence_num"]
        if type(seq) is not int:
            raise ValueError("sequence_num is not an integer")
        last = self._last_seq
        if last is not None and seq <= last:
            return []  # a late duplicate: already seen
        self._last_seq = seq
        if last is not None and seq != last + 1:
            self.connection_gaps += 1
            # The lost message may have been any product's update or a pending snapshot.
            lost = [st for st in self.states.values() if st.status is not StreamStatus.DOWN]
            if lost:
                return self._resync_books(lost, FeedEventKind.GAP, f"sequence_num {last}->{seq}", t_ns)
        if channel == "l2_data":
            out: list[Action] = []
            for ev in msg["events"]:
                out.extend(self._l2(ev, text, t_ns))
            return out
        if channel == "heartbeats":
            self.heartbeats += 1
            return []
        if channel == "subscriptions":
            return []
        self.malformed(None, text, f"unknown channel {channel!r:.30}", t_ns)
        return []

    def _l2(self, ev: Any, text: str | bytes, t_ns: int) -> list[Action]:
        pid = ev["product_id"]
        sym = self._product.get(pid) if type(pid) is str else None
        if sym is None:
            self.malformed(None, text, f"unsubscribed product {pid!r:.40}", t_ns)
            return []
        self.last_frame_symbol = sym
        st = self.states[sym]
        st.counters.frames += 1
        kind = ev["type"]
        bids, asks = split_updates(ev["updates"])
        if kind == "snapshot":
            st.book.load_snapshot(bids, asks)
            self._synced[sym] = True
        elif kind == "update":
            if not self._synced[sym]:
                return []  # leftovers of a subscription being replaced
            st.book.apply(bids, asks)
        else:
            raise ValueError(f"unknown event type {kind!r:.20}")
        st.last_update_ns = t_ns
        if st.book.is_crossed():
            return self._resync(st, FeedEventKind.CROSSED, "best bid >= best ask", t_ns)
        if st.status is not StreamStatus.LIVE:
            self.set_status(st, StreamStatus.LIVE, "", t_ns)
        return []
