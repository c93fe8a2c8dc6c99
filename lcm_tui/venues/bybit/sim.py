"""Bybit v5 public order books as the simulator serves them (docs/protocols.md, "Bybit v5").

``/v5/public/spot`` and ``/v5/public/linear`` accept ``op: subscribe|unsubscribe|ping`` and answer
with each market's own ack and pong shape. ``orderbook.{depth}.{SYMBOL}`` sends a snapshot of the top
``depth`` levels on subscribe, then deltas with ``u`` + 1 that keep a client's book exactly at that
depth (levels leaving the top are deleted, levels entering are sent). Depth 1 is snapshots only,
re-pushed with the same ``u`` when nothing changed for 3 s.
Key order copies Bybit byte for byte: spot (and level 1 everywhere) writes ``ts`` before ``type``.
A sequence reset is a ``u = 1`` snapshot, as after a Bybit service restart.
"""

from __future__ import annotations

import zlib
from abc import abstractmethod
from typing import Any, ClassVar

import orjson

from lcm_tui.venues.simbase import Change, DepthView, MarketParams, SimBook, SimConn, VenueSim, split_concatenated

# The depths Bybit v5 offers for orderbook.{depth}.{symbol} (spot and linear alike).
DEPTHS = (1, 50, 200, 1000)
DEFAULT_DEPTH = 200  # what a client that has subscribed nothing yet would be compared at
# Bybit writes symbols as BASEQUOTE; the quotes the simulator splits on, longest match first.
QUOTES = ("USDT", "USDC", "USDE", "BTC", "ETH", "EUR", "BRL")


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class BybitSim(VenueSim):
    """Shared by spot and linear; the subclasses set the market's wire quirks."""

    path: ClassVar[str]
    max_args: ClassVar[int]
    ts_first: ClassVar[bool]  # "ts" before "type" at depths > 1

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self.views: dict[tuple[str, int], DepthView] = {}
        self.u: dict[tuple[str, int], int] = {}
        # seq is Bybit's cross sequence: one counter per symbol shared by every depth.
        self.seq: dict[str, int] = {s: 7_000_000_000 + zlib.crc32(s.encode()) % 1_000_000 for s in self.symbols}
        self._reset: set[str] = set()
        self._ts: dict[str, int] = {}  # ms of the last step, for snapshots sent on subscribe
        self.depth_in_use = DEFAULT_DEPTH

    @classmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        return {"ws_url": base + cls.path, "snapshot_url": ""}

    @classmethod
    def split_symbol(cls, symbol: str) -> tuple[str, str]:
        return split_concatenated(symbol, QUOTES)

    @classmethod
    def join_symbol(cls, base: str, quote: str) -> str:
        return f"{base}{quote}".upper()

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        return MarketParams(asset=base, tick_decimals=2, lot_decimals=6 if base == "BTC" else 5)

    def true_book(self, symbol: str) -> SimBook:
        view = self.views.get((symbol, self.depth_in_use))
        return view.truncated_book() if view is not None else self.books[symbol]

    # ---- wire ------------------------------------------------------------------------------------
    @abstractmethod
    def _ack(self, conn: SimConn, op: str, req_id: Any, ok: bool = True, msg: str = "") -> str:
        """The market's subscribe/unsubscribe reply."""

    @abstractmethod
    def _pong(self, conn: SimConn, req_id: Any) -> str:
        """The market's reply to ``op: ping``."""

    def _frame(self, symbol: str, depth: int, kind: str, u: int, bids: list[list[str]], asks: list[list[str]],
               ts: int) -> str:
        data = {"s": symbol, "b": bids, "a": asks, "u": u, "seq": self.seq[symbol]}
        topic = f"orderbook.{depth}.{symbol}"
        if self.ts_first or depth == 1:
            msg = {"topic": topic, "ts": ts, "type": kind, "data": data, "cts": ts - 2}
        else:
            msg = {"topic": topic, "type": kind, "ts": ts, "data": data, "cts": ts - 2}
        return _dumps(msg)

    def _view(self, symbol: str, depth: int) -> DepthView:
        key = (symbol, depth)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = DepthView(self.books[symbol], depth)
            self.u.setdefault(key, 100_000 + zlib.crc32(f"{symbol}{depth}".encode()) % 100_000)
        return view

    # ---- connections -----------------------------------------------------------------------------
    def on_message(self, conn: SimConn, text: str) -> list[str]:
        try:
            req = orjson.loads(text)
            op = req["op"]
            req_id = req.get("req_id", "")
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return [_dumps({"success": False, "ret_msg": "Invalid request", "conn_id": str(conn.id), "op": ""})]
        if op == "ping":
            return [self._pong(conn, req_id)]
        if op not in ("subscribe", "unsubscribe"):
            return [self._ack(conn, str(op), req_id, False, f"Invalid op: {op}")]
        args = req.get("args") or []
        if len(args) > self.max_args:
            return [self._ack(conn, op, req_id, False, f"args size >{self.max_args}")]
        topics = []
        for topic in args:
            parts = str(topic).split(".")
            if len(parts) != 3 or parts[0] != "orderbook" or parts[2] not in self.books or not parts[1].isdigit() \
                    or int(parts[1]) not in DEPTHS:
                return [self._ack(conn, op, req_id, False, f"Invalid symbol :[{topic}]")]
            topics.append((parts[2], int(parts[1])))
        depths: dict[str, int] = conn.state.setdefault("depth", {})
        if op == "unsubscribe":
            for sym, _ in topics:
                conn.subs.discard(sym)
                depths.pop(sym, None)
            return [self._ack(conn, op, req_id)]
        out = [self._ack(conn, op, req_id)]
        for sym, depth in topics:
            ts = self._ts.get(sym, conn.connected_ns // 1_000_000)
            conn.subs.add(sym)
            depths[sym] = depth
            self.depth_in_use = depth
            view = self._view(sym, depth)
            bids, asks = view.levels()
            out.append(self._frame(sym, depth, "snapshot", self.u[(sym, depth)], bids, asks, ts))
        return out

    # ---- the stream ------------------------------------------------------------------------------
    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        self.seq[symbol] += 1 + len(changes)
        reset = symbol in self._reset
        self._reset.discard(symbol)
        ts = self._ts[symbol] = t_ns // 1_000_000
        frames: dict[int, str] = {}
        for (sym, depth), view in self.views.items():
            if sym != symbol:
                continue
            key = (sym, depth)
            bids, asks = view.diff(pushed_out_deletes=True)
            if reset or (depth == 1 and (bids or asks)):
                self.u[key] = 1 if reset else self.u[key] + 1
                b, a = view.levels()
                frames[depth] = self._frame(sym, depth, "snapshot", self.u[key], b, a, ts)
            elif bids or asks:
                self.u[key] += 1
                frames[depth] = self._frame(sym, depth, "delta", self.u[key], bids, asks, ts)
        return {"t_ns": t_ns, **frames} if frames else None

    def frames_for(self, conn: SimConn, symbol: str, payload: Any) -> list[str]:
        depth = conn.state.get("depth", {}).get(symbol)
        fr = payload.get(depth)
        if fr is None:
            return []
        if depth == 1:
            conn.state.setdefault("l1_ns", {})[symbol] = payload["t_ns"]
        return [fr]

    def on_idle(self, conn: SimConn, t_ns: int) -> list[str]:
        """Level 1 re-pushes an unchanged snapshot, same ``u``, after 3 s without a change."""
        out = []
        last: dict[str, int] = conn.state.setdefault("l1_ns", {})
        for sym, depth in sorted(conn.state.get("depth", {}).items()):
            if depth == 1 and t_ns - last.get(sym, conn.connected_ns) >= 3_000_000_000:
                last[sym] = t_ns
                b, a = self.views[(sym, 1)].levels()
                out.append(self._frame(sym, 1, "snapshot", self.u[(sym, 1)], b, a, t_ns // 1_000_000))
        return out

    def reset_sequence(self, symbol: str) -> bool:
        """A Bybit service restart: the next push is a snapshot with ``u = 1``."""
        self._reset.add(symbol)
        return True


class BybitSpotSim(BybitSim):
    venue = "bybit-spot"
    path = "/v5/public/spot"
    max_args = 10
    ts_first = True

    def _ack(self, conn: SimConn, op: str, req_id: Any, ok: bool = True, msg: str = "") -> str:
        return _dumps({"success": ok, "ret_msg": msg or op, "conn_id": f"sim-{conn.id}", "req_id": req_id, "op": op})

    def _pong(self, conn: SimConn, req_id: Any) -> str:
        return _dumps({"success": True, "ret_msg": "pong", "conn_id": f"sim-{conn.id}", "op": "ping"})


class BybitLinearSim(BybitSim):
    venue = "bybit-linear"
    path = "/v5/public/linear"
    max_args = 10_000  # linear only caps the args length (21,000 characters)
    ts_first = False

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        return MarketParams(asset=base, tick_decimals=1 if base == "BTC" else 2, lot_decimals=3, liquidity=2.0)

    def _ack(self, conn: SimConn, op: str, req_id: Any, ok: bool = True, msg: str = "") -> str:
        return _dumps({"success": ok, "ret_msg": msg, "conn_id": f"sim-{conn.id}", "req_id": "", "op": op})

    def _pong(self, conn: SimConn, req_id: Any) -> str:
        return _dumps({"success": True, "ret_msg": "pong", "conn_id": f"sim-{conn.id}", "req_id": "", "op": "ping"})
