"""The sans-I/O contract of one simulated venue, which the generic loopback server drives.

How to add a venue handler (``lcm_tui/sim/<venue>.py``)
------------------------------------------------------
Subclass :class:`VenueSim`, set ``venue`` (a name from ``model.VENUES``) and implement:

* ``on_connect(conn)``: frames sent right after the handshake (Kraken ``status``; usually ``[]``).
  ``conn.path`` is the path *after* the ``/<venue>`` prefix (``/v5/public/spot``, ``/stream``) and
  ``conn.query`` the parsed query string; URL-subscribed venues (Binance) subscribe here.
* ``on_message(conn, text)``: a client text frame -> reply frames. Subscribing is
  ``conn.subs.add(symbol)`` plus the ack and the snapshot built from ``self.true_book(symbol)`` *in the
  same call*: the server is single-threaded and appends frames to the connection's outbox in call
  order, so a snapshot and the deltas that follow it always join up exactly. Pings -> pongs here too.
* ``on_step(symbol, changes, t_ns)``: called once per market step per symbol *after* the base class
  applied ``changes`` (``[(side, price_str, size_str)]``, size ``"0"`` deletes) to the true book.
  Advance the venue's own sequence ids here and return a payload (anything; ``None`` = nothing to
  send this step).
* ``frames_for(conn, symbol, payload)``: the frames for one subscribed connection. Per-connection
  counters (Coinbase ``sequence_num``) live on ``conn.state`` and are advanced here.
* ``on_idle(conn, t_ns)`` (optional): keepalive frames, called about once a second per connection
  (``conn.last_sent_ns`` says when it last got a frame).
* ``http(path, query)`` (optional): ``(status, body)`` for a REST-like GET, or ``None`` for 404.
* ``endpoints(base)`` (classmethod): ``{"ws_url": ..., "snapshot_url": ...}`` for the adapter config,
  where ``base`` is ``ws://127.0.0.1:<port>/<venue>``.
* ``market_params(symbol)`` (optional): tick/lot decimals and liquidity of the venue's market.

Fault hooks (the generic ones, drop/malformed/truncated/disconnect/stall, need nothing):

* ``corrupt_checksum(frame) -> str | None``: the frame with a wrong checksum (``None``: the venue has
  none, the fault is skipped and not consumed).
* ``shutdown_frames(conn, t_ns)``: the venue's "going away" notice (Binance ``serverShutdown``, OKX
  ``notice`` 64008); the server sends it and closes the connection ``shutdown_grace_s`` later.
* ``reset_sequence(symbol) -> bool``: restart the venue's sequence (Bybit ``u=1`` snapshot, OKX
  ``seqId < prevSeqId``); return False when the venue has no such thing.

No registration is needed: ``sim/server.py:venue_sims()`` imports ``lcm_tui.sim.<module>`` for every
module in ``SIM_MODULES`` (skipping one that does not import) and picks up its concrete classes.

How a loopback test is written (fixtures in ``tests/feeds/conftest.py``)::

    async def test_gap(sim_factory):
        sim = await sim_factory({"bybit-spot": ["BTCUSDT"]})  # manual clock: nothing moves by itself
        runner = sim.start_runner("bybit-spot")               # a real StreamRunner on a real socket
        await sim.step_until_live(runner)                     # steps the market until every symbol is LIVE
        sim.faults.schedule(FaultKind.DROP, "bybit-spot", "BTCUSDT")
        await sim.step(5)                                     # then the market stops
        await sim.settle(runner)                              # LIVE and book == true_book, string for string
        assert runner.states["BTCUSDT"].counters.gaps == 1

``sim.server`` is the ``SimServer`` (``sim.server.sims[venue]`` your handler), ``sim.events`` the
FeedEvents the adapter emitted, ``sim.adapter(venue)`` a bare adapter for sans-I/O unit tests, and
``wait_until(pred, timeout)`` / ``sim.step_until(pred)`` wait for a condition (never sleep).
Shorter feed timings go to the runner as keywords: ``sim.start_runner(v, stale_after_s=0.2)``.

Adapter rule the runner relies on: always reach a symbol's state through ``self.states[symbol]``
(never keep another reference to a ``SymbolState``): a make-before-break rollover moves the synced
states into the new adapter. The runner may flip ``status`` between LIVE and STALE by itself, so keep
your own "synced" flags instead of testing ``status``.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lcm_tui.core.book import ASK, BID, OrderBook
from lcm_tui.core.symbols import parse_symbol

Change = tuple[str, str, str]  # (side "bid"|"ask", price string, size string; "0" deletes)

_conn_ids = itertools.count(1)


@dataclass(slots=True)
class MarketParams:
    """The venue's view of one symbol's market: price/size formatting and how deep it is."""

    tick_decimals: int = 2
    lot_decimals: int = 5
    # Extra zeros on the wire (Binance writes "4.00000000" for a tick of 0.01).
    price_pad: int = 0
    size_pad: int = 0
    liquidity: float = 1.0  # multiplies every level's notional
    levels: int = 150  # levels per side at rest (the market keeps roughly 100..200)


@dataclass(slots=True, eq=False)
class SimConn:
    """One client connection as the venue handler sees it (no sockets here)."""

    venue: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    subs: set[str] = field(default_factory=set)
    # Venue-specific per-connection state (sequence counters, subscribed depth, ...).
    state: dict[str, Any] = field(default_factory=dict)
    outbox: deque[str] = field(default_factory=deque)
    id: int = field(default_factory=lambda: next(_conn_ids))
    last_sent_ns: int = 0
    connected_ns: int = 0
    # A snapshot-only connection (WS-API) is not hit by connection-level faults.
    control: bool = False


class VenueSim(ABC):
    """One simulated venue: its true books, its sequence ids and its wire format."""

    venue: ClassVar[str]

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = list(symbols)
        self.books: dict[str, OrderBook] = {s: OrderBook(self.venue, s) for s in self.symbols}

    # ---- called by the server ----------------------------------------------------------------
    def load(self, symbol: str, bids: list[list[str]], asks: list[list[str]]) -> None:
        """The market's initial book."""
        self.books[symbol].load_snapshot(bids, asks)

    def step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        book = self.books[symbol]
        for side, p, q in changes:
            book.side(side).set_level(p, q)
        return self.on_step(symbol, changes, t_ns)

    def true_book(self, symbol: str) -> OrderBook:
        """The book a correct client must hold (venues that cap depth override this)."""
        return self.books[symbol]

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = parse_symbol(self.venue, symbol)
        return MarketParams(lot_decimals=5 if base == "BTC" else 4)

    @classmethod
    @abstractmethod
    def endpoints(cls, base: str) -> dict[str, str]:
        """``ws_url``/``snapshot_url`` for an adapter config, from ``ws://host:port/<venue>``."""

    def on_connect(self, conn: SimConn) -> list[str]:
        return []

    @abstractmethod
    def on_message(self, conn: SimConn, text: str) -> list[str]:
        """A client frame -> reply frames (acks, snapshots, pongs, WS-API responses)."""

    @abstractmethod
    def on_step(self, symbol: str, changes: list[Change], t_ns: int) -> Any:
        """Advance sequence ids for one market step; the payload goes to ``frames_for``."""

    @abstractmethod
    def frames_for(self, conn: SimConn, symbol: str, payload: Any) -> list[str]:
        """The frames of one step for one subscribed connection."""

    def on_idle(self, conn: SimConn, t_ns: int) -> list[str]:
        return []

    def http(self, path: str, query: dict[str, str]) -> tuple[int, str] | None:
        return None

    # ---- fault hooks -------------------------------------------------------------------------
    def corrupt_checksum(self, frame: str) -> str | None:
        return None

    def shutdown_frames(self, conn: SimConn, t_ns: int) -> list[str]:
        return []

    def reset_sequence(self, symbol: str) -> bool:
        return False

    # ---- helpers -----------------------------------------------------------------------------
    @staticmethod
    def levels(book: OrderBook, side: str, limit: int = 0) -> list[list[str]]:
        """Exact wire strings of one side, best first (``limit`` 0 = all)."""
        s = book.side(side)
        return [list(lv) for lv in (s.top(limit) if limit else s)]

    @classmethod
    def bids_asks(cls, book: OrderBook, limit: int = 0) -> tuple[list[list[str]], list[list[str]]]:
        return cls.levels(book, BID, limit), cls.levels(book, ASK, limit)


