"""An exact L2 order book that is fast enough to keep up with every venue on one core.

Why this shape (measured in ``benchmark_test.py`` against a ``SortedDict`` of ``Decimal``):

* Levels are keyed by ``float(price)``. Exchange prices carry at most 15 significant digits, and
  two different decimals with at most 15 significant digits never round to the same double, so the
  float is an exact *identity* for a price level and orders exactly like the decimal. ``float()`` on
  a string is a C call, ``Decimal()`` is several times slower.
* Each side keeps its keys in a plain sorted ``list`` maintained with ``bisect`` (C code). Books
  hold at most a few thousand levels, where a ``memmove`` of the list is cheaper than the Python
  bookkeeping of a balanced tree or ``SortedList``. Bids are stored negated so that, on both sides,
  index 0 is the top of the book and iteration goes outward from it.
* The exact wire strings are kept next to the float size: checksums (Kraken, OKX) and the UI need
  the exchange's own spelling, e.g. ``"0.10000000"``, never a re-rendered ``0.1``.

Nothing here does I/O or imports asyncio or Textual.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter

BID = "bid"
ASK = "ask"

_size_of = itemgetter(0)
_INF = float("inf")

# A level as the wire sends it: at least a price string and a size string ([p, q, ...]).
WireLevel = Sequence[str]


class BookSide:
    """One side of the book. ``keys`` is sorted so that ``keys[0]`` is the best level."""

    __slots__ = ("_sign", "keys", "levels", "version")

    def __init__(self, is_bid: bool) -> None:
        self._sign = -1.0 if is_bid else 1.0
        self.keys: list[float] = []
        # key -> (size as float, price string, size string)
        self.levels: dict[float, tuple[float, str, str]] = {}
        # Bumped on every change so derived data (metrics caches) can tell it is stale.
        self.version = 0

    def __len__(self) -> int:
        return len(self.keys)

    def clear(self) -> None:
        self.keys.clear()
        self.levels.clear()
        self.version += 1

    def apply(self, updates: Iterable[WireLevel]) -> None:
        """Apply absolute sizes: size 0 deletes; deleting an absent level is a no-op."""
        sign = self._sign
        keys = self.keys
        levels = self.levels
        for lv in updates:
            p = lv[0]
            q = lv[1]
            price = float(p)
            size = float(q)
            # Rejects nan, inf, negatives and zero prices (float() accepts "nan" and "inf").
            if not (0.0 < price < _INF and 0.0 <= size < _INF):
                raise ValueError(f"invalid level {p!r} {q!r}")
            k = sign * price
            if size:
                if k not in levels:
                    # Most inserts land near the top: bisect is C, insert is a memmove.
                    keys.insert(bisect_left(keys, k), k)
                levels[k] = (size, p, q)
            elif levels.pop(k, None) is not None:
                del keys[bisect_left(keys, k)]
        self.version += 1

    def set_level(self, price: str, size: str) -> None:
        self.apply(((price, size),))

    def truncate(self, depth: int) -> None:
        """Keep the best ``depth`` levels (Kraken sends no deletes for levels pushed out)."""
        keys = self.keys
        if len(keys) > depth:
            levels = self.levels
            for k in keys[depth:]:
                del levels[k]
            del keys[depth:]
            self.version += 1

    # ----- reads -----
    def best(self) -> tuple[str, str] | None:
        """Best level as the exchange's (price, size) strings."""
        if not self.keys:
            return None
        _, p, q = self.levels[self.keys[0]]
        return p, q

    def best_price(self) -> float | None:
        return self._sign * self.keys[0] if self.keys else None

    def top(self, n: int) -> list[tuple[str, str]]:
        """The best ``n`` levels, outward from the top, as exact strings."""
        levels = self.levels
        return [levels[k][1:] for k in self.keys[:n]]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        levels = self.levels
        for k in self.keys:
            yield levels[k][1:]

    def prices(self) -> list[float]:
        """Prices as floats in book order (best first)."""
        if self._sign > 0:
            return list(self.keys)
        return [-k for k in self.keys]

    def sizes(self) -> list[float]:
        """Sizes as floats in book order (best first)."""
        return list(map(_size_of, map(self.levels.__getitem__, self.keys)))

    def size_at(self, price: str | float) -> str | None:
        lv = self.levels.get(self._sign * float(price))
        return lv[2] if lv else None


class OrderBook:
    """Exact L2 book for one venue and symbol."""

    __slots__ = ("asks", "bids", "symbol", "venue")

    def __init__(self, venue: str = "", symbol: str = "") -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def load_snapshot(self, bids: Iterable[WireLevel], asks: Iterable[WireLevel]) -> None:
        """Replace the whole book. Size-0 levels in a snapshot are ignored, as venues intend."""
        self.bids.clear()
        self.asks.clear()
        self.bids.apply(bids)
        self.asks.apply(asks)

    def apply(self, bids: Iterable[WireLevel], asks: Iterable[WireLevel]) -> None:
        self.bids.apply(bids)
        self.asks.apply(asks)

    def side(self, side: str) -> BookSide:
        return self.bids if side == BID else self.asks

    @property
    def version(self) -> int:
        return self.bids.version + self.asks.version

    def best_bid(self) -> tuple[str, str] | None:
        return self.bids.best()

    def best_ask(self) -> tuple[str, str] | None:
        return self.asks.best()

    def mid(self) -> float | None:
        if not self.bids.keys or not self.asks.keys:
            return None
        return (self.asks.keys[0] - self.bids.keys[0]) / 2.0

    def is_crossed(self) -> bool:
        """Best bid >= best ask: a desync on every venue but OKX auctions."""
        if not self.bids.keys or not self.asks.keys:
            return False
        return -self.bids.keys[0] >= self.asks.keys[0]

    def is_empty(self) -> bool:
        return not self.bids.keys and not self.asks.keys

    def truncate(self, depth: int) -> None:
        self.bids.truncate(depth)
        self.asks.truncate(depth)

    def depth(self) -> tuple[int, int]:
        return len(self.bids), len(self.asks)

    def to_dict(self) -> dict[str, list[tuple[str, str]]]:
        return {"bids": list(self.bids), "asks": list(self.asks)}
