"""OKX v5 ``books`` as the simulator serves it (docs/protocols.md, "OKX v5").

``/ws/v5/public`` takes text ``ping`` and ``op: subscribe|unsubscribe`` with ``args`` of
``{"channel":"books","instId":...}``, acks each arg with ``connId``, then sends a snapshot
(``prevSeqId: -1``) and updates chained on ``prevSeqId`` whose ``seqId`` jumps by random amounts. Idle
symbols get the empty keepalive (``prevSeqId == seqId``); a sequence reset is one update with
``seqId < prevSeqId``. Before a service-upgrade close it sends ``notice`` 64008. REST
``/api/v5/market/books`` returns the book with its ``seqId``.

Two switches copy OKX's 2026 changes: ``real_checksum`` (False: ``checksum`` is 0 as since June 2026;
True: the signed CRC32 of the top 25, for tests) and ``ws_snapshot`` (False: no in-stream snapshot, as
announced for August 2026, so clients must bootstrap from REST). Prices and sizes are written the way
OKX writes them, trailing zeros stripped (``"8477"``, not ``"8477.00"``).

The checksum is the simulator's own, written from the documented algorithm (docs/protocols.md,
"OKX v5"), not the adapter's: a client that builds the string or the sign differently must fail.
"""

from __future__ import annotations

import binascii
import random
import re
import struct
import zlib
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

import orjson

from lcm_tui.venues.simbase import Change, MarketParams, SimBook, SimConn, VenueSim

