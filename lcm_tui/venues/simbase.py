"""The sans-I/O contract of one simulated venue, which the generic loopback server drives.

The simulator is the reference the loopback tests hold the adapters to, so it shares nothing with
the code under test: its truth is its own integer book (``simbook.SimBook``), its checksums, depth
choices and symbol rules are written in each venue's ``sim.py`` from the venue's documentation, and
no module of the simulator imports ``lcm_tui.core`` or adapter code (a test imports each one in a
fresh interpreter to keep it so).

How to add a venue handler (``lcm_tui/venues/<venue>/sim.py``)
--------------------------------------------------------------
Subclass :class:`VenueSim`, set ``venue`` (the venue's config name) and implement:

* ``split_symbol(symbol)`` / ``join_symbol(base, quote)`` (classmethods): the venue's symbol
  spelling, stated by the handler itself (the market needs the base asset, the demo the spelling).
* ``market_params(symbol)`` (optional): the tick/lot decimals, wire spelling and liquidity of the
  venue's market (``MarketParams``; ``asset`` defaults to the base of ``split_symbol``).
* ``on_connect(conn)``: frames sent right after the handshake (Kraken ``status``; usually ``[]``).
  ``conn.path`` is the path *after* the ``/<venue>`` prefix (``/v5/public/spot``, ``/stream``) and
  ``conn.query`` the parsed query string; URL-subscribed venues (Binance) subscribe here.
* ``on_message(conn, text)``: a client text frame -> reply frames. Subscribing is
  ``conn.subs.add(symbol)`` plus the ack and the snapshot built from ``self.books[symbol]`` *in the
  same call*: the server is single-threaded and appends frames to the connection's outbox in call
  order, so a snapshot and the deltas that follow it always join up exactly. Pings -> pongs here too.
* ``on_step(symbol, changes, t_ns)``: called once per market step per symbol *after* the base class
  applied the market's integer changes to the true book; ``changes`` are those changes as the venue
  writes them (``[(side, price_str, size_str)]``, a delete spelled ``MarketParams.delete_size``).
  Advance the venue's own sequence ids here and return a payload (anything; ``None`` = nothing to
  send this step).
* ``frames_for(conn, symbol, payload)``: the frames for one subscribed connection. Per-connection
  counters (Coinbase ``sequence_num``) live on ``conn.state`` and are advanced here.
* ``on_idle(conn, t_ns)`` (optional): keepalive frames, called about once a second per connection
  (``conn.last_sent_ns`` says when it last got a frame).
* ``http(path, query)`` (optional): ``(status, body)`` for a REST-like GET, or ``None`` for 404.
* ``endpoints(base)`` (classmethod): ``{"ws_url": ..., "snapshot_url": ...}`` for the adapter config,
  where ``base`` is ``ws://127.0.0.1:<port>/<venue>``.
* ``true_book(symbol)``: override when subscribers hold less than the whole book (a depth cap).

Fault hooks (the generic ones, drop/malformed/truncated/disconnect/stall, need nothing):

* ``corrupt_checksum(frame) -> str | None``: the frame with a wrong checksum (``None``: the venue has
  none, the fault is skipped and not consumed).
* ``shutdown_frames(conn, t_ns)``: the venue's "going away" notice (Binance ``serverShutdown``, OKX
  ``notice`` 64008); the server sends it and closes the connection ``shutdown_grace_s`` later.
* ``reset_sequence(symbol) -> bool``: restart the venue's sequence (Bybit ``u=1`` snapshot, OKX
  ``seqId < prevSeqId``); return False when the venue has no such thing.

Registration is the venue's spec (``venues/<venue>/spec.py``, ``sim="lcm_tui.venues.<venue>.sim:Class"``)
listed in ``venues/registry.py``: ``runtime/sim/server.py:venue_sims()`` loads every registry venue's
simulator from there, and the loopback tests' fault matrices walk the same list.

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

from lcm_tui.venues.simbook import ASK, BID, IntLevel, SimBook, StrLevel, Units

Change = tuple[str, str, str]  # (side "bid"|"ask", price string, size string) as the venue writes them
IntChange = tuple[str, int, int]  # (side, ticks, lots; 0 deletes) as the market produces them

_conn_ids = itertools.count(1)


@dataclass(slots=True)
class MarketParams:
    """The venue's view of one symbol's market: price/size spelling and how deep it is."""

    asset: str = ""  # the base asset: symbols of one asset share one fair-price walk
    tick_decimals: int = 2
    lot_decimals: int = 5
    # Extra zeros on the wire (Binance writes "4.00000000" for a tick of 0.01).
    price_pad: int = 0
    size_pad: int = 0
    strip_zeros: bool = False  # OKX: "8477", "0.1"
    delete_size: str = "0"  # how the venue spells the size of a deleted level
    liquidity: float = 1.0  # multiplies every level's notional
    levels: int = 150  # levels per side at rest (the market keeps roughly 100..200)

    def price_units(self) -> Units:
        return Units(self.tick_decimals, self.price_pad, self.strip_zeros)

    def size_units(self) -> Units:
        return Units(self.lot_decimals, self.size_pad, self.strip_zeros)


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


def split_concatenated(symbol: str, quotes: tuple[str, ...]) -> tuple[str, str]:
    """(base, quote) of a symbol written without a separator (``BTCUSDT``), given the venue's quotes.

    ``quotes`` is tried in order, so a quote must come before any shorter quote it ends with
    (``FDUSD`` before ``USD``).
    """
    s = symbol.upper()
    for q in quotes:
        if s.endswith(q) and len(s) > len(q):
            return s[: -len(q)], q
    return s, ""


class VenueSim(ABC):
    """One simulated venue: its true books, its sequence ids and its wire format."""

    venue: ClassVar[str]

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = list(symbols)
        self.params: dict[str, MarketParams] = {s: self.market_params(s) for s in self.symbols}
        self.books: dict[str, SimBook] = {
            s: SimBook(p.price_units(), p.size_units()) for s, p in self.params.items()
        }

    # ---- symbols -------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def split_symbol(cls, symbol: str) -> tuple[str, str]:
        """(base, quote) of one of the venue's symbols, by the venue's own spelling rule."""

    @classmethod
    @abstractmethod
    def join_symbol(cls, base: str, quote: str) -> str:
        """The venue's spelling of a base/quote pair."""

    def market_params(self, symbol: str) -> MarketParams:
        base, _ = self.split_symbol(symbol)
        return MarketParams(asset=base, lot_decimals=5 if base == "BTC" else 4)

    # ---- called by the server ----------------------------------------------------------------
    def load(self, symbol: str, bids: list[IntLevel], asks: list[IntLevel]) -> None:
        """The market's initial book, in ticks and lots."""
        self.books[symbol].load(bids, asks)

    def step(self, symbol: str, changes: list[IntChange], t_ns: int) -> Any:
        book = self.books[symbol]
        for side, p, q in changes:
            book.set(side, p, q)
        return self.on_step(symbol, self.render_changes(symbol, changes), t_ns)

    def render_changes(self, symbol: str, changes: list[IntChange]) -> list[Change]:
        """The market's integer changes as the venue writes them."""
        p = self.params[symbol]
        pu, su = p.price_units().render, p.size_units().render
        zero = p.delete_size
        return [(side, pu(t), su(q) if q else zero) for side, t, q in changes]

    def true_book(self, symbol: str) -> SimBook:
        """The book a correct client must hold (venues that cap depth override this)."""
        return self.books[symbol]

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
    def levels(book: SimBook, side: str, limit: int = 0) -> list[list[str]]:
        """Exact wire strings of one side, best first (``limit`` 0 = all)."""
        rows = book.bids(limit) if side == BID else book.asks(limit) if side == ASK else None
        if rows is None:
            raise ValueError(f"unknown side {side!r}")
        return [list(lv) for lv in rows]

    @classmethod
    def bids_asks(cls, book: SimBook, limit: int = 0) -> tuple[list[list[str]], list[list[str]]]:
        return cls.levels(book, BID, limit), cls.levels(book, ASK, limit)


