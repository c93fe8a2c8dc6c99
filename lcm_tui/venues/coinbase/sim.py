"""Coinbase Advanced Trade ``level2`` as the simulator serves it (docs/protocols.md, "Coinbase Advanced Trade").

One channel per subscribe message (``level2`` or ``heartbeats``), each answered with a
``subscriptions`` message listing what the connection now has. ``l2_data`` carries a snapshot per
product on subscribe, then updates with ``side: bid|offer`` and absolute ``new_quantity``.
``sequence_num`` counts every message on the connection across all channels, which is why frames are
numbered per connection in ``frames_for``. ``heartbeats`` come once a second. ``-USDC`` products are
published under their ``-USD`` alias, as Coinbase does.
"""

from __future__ import annotations

from typing import Any

import orjson

from lcm_tui.venues.simbase import Change, MarketParams, SimConn, VenueSim, rfc3339

CHANNELS = ("level2", "heartbeats")
REAL_USDC_PRODUCTS = frozenset({"USDT-USDC", "EURC-USDC"})
EPOCH = "1970-01-01T00:00:00Z"


def wire_product(symbol: str) -> str:
    """The product id Coinbase writes in replies: ``-USDC`` books come back as ``-USD``."""
    if symbol.upper().endswith("-USDC") and symbol.upper() not in REAL_USDC_PRODUCTS:
        return symbol[:-1]
    return symbol


def _updates(levels: list[tuple[str, str, str]], event_time: str) -> list[dict[str, str]]:
    return [{"side": "bid" if side == "bid" else "offer", "event_time": event_time, "price_level": p,
             "new_quantity": q} for side, p, q in levels]


class CoinbaseSim(VenueSim):
    venue = "coinbase"

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self._ts: dict[str, int] = {}

    @classmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        return {"ws_url": base, "snapshot_url": ""}

    @classmethod
    def split_symbol(cls, symbol: str) -> tuple[str, str]:
        """Coinbase product ids are ``BASE-QUOTE``."""
        base, _, quote = symbol.upper().partition("-")
        return base, quote

    @classmethod
    def join_symbol(cls, base: str, quote: str) -> str:
        return f"{base}-{quote}".upper()

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        return MarketParams(asset=base, tick_decimals=2, lot_decimals=8 if base == "BTC" else 6, liquidity=1.5)

    # ---- wire --------------------------------------------------------------------------------
    @staticmethod
    def _seq(conn: SimConn) -> int:
        n = conn.state.get("seq", 0)
        conn.state["seq"] = n + 1
        return n

    def _message(self, conn: SimConn, channel: str, stamp: str, events_json: str) -> str:
        return (f'{{"channel":"{channel}","client_id":"","timestamp":"{stamp}","sequence_num":{self._seq(conn)},'
                f'"events":{events_json}}}')

    def _subscriptions(self, conn: SimConn, stamp: str) -> str:
        chans: dict[str, list[str]] = conn.state.setdefault("channels", {})
        subs = {c: sorted(ids) for c, ids in chans.items() if ids}
        return self._message(conn, "subscriptions", stamp, orjson.dumps([{"subscriptions": subs}]).decode())

    def snapshot_frame(self, conn: SimConn, symbol: str, stamp: str) -> str:
        bids, asks = self.bids_asks(self.books[symbol])
        levels = [("bid", p, q) for p, q in bids] + [("ask", p, q) for p, q in asks]
        ev = [{"type": "snapshot", "product_id": wire_product(symbol), "updates": _updates(levels, EPOCH)}]
        return self._message(conn, "l2_data", stamp, orjson.dumps(ev).decode())

    # ---- connections -------------------------------------------------------------------------
    def on_message(self, conn: SimConn, text: str) -> list[str]:
        try:
            req = orjson.loads(text)
            kind = req["type"]
            channel = req["channel"]
            products = req.get("product_ids") or []
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return ['{"type":"error","message":"Failed to parse the subscription: one channel per message"}']
        if kind not in ("subscribe", "unsubscribe") or channel not in CHANNELS:
            return [orjson.dumps({"type": "error", "message": f"Failed to subscribe: {kind} {channel}"}).decode()]
        unknown = [p for p in products if p not in self.books]
        if unknown:
            return [orjson.dumps({"type": "error", "message": f"Failed to subscribe: unknown {unknown}"}).decode()]
        stamp = rfc3339(self._ts.get(products[0], conn.connected_ns) if products else conn.connected_ns)
        chans: dict[str, set[str]] = conn.state.setdefault("channels", {})
        ids = chans.setdefault(channel, set())
        if kind == "unsubscribe":
            for p in products:
                ids.discard(wire_product(p))
                if channel == "level2":
                    conn.subs.discard(p)
            return [self._subscriptions(conn, stamp)]
        ids.update(wire_product(p) for p in products)
        out = [self._subscriptions(conn, stamp)]
        if channel == "level2":
            for p in products:
                conn.subs.add(p)
                out.append(self.snapshot_frame(conn, p, stamp))
        return out

    def on_idle(self, conn: SimConn, t_ns: int) -> list[str]:
        if not conn.state.get("channels", {}).get("heartbeats"):
            return []
        n = conn.state.get("heartbeat_counter", 0) + 1
        conn.state["heartbeat_counter"] = n
        stamp = rfc3339(t_ns)
        return [self._message(conn, "heartbeats", stamp,
                              f'[{{"current_time":"{stamp}","heartbeat_counter":"{n}"}}]')]

    # ---- the stream --------------------------------------------------------------------------
    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        if not changes:
            return None
        self._ts[symbol] = t_ns
        stamp = rfc3339(t_ns)
        ev = [{"type": "update", "product_id": wire_product(symbol), "updates": _updates(changes, stamp)}]
        return stamp, orjson.dumps(ev).decode()

    def frames_for(self, conn: SimConn, symbol: str, payload: Any) -> list[str]:
        stamp, events = payload
        return [self._message(conn, "l2_data", stamp, events)]
