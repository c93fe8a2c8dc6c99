"""Kraken Spot WebSocket v2 ``book`` as the simulator serves it (docs/protocols.md, "Kraken WebSocket v2").

``/v2`` sends the ``status`` message on connect, answers ``ping`` with ``pong``, acks each symbol of a
subscribe separately, and keeps each subscriber's book at the subscribed depth the Kraken way: levels
entering the top are sent, levels pushed out are *not* deleted (the client truncates). ``price`` and
``qty`` are JSON numbers written with fixed precision, trailing zeros included (``0.10000000``), and
the snapshot and every update carry the unsigned CRC32 of the top 10. ``heartbeat`` fills idle seconds.

The checksum is the simulator's own, computed from the integer book rather than from strings: with a
fixed number of decimals, "remove the point, strip leading zeros" (docs/protocols.md) is
exactly the decimal spelling of the level's integer count of the smallest wire unit. A client that
CRCs re-rendered digits, or the wrong levels, fails.
"""

from __future__ import annotations

import binascii
import json
import re
import time
from typing import Any

from lcm_tui.venues.simbase import ASK, BID, Change, DepthView, MarketParams, SimBook, SimConn, Units, VenueSim, rfc3339

# The depths Kraken v2 offers for the book channel, and the one a subscribe without depth gets.
DEPTHS = (10, 25, 100, 500, 1000)
DEFAULT_DEPTH = 10
CHECKSUM_LEVELS = 10  # Kraken's CRC covers the 10 best levels, whatever the subscribed depth
QTY_DECIMALS = 8  # qty is written with 8 decimals, the last ones usually zero
_CHECKSUM = re.compile(r'"checksum":(\d+)')


def book_crc(asks: list[tuple[int, int]], bids: list[tuple[int, int]], price: Units, qty: Units) -> int:
    """Kraken's unsigned CRC32 from levels in ticks and lots, best first, top 10 of each side."""
    digits = [f"{price.wire_integer(p)}{qty.wire_integer(q)}"
              for p, q in (*asks[:CHECKSUM_LEVELS], *bids[:CHECKSUM_LEVELS])]
    return binascii.crc32("".join(digits).encode("ascii"))


def _levels(levels: list[tuple[str, str]] | list[list[str]]) -> str:
    # The exact digit strings become JSON numbers: this is how Kraken keeps "0.10000000".
    return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)


