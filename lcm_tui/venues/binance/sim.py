"""Binance spot and USD-M futures as the simulator serves them (docs/protocols.md, the two Binance sections).

Spot: ``/stream?streams=a/b`` (wrapped ``{"stream","data"}``) and ``/ws/<stream>`` (raw), live
``SUBSCRIBE``, contiguous update ids (``U`` = previous ``u`` + 1, one id per change), the WS-API
``depth`` method at ``/ws-api/v3`` (``status``/``result``/``rateLimits``) and REST ``/api/v3/depth``.
USD-M: the same under ``/public``, ids that jump between events and ``pu`` = previous ``u``, REST
``/fapi/v1/depth``. Both send ``serverShutdown`` before closing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from lcm_tui.venues.simbase import Change, MarketParams, SimConn, VenueSim, split_concatenated

DIFF_STREAMS = ("depth", "depth@100ms", "depth@250ms", "depth@500ms", "depth@1000ms")
# Binance writes symbols as BASEQUOTE; these are the quotes the simulator splits on (longest match first).
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
RATE_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 2}]


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class BinanceSim(VenueSim):
    venue = "binance"
    futures: ClassVar[bool] = False
    rest_path: ClassVar[str] = "/api/v3/depth"
    max_limit: ClassVar[int] = 5000

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self.last_id: dict[str, int] = {s: 1_000_000 * (i + 1) for i, s in enumerate(self.symbols)}

    @classmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        return {"ws_url": base, "snapshot_url": base + "/ws-api/v3"}

    @classmethod
    def split_symbol(cls, symbol: str) -> tuple[str, str]:
        return split_concatenated(symbol, QUOTES)

    @classmethod
    def join_symbol(cls, base: str, quote: str) -> str:
        return f"{base}{quote}".upper()

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        lot = 5 if base == "BTC" else 4
        # Spot writes every number with 8 decimals, whatever the tick and lot, deletes too
        # ("0.00000000", as in the recorded traffic); USD-M writes a delete as "0".
        return MarketParams(asset=base, tick_decimals=2, lot_decimals=lot, price_pad=6, size_pad=8 - lot,
                            delete_size="0.00000000", liquidity=1.0)

    # ---- connections -------------------------------------------------------------------------
    def _subscribe(self, conn: SimConn, stream: str) -> bool:
        sym, _, kind = stream.partition("@")
        sym = sym.upper()
        if sym not in self.books or kind not in DIFF_STREAMS:
            return False
        conn.subs.add(sym)
        conn.state.setdefault("streams", {})[sym] = stream
        return True

    def on_connect(self, conn: SimConn) -> list[str]:
        path = conn.path
        if self.futures:
            for pre in ("/public", "/market"):
                if path.startswith(pre):
                    path = path[len(pre):]
        if path.startswith("/ws-api"):
            conn.control = True
            return []
        conn.state["combined"] = path.startswith("/stream")
        names = conn.query.get("streams", "") if conn.state["combined"] else path[len("/ws/"):]
        for name in filter(None, names.split("/")):
            self._subscribe(conn, name)
        return []

    def on_message(self, conn: SimConn, text: str) -> list[str]:
        try:
            req = orjson.loads(text)
            method = req.get("method")
            rid = req.get("id")
        except (orjson.JSONDecodeError, AttributeError):
            return [_dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})]
        if conn.control:
            return [self._ws_api(rid, method, req.get("params") or {})]
        if method == "SUBSCRIBE":
            for name in req.get("params") or []:
                self._subscribe(conn, str(name))
        elif method == "UNSUBSCRIBE":
            for name in req.get("params") or []:
                conn.subs.discard(str(name).partition("@")[0].upper())
        elif method == "LIST_SUBSCRIPTIONS":
            return [_dumps({"result": sorted(conn.state.get("streams", {}).values()), "id": rid})]
        else:
            return [_dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": rid})]
        return [_dumps({"result": None, "id": rid})]

    def _depth(self, symbol: str, limit: Any) -> dict[str, Any] | None:
        if symbol not in self.books:
            return None
        try:
            n = max(1, min(int(limit or 100), self.max_limit))
        except (TypeError, ValueError):
            n = 100
        bids, asks = self.bids_asks(self.books[symbol], n)
        return {"lastUpdateId": self.last_id[symbol], "bids": bids, "asks": asks}

    def _ws_api(self, rid: Any, method: Any, params: dict[str, Any]) -> str:
        if method == "ping":
            return _dumps({"id": rid, "status": 200, "result": {}, "rateLimits": RATE_LIMITS})
        if method != "depth":
            return _dumps({"id": rid, "status": 400, "error": {"code": -1100, "msg": f"Unknown method {method!r}."}})
        res = self._depth(str(params.get("symbol", "")), params.get("limit"))
        if res is None:
            return _dumps({"id": rid, "status": 400, "error": {"code": -1121, "msg": "Invalid symbol."},
                           "rateLimits": RATE_LIMITS})
        return _dumps({"id": rid, "status": 200, "result": res, "rateLimits": RATE_LIMITS})

    def http(self, path: str, query: dict[str, str]) -> tuple[int, str] | None:
        if self.futures and path.startswith("/public"):
            path = path[len("/public"):]
        if path != self.rest_path:
            return None
        res = self._depth(query.get("symbol", ""), query.get("limit"))
        if res is None:
            return 400, _dumps({"code": -1121, "msg": "Invalid symbol."})
        return 200, _dumps(res)

    # ---- the stream --------------------------------------------------------------------------
    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        if not changes:
            return None
        prev = self.last_id[symbol]
        first = prev + 1
        last = prev + len(changes)
        ev: dict[str, Any] = {"e": "depthUpdate", "E": t_ns // 1_000_000, "s": symbol, "U": first, "u": last,
                              "b": [[p, q] for s, p, q in changes if s == "bid"],
                              "a": [[p, q] for s, p, q in changes if s == "ask"]}
        self.last_id[symbol] = last
        return _dumps(ev)

    def frames_for(self, conn: SimConn, symbol: str, payload: Any) -> list[str]:
        if not conn.state.get("combined"):
            return [payload]
        return ['{"stream":"' + conn.state["streams"][symbol] + '","data":' + payload + "}"]

    def shutdown_frames(self, conn: SimConn, t_ns: int) -> list[str]:
        ev = '{"e":"serverShutdown","E":' + str(t_ns // 1_000_000) + "}"
        if conn.state.get("combined"):
            return ['{"stream":"!serverShutdown","data":' + ev + "}"]
        return [ev]

    def reset_sequence(self, symbol: str) -> bool:
        """An engine restart: update ids start again from 1 (clients must notice and resync)."""
        self.last_id[symbol] = 0
        return True


class BinanceUsdmSim(BinanceSim):
    venue = "binance-usdm"
    futures = True
    rest_path = "/fapi/v1/depth"
    max_limit = 1000

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self._steps = 0

    @classmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        return {"ws_url": base + "/public", "snapshot_url": "http" + base[2:] + "/fapi/v1/depth"}

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        return MarketParams(asset=base, tick_decimals=1 if base == "BTC" else 2, lot_decimals=3, liquidity=2.0)

    def _depth(self, symbol: str, limit: Any) -> dict[str, Any] | None:
        res = super()._depth(symbol, limit)
        if res is not None:
            res = {"lastUpdateId": res["lastUpdateId"], "E": 0, "T": 0, "bids": res["bids"], "asks": res["asks"]}
        return res

    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        if not changes:
            return None
        self._steps += 1
        prev = self.last_id[symbol]
        # Futures ids are not contiguous across events: only pu links them.
        first = prev + 1 + self._steps % 3
        last = first + 2 * len(changes)
        ms = t_ns // 1_000_000
        ev: dict[str, Any] = {"e": "depthUpdate", "E": ms, "T": ms, "s": symbol, "U": first, "u": last, "pu": prev,
                              "b": [[p, q] for s, p, q in changes if s == "bid"],
                              "a": [[p, q] for s, p, q in changes if s == "ask"]}
        self.last_id[symbol] = last
        return _dumps(ev)
