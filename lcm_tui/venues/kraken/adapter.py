"""Kraken Spot WebSocket v2 ``book`` channel (docs/protocols.md, "Kraken WebSocket v2").

Kraken has no sequence numbers; the CRC32 of the top 10 levels on the snapshot and on every update is
the only integrity check, and it is computed over the exact digits Kraken printed. Kraken writes
``price``/``qty`` as JSON *numbers* with trailing zeros (``0.10000000``), which every float parser
loses, so frames are parsed with ``json.loads(parse_float=str)``: the C scanner hands over the number
token exactly as it appears on the wire (measured as fast as ``parse_float=Decimal`` and 3x faster than
re-quoting the numbers for orjson on a 1000-level snapshot; exactness is tested against Kraken's own
worked example). Exponent tokens are rendered positionally (``format(Decimal, 'f')``). A number sent
as a JSON string is accepted as well: its digits are just as exact.

Book maintenance order matters: apply every level, truncate each side to the subscribed depth
(Kraken sends no deletes for levels pushed out), then verify the checksum.

The venue rules this adapter follows: ``docs/protocols.md``.
"""

from __future__ import annotations

import json
from typing import Any

from lcm_tui.core.model import FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.settings import ConfigError, VenueConfig
from lcm_tui.venues.base import Action, Adapter, EventSink, Send, log
from lcm_tui.venues.kraken.checksum import kraken_checksum, plain_decimal
from lcm_tui.venues.kraken.spec import KRAKEN

DEPTHS = tuple(KRAKEN.depths)
PING_EVERY_NS = 20 * 1_000_000_000

_loads = json.JSONDecoder(parse_float=str).decode
_BOOK_HEAD = '{"channel":"book"'


def _num(v: Any) -> str:
    """A price or qty as its exact positional digit string."""
    t = type(v)
    if t is str:
        return plain_decimal(v)
    if t is int:
        return str(v)
    raise ValueError(f"not a JSON number: {v!r:.30}")


def parse_levels(levels: Any) -> list[tuple[str, str]]:
    if type(levels) is not list:
        raise ValueError("levels are not a list")
    return [(_num(lv["price"]), _num(lv["qty"])) for lv in levels]