class KrakenSim(VenueSim):
    venue = "kraken"

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self.views: dict[tuple[str, int], DepthView] = {}
        self.depth_in_use = DEFAULT_DEPTH
        self._ts: dict[str, int] = {}

    @classmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        return {"ws_url": base + "/v2", "snapshot_url": ""}

    @classmethod
    def split_symbol(cls, symbol: str) -> tuple[str, str]:
        """Kraken v2 writes ``BASE/QUOTE``."""
        base, _, quote = symbol.upper().partition("/")
        return base, quote

    @classmethod
    def join_symbol(cls, base: str, quote: str) -> str:
        return f"{base}/{quote}".upper()

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        lot = 4
        # qty has 8 decimals on the wire, the last ones usually zero: the checksum must keep them.
        return MarketParams(asset=base, tick_decimals=1 if base == "BTC" else 2, lot_decimals=lot,
                            size_pad=QTY_DECIMALS - lot, delete_size=Units(QTY_DECIMALS).render(0))

    def true_book(self, symbol: str) -> SimBook:
        view = self.views.get((symbol, self.depth_in_use))
        return view.truncated_book() if view is not None else self.books[symbol]

    # ---- wire --------------------------------------------------------------------------------
    def _view(self, symbol: str, depth: int) -> DepthView:
        view = self.views.get((symbol, depth))
        if view is None:
            view = self.views[(symbol, depth)] = DepthView(self.books[symbol], depth,
                                                           self.params[symbol].delete_size)
        return view

    @staticmethod
    def _checksum(view: DepthView) -> int:
        b = view.book
        return book_crc(view.top(ASK, CHECKSUM_LEVELS), view.top(BID, CHECKSUM_LEVELS), b.price_units,
                        b.size_units)

    def snapshot_frame(self, symbol: str, depth: int) -> str:
        view = self._view(symbol, depth)
        bids, asks = view.levels()
        return (f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"{symbol}",'
                f'"bids":[{_levels(bids)}],"asks":[{_levels(asks)}],'
                f'"checksum":{self._checksum(view)}}}]}}')

    def _reply(self, method: str, req_id: Any, t_in: str, **body: Any) -> str:
        msg = {"method": method, **body, "time_in": t_in, "time_out": rfc3339(time.time_ns())}
        if req_id is not None:
            msg["req_id"] = req_id
        return json.dumps(msg, separators=(",", ":"))

    # ---- connections -------------------------------------------------------------------------
    def on_connect(self, conn: SimConn) -> list[str]:
        status = {"channel": "status", "type": "update",
                  "data": [{"api_version": "v2", "connection_id": 13834774380200032777 + conn.id, "system": "online",
                            "version": "2.0.0"}]}
        return [json.dumps(status, separators=(",", ":"))]

    def on_message(self, conn: SimConn, text: str) -> list[str]:
        t_in = rfc3339(time.time_ns())
        try:
            req = json.loads(text)
            method = req["method"]
            req_id = req.get("req_id")
        except (ValueError, TypeError, KeyError):
            return [json.dumps({"error": "Malformed request", "success": False, "time_in": t_in})]
        if method == "ping":
            return [self._reply("pong", req_id, t_in)]
        if method not in ("subscribe", "unsubscribe"):
            return [self._reply(str(method), req_id, t_in, error=f"Method not found: {method}", success=False)]
        params = req.get("params") or {}
        if params.get("channel") != "book":
            return [self._reply(method, req_id, t_in, error="Channel not supported", success=False)]
        depth = params.get("depth", DEFAULT_DEPTH)
        snapshot = params.get("snapshot", True)
        out = []
        depths: dict[str, int] = conn.state.setdefault("depth", {})
        for sym in params.get("symbol") or []:
            if sym not in self.books or depth not in DEPTHS:
                why = f"Currency pair not supported {sym}" if sym not in self.books else f"Invalid depth {depth}"
                out.append(self._reply(method, req_id, t_in, error=why, success=False, symbol=sym))
                continue
            result: dict[str, Any] = {"channel": "book", "depth": depth}
            if method == "unsubscribe":
                conn.subs.discard(sym)
                depths.pop(sym, None)
                out.append(self._reply(method, req_id, t_in, result={**result, "symbol": sym}, success=True))
                continue
            result["snapshot"] = snapshot
            out.append(self._reply(method, req_id, t_in, result={**result, "symbol": sym}, success=True))
            conn.subs.add(sym)
            depths[sym] = depth
            self.depth_in_use = depth
            view = self._view(sym, depth)
            if snapshot:
                out.append(self.snapshot_frame(sym, view.depth))
        return out

    def on_idle(self, conn: SimConn, t_ns: int) -> list[str]:
        if conn.subs and t_ns - conn.last_sent_ns >= 1_000_000_000:
            return ['{"channel":"heartbeat"}']
        return []

    # ---- the stream --------------------------------------------------------------------------
    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        stamp = rfc3339(t_ns)
        frames: dict[int, str] = {}
        for (sym, depth), view in self.views.items():
            if sym != symbol:
                continue
            bids, asks = view.diff(pushed_out_deletes=False)
            if bids or asks:
                frames[depth] = (f'{{"channel":"book","type":"update","data":[{{"symbol":"{symbol}",'
                                 f'"bids":[{_levels(bids)}],"asks":[{_levels(asks)}],'
                                 f'"checksum":{self._checksum(view)},"timestamp":"{stamp}"}}]}}')
        return frames or None

    def frames_for(self, conn: SimConn, symbol: str, payload: Any) -> list[str]:
        fr = payload.get(conn.state.get("depth", {}).get(symbol))
        return [fr] if fr is not None else []

    # ---- faults ------------------------------------------------------------------------------
    def corrupt_checksum(self, frame: str) -> str | None:
        m = _CHECKSUM.search(frame)
        if m is None:
            return None
        bad = (int(m.group(1)) ^ 0x5A5A) & 0xFFFFFFFF
        return frame[: m.start(1)] + str(bad) + frame[m.end(1):]

    def shutdown_frames(self, conn: SimConn, t_ns: int) -> list[str]:
        """Kraken announces downtime on the status channel before it drops connections."""
        status = {"channel": "status", "type": "update",
                  "data": [{"api_version": "v2", "connection_id": 13834774380200032777 + conn.id,
                            "system": "maintenance", "version": "2.0.0"}]}
        return [json.dumps(status, separators=(",", ":"))]