def rfc3339(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // 1_000_000_000)) + f".{t_ns // 1000 % 1_000_000:06d}Z"


class DepthView:
    """The top ``depth`` levels of a true book, as a client subscribed at that depth holds them.

    ``diff()`` returns what changed since the last call, as wire strings. ``pushed_out_deletes``
    chooses between Bybit (a level that leaves the top N is deleted on the wire) and Kraken (it is
    not: the client truncates by itself). ``bids``/``asks`` are the held levels in ticks -> lots,
    best first.
    """

    __slots__ = ("asks", "bids", "book", "depth", "zero")

    def __init__(self, book: SimBook, depth: int, zero: str = "0") -> None:
        self.book = book
        self.depth = depth
        self.zero = zero
        self.bids: dict[int, int] = book.bids_side.top_dict(depth)
        self.asks: dict[int, int] = book.asks_side.top_dict(depth)

    def top(self, side: str, n: int) -> list[IntLevel]:
        """The ``n`` best held levels of one side, in ticks and lots."""
        held = self.bids if side == BID else self.asks
        return list(itertools.islice(held.items(), n))

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        r = self.book.render
        return [list(lv) for lv in r(self.bids.items())], [list(lv) for lv in r(self.asks.items())]

    def diff(self, pushed_out_deletes: bool) -> tuple[list[list[str]], list[list[str]]]:
        out: list[list[list[str]]] = []
        render_price = self.book.price_units.render
        for side, attr in ((self.book.bids_side, "bids"), (self.book.asks_side, "asks")):
            old: dict[int, int] = getattr(self, attr)
            new = side.top_dict(self.depth)
            # Set differences run in C; a step changes a handful of the held levels. Sorted best
            # first, so a frame lists its levels in book order whatever the hashing.
            changed = sorted(new.items() - old.items(), key=lambda lv: side.sign * lv[0])
            gone = sorted(old.keys() - new.keys(), key=side.sign.__mul__)
            ch = [list(lv) for lv in self.book.render(changed)]
            ch += [[render_price(p), self.zero] for p in gone if pushed_out_deletes or not side.size(p)]
            setattr(self, attr, new)
            out.append(ch)
        return out[0], out[1]

    def truncated_book(self) -> SimBook:
        return self.book.truncated(self.depth)


__all__ = ["ASK", "BID", "Change", "DepthView", "IntChange", "MarketParams", "SimBook", "SimConn", "StrLevel",
           "Units", "VenueSim", "rfc3339", "split_concatenated"]
