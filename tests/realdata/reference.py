"""An independent reference for the real-data tests: exact Decimal books and metrics.

Nothing here imports lcm-tui. The books follow each venue's documented sync rules
(exchange-protocols.md), written again from the documents, and the metrics follow metrics.md in
exact decimal arithmetic (band edges compared exactly: p >= m(1 - x/1e4), p <= m(1 + x/1e4)).
The checksums are computed here from the documented algorithms over this book's own strings.
"""

from __future__ import annotations

import json
import zlib
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from typing import Any

D0 = Decimal(0)
_EXACT = Context(prec=60)  # p*q of wire decimals is exact at this precision
D1E4 = Decimal(10_000)


class Side:
    """One side, best first: bids are kept under negated keys so index 0 is always the top."""

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.keys: list[Decimal] = []  # sorted ascending; bids negated
        self.levels: dict[Decimal, tuple[str, str]] = {}  # signed key -> (price, size) as sent
        self.version = 0  # bumped on every change: an unchanged side needs no new comparison
        self.walked: tuple[Any, Any] | None = None  # (key, result) of the last metrics walk
        self.exact: dict[Decimal, tuple[Decimal, Decimal, Decimal]] = {}  # key -> (p, q, p*q)

    def set(self, price: str, size: str) -> None:
        self.version += 1
        k = -Decimal(price) if self.is_bid else Decimal(price)
        q = Decimal(size)
        if q == 0:
            if k in self.levels:  # deleting an absent level is a no-op (§6)
                del self.levels[k]
                del self.exact[k]
                self.keys.pop(bisect_left(self.keys, k))
            return
        if k not in self.levels:
            insort(self.keys, k)
        self.levels[k] = (price, size)
        p = -k if self.is_bid else k
        self.exact[k] = (p, q, _EXACT.multiply(p, q))

    def clear(self) -> None:
        self.version += 1
        self.keys.clear()
        self.levels.clear()
        self.exact.clear()

    def truncate(self, depth: int) -> None:
        if len(self.keys) > depth:
            self.version += 1
        for k in self.keys[depth:]:
            del self.levels[k]
            del self.exact[k]
        del self.keys[depth:]

    def top(self, n: int | None = None) -> list[tuple[str, str]]:
        lv = self.levels
        return [lv[k] for k in (self.keys if n is None else self.keys[:n])]

    def best(self) -> Decimal | None:
        if not self.keys:
            return None
        return -self.keys[0] if self.is_bid else self.keys[0]