CHANNEL = "books"
REST_PATH = "/api/v5/market/books"
CHECKSUM_LEVELS = 25  # OKX's CRC covers the 25 best levels of each side
MAX_REST_SZ = 400  # /api/v5/market/books caps sz at 400
_CHECKSUM = re.compile(r'"checksum":(-?\d+)')


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def book_crc(bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> int:
    """OKX's signed CRC32: ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25, a short side skipped."""
    fields: list[str] = []
    for pair in zip_longest(bids[:CHECKSUM_LEVELS], asks[:CHECKSUM_LEVELS]):
        for level in pair:
            if level is not None:
                fields += level[:2]
    unsigned = binascii.crc32(":".join(fields).encode("utf-8"))
    (signed,) = struct.unpack("<i", struct.pack("<I", unsigned))
    return int(signed)


class OkxSim(VenueSim):
    venue = "okx"

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self.rng = random.Random(zlib.crc32(("okx:" + ",".join(self.symbols)).encode()))
        self.seq: dict[str, int] = {s: 10_000 + self.rng.randrange(90_000) for s in self.symbols}
        self.real_checksum = False
        self.ws_snapshot = True
        self.keepalive_idle_s = 60.0
        self._reset: set[str] = set()
        self._ts: dict[str, int] = {}

    @classmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        return {"ws_url": base + "/ws/v5/public", "snapshot_url": "http" + base[2:] + REST_PATH}

    @classmethod
    def split_symbol(cls, symbol: str) -> tuple[str, str]:
        """OKX instIds are ``BASE-QUOTE`` (spot) or ``BASE-QUOTE-SWAP`` (perpetual)."""
        parts = symbol.upper().split("-")
        return parts[0], parts[1] if len(parts) > 1 else ""

    @classmethod
    def join_symbol(cls, base: str, quote: str) -> str:
        return f"{base}-{quote}".upper()

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        # OKX's spelling is stored in the true book (strip_zeros), so books compare string for string.
        return MarketParams(asset=base, tick_decimals=1 if base == "BTC" else 2,
                            lot_decimals=8 if base == "BTC" else 6, strip_zeros=True)

    # ---- wire --------------------------------------------------------------------------------
    @staticmethod
    def _levels(levels: list[tuple[str, str]] | list[list[str]]) -> list[list[str]]:
        # price, size, a deprecated "0", and the number of orders at the level
        return [[p, q, "0", str(1 + len(q) % 7) if q != "0" else "0"] for p, q in levels]

    def _checksum(self, book: SimBook) -> int:
        return book_crc(book.bids(CHECKSUM_LEVELS), book.asks(CHECKSUM_LEVELS)) if self.real_checksum else 0

    def _push(self, symbol: str, action: str, bids: list[list[str]], asks: list[list[str]], prev: int, seq: int,
              ts: int) -> str:
        data = {"asks": asks, "bids": bids, "ts": str(ts), "checksum": self._checksum(self.books[symbol]),
                "prevSeqId": prev, "seqId": seq}
        return _dumps({"arg": {"channel": CHANNEL, "instId": symbol}, "action": action, "data": [data]})

    def snapshot_frame(self, symbol: str, ts: int) -> str:
        bids, asks = self.bids_asks(self.books[symbol])
        return self._push(symbol, "snapshot", self._levels(bids), self._levels(asks), -1, self.seq[symbol], ts)

    # ---- connections -------------------------------------------------------------------------
    def on_message(self, conn: SimConn, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        cid = f"sim{conn.id:06x}"
        try:
            req = orjson.loads(text)
            op = req["op"]
            args = req["args"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return [_dumps({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:60]}", "connId": cid})]
        rid = {"id": req["id"]} if "id" in req else {}
        if op not in ("subscribe", "unsubscribe"):
            return [_dumps({**rid, "event": "error", "code": "60012", "msg": f"Invalid request: {text[:60]}",
                            "connId": cid})]
        out = []
        for arg in args:
            sym = arg.get("instId") if isinstance(arg, dict) else None
            if not isinstance(arg, dict) or arg.get("channel") != CHANNEL or sym not in self.books:
                out.append(_dumps({**rid, "event": "error", "code": "60018",
                                   "msg": f"Wrong URL or channel:{arg}, doesn't exist", "connId": cid}))
                continue
            out.append(_dumps({**rid, "event": op, "arg": {"channel": CHANNEL, "instId": sym}, "connId": cid}))
            if op == "unsubscribe":
                conn.subs.discard(sym)
                continue
            conn.subs.add(sym)
            ts = self._ts.get(sym, conn.connected_ns // 1_000_000)
            conn.state.setdefault("last_ns", {})[sym] = conn.connected_ns
            if self.ws_snapshot:
                out.append(self.snapshot_frame(sym, ts))
        return out

    def http(self, path: str, query: dict[str, str]) -> tuple[int, str] | None:
        if path != REST_PATH:
            return None
        sym = query.get("instId", "")
        if sym not in self.books:
            return 200, _dumps({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        try:
            sz = max(1, min(int(query.get("sz", "1")), MAX_REST_SZ))
        except ValueError:
            sz = 1
        bids, asks = self.bids_asks(self.books[sym], sz)
        data = {"asks": self._levels(asks), "bids": self._levels(bids), "ts": str(self._ts.get(sym, 0)),
                "seqId": self.seq[sym]}
        return 200, _dumps({"code": "0", "msg": "", "data": [data]})

    # ---- the stream --------------------------------------------------------------------------
    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        if not changes:
            return None
        prev = self.seq[symbol]
        if symbol in self._reset:
            self._reset.discard(symbol)
            seq = self.rng.randint(1, 10)  # after maintenance: seqId < prevSeqId, then chaining resumes
        else:
            seq = prev + self.rng.randint(1, 40)  # seqIds are not contiguous
        self.seq[symbol] = seq
        ts = self._ts[symbol] = t_ns // 1_000_000
        bids = self._levels([(p, q) for s, p, q in changes if s == "bid"])
        asks = self._levels([(p, q) for s, p, q in changes if s == "ask"])
        return self._push(symbol, "update", bids, asks, prev, seq, ts), t_ns

    def frames_for(self, conn: SimConn, symbol: str, payload: Any) -> list[str]:
        frame, t_ns = payload
        conn.state.setdefault("last_ns", {})[symbol] = t_ns
        return [frame]

    def on_idle(self, conn: SimConn, t_ns: int) -> list[str]:
        """The keepalive OKX sends for a book that has not changed for about a minute."""
        out = []
        last: dict[str, int] = conn.state.setdefault("last_ns", {})
        for sym in sorted(conn.subs):
            if t_ns - last.get(sym, conn.connected_ns) >= self.keepalive_idle_s * 1e9:
                seq = self.seq[sym]
                out.append(self._push(sym, "update", [], [], seq, seq, t_ns // 1_000_000))
                last[sym] = t_ns
        return out

    # ---- faults ------------------------------------------------------------------------------
    def corrupt_checksum(self, frame: str) -> str | None:
        m = _CHECKSUM.search(frame)
        if m is None or m.group(1) == "0":
            return None  # production OKX sends 0: there is nothing to corrupt
        bad = int(m.group(1)) ^ 0x5A5A
        return frame[: m.start(1)] + str(bad) + frame[m.end(1):]

    def shutdown_frames(self, conn: SimConn, t_ns: int) -> list[str]:
        return [_dumps({"event": "notice", "code": "64008",
                        "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
                        "connId": f"sim{conn.id:06x}"})]

    def reset_sequence(self, symbol: str) -> bool:
        self._reset.add(symbol)
        return True