def rfc3339(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // 1_000_000_000)) + f".{t_ns // 1000 % 1_000_000:06d}Z"


class DepthView:
    """The top ``depth`` levels of a true book, as a client subscribed at that depth holds them.

    ``diff()`` returns what changed since the last call. ``pushed_out_deletes`` chooses between
    Bybit (a level that leaves the top N is deleted on the wire) and Kraken (it is not: the client
    truncates by itself).
    """

    __slots__ = ("asks", "bids", "book", "depth", "zero")

    def __init__(self, book: OrderBook, depth: int, zero: str = "0") -> None:
        self.book = book
        self.depth = depth
        self.zero = zero
        self.bids: dict[str, str] = dict(book.bids.top(depth))
        self.asks: dict[str, str] = dict(book.asks.top(depth))

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        return [[p, q] for p, q in self.bids.items()], [[p, q] for p, q in self.asks.items()]

    def diff(self, pushed_out_deletes: bool) -> tuple[list[list[str]], list[list[str]]]:
        out: list[list[list[str]]] = []
        for side, attr in ((self.book.bids, "bids"), (self.book.asks, "asks")):
            old: dict[str, str] = getattr(self, attr)
            new = dict(side.top(self.depth))
            ch = [[p, q] for p, q in new.items() if old.get(p) != q]
            for p in old:
                if p not in new and (pushed_out_deletes or side.size_at(p) is None):
                    ch.append([p, self.zero])
            setattr(self, attr, new)
            out.append(ch)
        return out[0], out[1]

    def truncated_book(self) -> OrderBook:
        b = OrderBook(self.book.venue, self.book.symbol)
        b.load_snapshot(self.book.bids.top(self.depth), self.book.asks.top(self.depth))
        return b