class KrakenAdapter(Adapter):
    venue = "kraken"

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        super().__init__(cfg, symbols, sink)
        depth = cfg.depth or KRAKEN.default_depth
        if depth not in DEPTHS:
            raise ConfigError(
                f"exchanges.kraken.depth: {cfg.depth!r} is not allowed: must be one of {', '.join(map(str, DEPTHS))}"
            )
        self.depth = depth
        self._synced: dict[str, bool] = dict.fromkeys(self.symbols, False)
        self._req = 0
        self._last_ping_ns = 0
        self.pongs = 0
        self.heartbeats = 0
        self.errors = 0  # requests Kraken rejected (success: false)
        self.system_status = ""

    # ---- runner interface ------------------------------------------------------------------
    def url(self) -> str:
        return self.cfg.ws_url

    def on_open(self, t_ns: int) -> list[Action]:
        self._last_ping_ns = t_ns
        for s, st in self.states.items():
            self._synced[s] = False
            st.book.clear()
            self.set_status(st, StreamStatus.SYNCING, "subscribing", t_ns)
        return [Send(self._request("subscribe", self.symbols, snapshot=True))]

    def keepalive(self, t_ns: int) -> list[Action]:
        out = super().keepalive(t_ns)  # deferred resubscribes
        if t_ns - self._last_ping_ns < PING_EVERY_NS:
            return out
        self._last_ping_ns = t_ns
        self._req += 1
        return [*out, Send(json.dumps({"method": "ping", "req_id": self._req}))]

    def _lost_books(self, text: str | bytes) -> tuple[SymbolState | None, list[SymbolState]]:
        """The books an unparseable frame may have been an update for.

        Kraken has no sequence numbers, so a lost update that only touched levels below the top 10
        would never show up in a checksum: resync every book the frame may have belonged to, unless it
        is recognisably something else (heartbeat, status, a reply). The malformed count goes on the
        symbol when the frame names exactly one.
        """
        st = self.states.get(self.last_frame_symbol)
        if st is not None:
            return st, [st]
        raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
        head = raw.lstrip()[:40].replace(" ", "")
        is_book = head.startswith(_BOOK_HEAD) or _BOOK_HEAD.startswith(head)
        if not is_book and head.startswith(('{"channel"', '{"method"', '{"error"')):
            return None, []
        named = [st for sym, st in self.states.items() if f'"{sym}"' in raw]
        if named:
            lost = [st for st in named if self._synced[st.symbol]]
            return (lost[0] if len(lost) == 1 else None), lost
        return None, [st for sym, st in self.states.items() if self._synced[sym]]

    # ---- internals -------------------------------------------------------------------------
    def _request(self, method: str, symbols: list[str], snapshot: bool | None = None) -> str:
        self._req += 1
        params: dict[str, Any] = {"channel": "book", "symbol": symbols, "depth": self.depth}
        if snapshot is not None:
            params["snapshot"] = snapshot
        return json.dumps({"method": method, "params": params, "req_id": self._req}, separators=(",", ":"))

    def _forget(self, st: SymbolState) -> None:
        self._synced[st.symbol] = False  # updates are dropped until the resubscribe's snapshot

    def _resubscribe(self, sts: list[SymbolState]) -> list[Action]:
        sym = [st.symbol for st in sts]
        return [Send(self._request("unsubscribe", sym)), Send(self._request("subscribe", sym, snapshot=True))]

    def _frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        msg = _loads(text if isinstance(text, str) else text.decode())
        if type(msg) is not dict:
            raise ValueError("not an object")
        channel = msg.get("channel")
        if channel == "book":
            kind = msg["type"]
            if kind not in ("snapshot", "update"):
                raise ValueError(f"unknown type {kind!r:.20}")
            out: list[Action] = []
            for d in msg["data"]:
                out.extend(self._book(d, kind == "snapshot", text, t_ns))
            return out
        if channel == "heartbeat":
            self.heartbeats += 1
            return []
        if channel == "status":
            data = msg.get("data")
            if type(data) is list and data and type(data[0]) is dict:
                self.system_status = str(data[0].get("system", ""))
                if self.system_status != "online":
                    log.warning("kraken: system status %.40s", self.system_status)
            return []
        method = msg.get("method")
        if method == "pong":
            self.pongs += 1
            return []
        if method in ("subscribe", "unsubscribe"):
            if msg.get("success") is False:
                self._rejected(msg, t_ns)
            return []
        self.malformed(None, text, "unknown message", t_ns)
        return []

    def _book(self, d: Any, is_snapshot: bool, text: str | bytes, t_ns: int) -> list[Action]:
        sym = d["symbol"]
        st = self.states.get(sym)
        if st is None:
            self.malformed(None, text, f"unsubscribed symbol {sym!r:.40}", t_ns)
            return []
        self.last_frame_symbol = sym
        st.counters.frames += 1
        bids = parse_levels(d["bids"])
        asks = parse_levels(d["asks"])
        checksum = d["checksum"]
        if type(checksum) is not int:
            raise ValueError("checksum is not an integer")
        book = st.book
        if is_snapshot:
            book.load_snapshot(bids, asks)
            self._synced[sym] = True
        elif not self._synced[sym]:
            return []  # leftovers of a subscription being replaced; the snapshot will contain them
        else:
            book.apply(bids, asks)
        book.truncate(self.depth)
        st.last_update_ns = t_ns
        mine = kraken_checksum(book.asks.top(10), book.bids.top(10))
        if mine != checksum:
            return self._resync(st, FeedEventKind.CHECKSUM, f"checksum {checksum} != {mine}", t_ns)
        if book.is_crossed():
            return self._resync(st, FeedEventKind.CROSSED, "best bid >= best ask", t_ns)
        if st.status is not StreamStatus.LIVE:
            self.set_status(st, StreamStatus.LIVE, "", t_ns)
        return []

    def _rejected(self, msg: dict[str, Any], t_ns: int) -> None:
        self.errors += 1
        why = str(msg.get("error", ""))[:200]
        log.warning("kraken: %s rejected: %s", msg.get("method"), why)
        result = msg.get("result")
        sym = msg.get("symbol") or (result.get("symbol") if type(result) is dict else None)
        st = self.states.get(sym) if type(sym) is str else None
        if st is not None and msg.get("method") == "subscribe":
            self.set_status(st, StreamStatus.DOWN, f"subscribe rejected: {why}", t_ns)