class Book:
    def __init__(self) -> None:
        self.bids = Side(True)
        self.asks = Side(False)

    def load(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.clear()
        self.apply(bids, asks)

    def apply(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        for p, q in bids:
            self.bids.set(p, q)
        for p, q in asks:
            self.asks.set(p, q)

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def crossed(self) -> bool:
        b, a = self.bids.best(), self.asks.best()
        return b is not None and a is not None and b >= a


# ------------------------------------------------------------------------------------ metrics.md


def metrics(book: Book, bands: list[int], notionals: list[float]) -> dict[str, Any] | None:
    """Every metrics.md number, exactly; None without a two-sided top.

    A side's walk is remembered by (side, its version, mid): a frame usually changes one side, and
    the other side's exact walk over a deep book need not be done again.
    """
    b1, a1 = book.bids.best(), book.asks.best()
    if b1 is None or a1 is None:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        m = (a1 + b1) / 2
        out: dict[str, Any] = {"mid": m, "spread_bps": D1E4 * (a1 - b1) / m,
                               "depth_bid": {}, "depth_ask": {}, "imbalance": {}, "slippage": {}}
        edges = {x: (m * (1 - Decimal(x) / D1E4), m * (1 + Decimal(x) / D1E4)) for x in bands}
        targets = sorted(Decimal(repr(n)) for n in notionals)
        for side, name, inside in ((book.bids, "depth_bid", lambda p, x: p >= edges[x][0]),
                                   (book.asks, "depth_ask", lambda p, x: p <= edges[x][1])):
            key = (side.version, m, tuple(bands), tuple(targets))
            if side.walked is None or side.walked[0] != key:
                side.walked = (key, _pass(side, sorted(bands), inside, targets, "sell" if side.is_bid else "buy", m))
            depth, walks = side.walked[1]
            out[name] = depth
            for n in notionals:
                out["slippage"][("sell" if side.is_bid else "buy", n)] = walks[Decimal(repr(n))]
        for x in bands:
            db, da = out["depth_bid"][x], out["depth_ask"][x]
            out["imbalance"][x] = (db - da) / (db + da) if db + da else D0
    return out


def _pass(side: Side, bands: list[int], inside: Any, targets: list[Decimal], kind: str,
          m: Decimal) -> tuple[dict[int, Decimal], dict[Decimal, dict[str, Any]]]:
    """One walk from the top: each band's sum of p*q over the levels inside it, and the VWAP walk
    for each notional (metrics.md: spend or receive N quote, the last level partially)."""
    depth = dict.fromkeys(bands, D0)
    # Levels go outward from the top, so once a level is outside band x every later one is too:
    # bands[first:] are the ones still collecting.
    first = 0
    walks: dict[Decimal, dict[str, Any]] = {}
    pending = list(targets)
    quote = D0
    base = D0
    n = 0
    exact = side.exact
    for k in side.keys:
        if first == len(bands) and not pending:
            break
        p, q, pq = exact[k]
        n += 1
        while first < len(bands) and not inside(p, bands[first]):
            first += 1
        for x in bands[first:]:
            depth[x] += pq
        while pending and quote + pq >= pending[0]:
            N = pending.pop(0)
            vwap = N / (base + (N - quote) / p)
            bps = D1E4 * (vwap - m) / m if kind == "buy" else D1E4 * (m - vwap) / m
            walks[N] = {"vwap": vwap, "slippage_bps": bps, "levels": n, "filled_quote": N}
        quote += pq
        base += q
    for N in pending:
        walks[N] = {"vwap": None, "slippage_bps": None, "levels": n, "filled_quote": quote}
    return depth, walks


# ------------------------------------------------------------------------------------ checksums


def okx_checksum(book: Book) -> int:
    """§3.4: bid1px:bid1sz:ask1px:ask1sz:... over the top 25, CRC32 as a signed 32-bit integer."""
    b, a = book.bids.top(25), book.asks.top(25)
    parts: list[str] = []
    for i in range(max(len(b), len(a))):
        if i < len(b):
            parts += b[i]
        if i < len(a):
            parts += a[i]
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c >= (1 << 31) else c


def kraken_checksum(book: Book) -> int:
    """§4.4: top 10 asks (lowest first) then top 10 bids, each price and qty without '.' and
    leading zeros, CRC32 unsigned."""
    def f(s: str) -> str:
        return s.replace(".", "").lstrip("0")

    s = "".join(f(p) + f(q) for p, q in book.asks.top(10)) + "".join(f(p) + f(q) for p, q in book.bids.top(10))
    return zlib.crc32(s.encode())


# ------------------------------------------------------------------------------------ venue rules


@dataclass
class Stream:
    """One symbol as the venue's rules see it."""

    book: Book = field(default_factory=Book)
    synced: bool = False
    gaps: int = 0
    checksum_failures: int = 0
    crossed: int = 0
    resyncs: int = 0
    frames: int = 0
    # venue-specific sequence state
    last: Any = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    first_pending: bool = False
    waiting: bool = False  # Binance: a snapshot is loaded, no event has bridged it yet

    @property
    def live(self) -> bool:
        return self.synced and not self.waiting and not self.book.crossed()

    def lose(self, why: str) -> None:
        setattr(self, why, getattr(self, why) + 1)
        self.resyncs += 1
        self.book.clear()
        self.synced = False
        self.waiting = False
        self.first_pending = False
        self.last = None
        self.buffer.clear()


class Venue:
    """Feed frames (as the adapter gets them); returns the symbol a frame touched, if any."""

    def __init__(self, symbols: list[str]) -> None:
        self.streams = {s: Stream() for s in symbols}
        self.checksums_verified = 0  # real checksums that matched this book
        self.checksums_seen = 0
        self.events: list[tuple[int, str, str]] = []  # (frame index, symbol, kind) of every loss
        self.index = -1

    def frame(self, text: str, snapshot_for: str | None = None) -> set[str]:
        """The symbols whose books this frame may change (its own, and any it made the venue drop)."""
        self.index += 1
        n = len(self.events)
        sym = self.on(text, snapshot_for)
        return {s for _, s, _ in self.events[n:]} | ({sym} if sym else set())

    def on(self, text: str, snapshot_for: str | None) -> str | None:
        raise NotImplementedError

    def lose(self, sym: str, why: str) -> None:
        self.events.append((self.index, sym, why))
        self.streams[sym].lose(why)


class Binance(Venue):
    """§1.2 (spot) and §1.4 (USD-M): buffer, snapshot, drop old events, the first kept event must
    straddle the snapshot, then U == last+1 (spot) or pu == last u (USD-M)."""

    def __init__(self, symbols: list[str], futures: bool) -> None:
        super().__init__(symbols)
        self.futures = futures

    def on(self, text: str, snapshot_for: str | None) -> str | None:
        msg = json.loads(text)
        if snapshot_for is not None:
            return self.snapshot(snapshot_for, msg)
        ev = msg.get("data", msg)
        if ev.get("e") != "depthUpdate":
            return None
        sym = ev["s"]
        st = self.streams[sym]
        st.frames += 1
        if not st.synced:
            st.buffer.append(ev)
            return sym
        self.event(sym, st, ev)
        return sym

    def snapshot(self, sym: str, body: dict[str, Any]) -> str:
        st = self.streams[sym]
        st.frames += 1
        if st.synced or not st.buffer:
            return sym
        lid = body["lastUpdateId"]
        if (lid < st.buffer[0]["U"]) if self.futures else (lid + 1 < st.buffer[0]["U"]):
            return sym  # too old: fetch again (there is no second one in a recording)
        st.book.load([tuple(x[:2]) for x in body["bids"]], [tuple(x[:2]) for x in body["asks"]])
        st.synced, st.last, st.first_pending, st.waiting = True, lid, True, True
        buffered, st.buffer = st.buffer, []
        for ev in buffered:
            if not st.synced:
                st.buffer.append(ev)
                continue
            self.event(sym, st, ev)
        return sym

    def event(self, sym: str, st: Stream, ev: dict[str, Any]) -> None:
        last = st.last
        if self.futures:
            if st.first_pending:
                if ev["u"] < last:
                    return
                if not ev["U"] <= last <= ev["u"]:
                    self.lose(sym, "gaps")
                    st.buffer.append(ev)
                    return
            elif ev["u"] <= last:
                return
            elif ev["pu"] != last:
                self.lose(sym, "gaps")
                st.buffer.append(ev)
                return
        else:
            if ev["u"] <= last:
                return
            if ev["U"] > last + 1:
                self.lose(sym, "gaps")
                st.buffer.append(ev)
                return
        st.book.apply([tuple(x[:2]) for x in ev["b"]], [tuple(x[:2]) for x in ev["a"]])
        st.last, st.first_pending, st.waiting = ev["u"], False, False
        if st.book.crossed():
            self.lose(sym, "crossed")


class Okx(Venue):
    """§3.3: a snapshot (prevSeqId -1) loads; each update's prevSeqId must equal the last seqId;
    §3.4: a non-zero checksum is the signed CRC32 of the top 25 interleaved. A crossed book is
    legitimate on OKX (auctions): not a loss, but never live."""

    def on(self, text: str, snapshot_for: str | None) -> str | None:
        msg = json.loads(text)
        arg = msg.get("arg")
        if "event" in msg or not isinstance(arg, dict) or arg.get("channel") != "books":
            return None
        sym = arg["instId"]
        st = self.streams[sym]
        st.frames += 1
        for d in msg["data"]:
            bids = [tuple(x[:2]) for x in d["bids"]]
            asks = [tuple(x[:2]) for x in d["asks"]]
            if msg["action"] == "snapshot":
                st.book.load(bids, asks)
                st.synced = True
            elif not st.synced:
                continue
            elif d["prevSeqId"] != st.last:
                self.lose(sym, "gaps")
                break
            else:
                st.book.apply(bids, asks)
            st.last = d["seqId"]
            if d.get("checksum"):
                self.checksums_seen += 1
                if okx_checksum(st.book) != d["checksum"]:
                    self.lose(sym, "checksum_failures")
                    break
                self.checksums_verified += 1
            if st.book.crossed():
                st.crossed += 1
        return sym


class Kraken(Venue):
    """§4.3: apply every level, truncate each side to the subscribed depth, then compare the
    checksum of the top 10 (§4.4); a crossed book is a loss too."""

    def __init__(self, symbols: list[str], depth: int) -> None:
        super().__init__(symbols)
        self.depth = depth

    def on(self, text: str, snapshot_for: str | None) -> str | None:
        msg = json.loads(text, parse_float=str, parse_int=str)  # the digits exactly as written
        if msg.get("channel") != "book":
            return None
        sym: str | None = None
        for d in msg["data"]:
            sym = d["symbol"]
            st = self.streams[sym]
            st.frames += 1
            bids = [(lv["price"], lv["qty"]) for lv in d["bids"]]
            asks = [(lv["price"], lv["qty"]) for lv in d["asks"]]
            if msg["type"] == "snapshot":
                st.book.load(bids, asks)
                st.synced = True
            elif not st.synced:
                continue
            else:
                st.book.apply(bids, asks)
            st.book.bids.truncate(self.depth)
            st.book.asks.truncate(self.depth)
            self.checksums_seen += 1
            if kraken_checksum(st.book) != int(d["checksum"]):
                self.lose(sym, "checksum_failures")
                continue
            self.checksums_verified += 1
            if st.book.crossed():
                self.lose(sym, "crossed")
        return sym


class Coinbase(Venue):
    """§5.3: the snapshot loads, updates set absolute sizes; sequence_num counts every message of
    the connection, so a jump loses every book."""

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self.seq: int | None = None

    def on(self, text: str, snapshot_for: str | None) -> str | None:
        msg = json.loads(text)
        seq = msg["sequence_num"]
        if self.seq is not None and seq <= self.seq:
            return None
        jumped = self.seq is not None and seq != self.seq + 1
        self.seq = seq
        if jumped:
            for name, st in self.streams.items():
                if st.synced or st.frames:
                    self.lose(name, "gaps")
        if msg["channel"] != "l2_data":
            return None
        sym: str | None = None
        for ev in msg["events"]:
            sym = ev["product_id"]
            st = self.streams[sym]
            st.frames += 1
            bids = [(u["price_level"], u["new_quantity"]) for u in ev["updates"] if u["side"] == "bid"]
            asks = [(u["price_level"], u["new_quantity"]) for u in ev["updates"] if u["side"] in ("offer", "ask")]
            if ev["type"] == "snapshot":
                st.book.load(bids, asks)
                st.synced = True
            elif not st.synced:
                continue
            else:
                st.book.apply(bids, asks)
            if st.book.crossed():
                self.lose(sym, "crossed")
        return sym


class Bybit(Venue):
    """§2.3: a snapshot (or u == 1) replaces the book; otherwise u must be the last u + 1."""

    def on(self, text: str, snapshot_for: str | None) -> str | None:
        msg = json.loads(text)
        topic = msg.get("topic")
        if not isinstance(topic, str):
            return None
        sym = topic.rpartition(".")[2]
        st = self.streams[sym]
        st.frames += 1
        d = msg["data"]
        bids = [tuple(x[:2]) for x in d["b"]]
        asks = [tuple(x[:2]) for x in d["a"]]
        if msg["type"] == "snapshot" or d["u"] == 1:
            st.book.load(bids, asks)
            st.synced = True
        elif not st.synced:
            return sym
        elif d["u"] != st.last + 1:
            self.lose(sym, "gaps")
            return sym
        else:
            st.book.apply(bids, asks)
        st.last = d["u"]
        if st.book.crossed():
            self.lose(sym, "crossed")
        return sym
