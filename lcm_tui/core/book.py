"""An exact L2 order book that is fast enough to keep up with every venue on one core.

Why this shape (measured in ``benchmark_test.py`` against a ``SortedDict`` of ``Decimal``):

* Levels are keyed by ``float(price)``, always a ``float`` (never an ``int``, whatever the spelling:
  an integral string above 2**53 would otherwise be an exact int on one path and a rounded float on the
  other, two different keys for one level). Exchange prices carry at most 15 significant digits, and
  two different decimals with at most 15 significant digits never round to the same double, so the
  float is an exact *identity* for a price level and orders exactly like the decimal. ``float()`` on
  a string is a C call, ``Decimal()`` is several times slower.
* Each side keeps its keys in a plain sorted ``list`` maintained with ``bisect`` (C code). Books
  hold at most a few thousand levels, where a ``memmove`` of the list is cheaper than the Python
  bookkeeping of a balanced tree or ``SortedList``. Bids are stored negated so that, on both sides,
  index 0 is the top of the book and iteration goes outward from it.
* The exact wire strings are kept next to the float size: checksums (Kraken, OKX) and the UI need
  the exchange's own spelling, e.g. ``"0.10000000"``, never a re-rendered ``0.1``.
* An update is parsed in one orjson call over all its numbers and applied with a bulk
  ``dict.update``: per-level Python steps, not the data structure, are what cost time in CPython
  (profile in ``benches/core.py``). Updates are all or nothing: an invalid level changes nothing.
* A side holds at most ``max_levels`` levels (``feeds.max_levels``, default 20,000): a venue that sends
  more (a 1M-level snapshot would cost ~420 MB and a multi-second stall of every venue on the core)
  keeps the levels nearest the top; the rest are counted in ``dropped_levels`` and logged. No metric
  reads that far out: the widest band is a few percent from the mid.
* When the optional C extension ``lcm_tui.core._fastbook`` is built (``pip install -e .`` builds it in
  place), it does the parse and apply of ``[str, str, ...]`` levels on these same structures, several
  times faster; anything else (and ``LCM_PURE_PYTHON=1``) takes the Python path below, which defines
  the semantics the C code is tested against.

Nothing here does I/O or imports asyncio or Textual.
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, islice, repeat
from math import isnan
from operator import itemgetter, le, neg, not_

from orjson import loads as _loads

# apply_levels(bid_levels, bid_keys, bids, ask_levels, ask_keys, asks) -> bool, or None for pure Python.
_ApplyLevels = Callable[[dict[float, tuple[float, str, str]] | None, list[float] | None, object,
                         dict[float, tuple[float, str, str]] | None, list[float] | None, object], bool]
_c_apply_levels: _ApplyLevels | None
try:
    from lcm_tui.core._fastbook import apply_levels as _c_apply_levels
except ImportError:  # no compiler at install time, or a non-editable install run from the source tree
    _c_apply_levels = None

# Module-level so tests and benches can swap it (see implementation()).
_fast_apply: _ApplyLevels | None = None if os.environ.get("LCM_PURE_PYTHON") == "1" else _c_apply_levels

BID = "bid"
ASK = "ask"
# Levels one side keeps at most, unless the book is given another cap (feeds.max_levels).
DEFAULT_MAX_LEVELS = 20_000

log = logging.getLogger(__name__)

_size_of = itemgetter(0)
_price_of = itemgetter(0)
_qty_of = itemgetter(1)
_INF = float("inf")
# More new levels than this in one update are merged by sorting rather than inserted one by one.
_BULK_INSERT = 32

# A level as the wire sends it: at least a price string and a size string ([p, q, ...]).
WireLevel = Sequence[str]


Parsed = tuple[list[float], list[float], list[str], list[str]]  # keys, sizes, price strings, size strings


def implementation() -> str:
    """Which apply path this process runs, for benchmark reports."""
    return "C (lcm_tui.core._fastbook)" if _fast_apply is not None else "pure Python"


def _parse(bids: list[WireLevel], asks: list[WireLevel]) -> tuple[Parsed, Parsed]:
    """Both sides' keys and float sizes; ValueError naming the level if any is invalid."""
    try:
        return _parse_fast(bids, asks)
    except (TypeError, ValueError, KeyError, IndexError):
        return _parse_exact(bids, -1.0), _parse_exact(asks, 1.0)


def _parse_fast(bids: list[WireLevel], asks: list[WireLevel]) -> tuple[Parsed, Parsed]:
    """Every price and size of an update in ONE orjson call instead of 2 float() calls per level.

    float() on a string costs ~170 ns on the target machine, several times orjson's number parser
    (which is also correctly rounded and refuses nan/inf). The text is
    ``[-bp1,-bp2,...,ap1,...,bq1,...,aq1,...]``: bid prices written as "-p" so their keys come out
    negated. It yields exactly as many numbers as strings only if every string is one plain JSON
    number: a comma inside a string changes the count, and every non-number JSON value is refused by
    its first character. Validation is done on the text, where a substring test is cheaper than a
    comparison per number. Anything odd raises, and :func:`_parse_exact` then gives the
    precise error.
    Every number is written with an ``e0`` suffix, so orjson reads each one as a float: an integral
    string ("67000", "9007199254740993") must give the same correctly rounded double as ``float()``
    and the C path, never an int.
    """
    # A bare string would index as a level ("12" -> price "1", size "2"): not a level at all.
    if str in map(type, bids) or str in map(type, asks):
        raise ValueError("a level is a string")
    bps = list(map(_price_of, bids))
    aps = list(map(_price_of, asks))
    bqs = list(map(_qty_of, bids))
    aqs = list(map(_qty_of, asks))
    ask_text = "e0,".join(aps)
    bq_text = "e0,".join(bqs)
    aq_text = "e0,".join(aqs)
    # No "-" in ask prices or sizes: nothing negative (bid prices get a "-" prefix, so a negative one
    # reads "--p" and fails to parse). An exponent like "1e-5" also trips this: the exact path takes it.
    if "-" in ask_text or "-" in bq_text or "-" in aq_text:
        raise ValueError("negative or exponent")
    nb = len(bps)
    na = len(aps)
    parts = []
    if nb:
        parts.append("-" + "e0,-".join(bps))
    if na:
        parts.append(ask_text)
    if nb:
        parts.append(bq_text)
    if na:
        parts.append(aq_text)
    body = "e0,".join(parts) + "e0"
    # The only JSON values that are not numbers start with one of these: each must be absent, or a
    # string/array/object/true/false/null would slip into the book as a key or a size.
    if '"' in body or "[" in body or "{" in body or "t" in body or "f" in body or "n" in body:
        raise ValueError("not plain numbers")
    vals = _loads("[" + body + "]")
    n = nb + na
    if len(vals) != 2 * n:
        raise ValueError("not one number per string")
    bk = vals[:nb]
    ak = vals[nb:n]
    # orjson never returns nan or inf and nothing is negative: only a zero price is left to refuse.
    if 0.0 in bk or 0.0 in ak:
        raise ValueError("zero price")
    return (bk, vals[n:n + nb], bps, bqs), (ak, vals[n + nb:], aps, aqs)


def _parse_exact(updates: list[WireLevel], sign: float) -> Parsed:
    """The reference parse: every level checked in order; ValueError names the first one that is unusable."""
    keys: list[float] = []
    sizes: list[float] = []
    for lv in updates:
        if not isinstance(lv, (list, tuple)):
            raise ValueError(f"malformed level {lv!r:.40}")
        try:
            p = lv[0]
            q = lv[1]
        except IndexError:
            raise ValueError(f"malformed level {lv!r:.40}") from None
        if type(p) is not str or type(q) is not str:
            # The book keeps the wire strings (checksums need them): a number or None is not a level.
            raise ValueError(f"malformed level {lv!r:.40}")
        try:
            price = float(p)
            size = float(q)
        except (TypeError, ValueError):
            raise ValueError(f"invalid level {p!r} {q!r}") from None
        # Rejects nan, inf, negatives and zero prices (float() accepts "nan" and "inf").
        if not (0.0 < price < _INF and 0.0 <= size < _INF):
            raise ValueError(f"invalid level {p!r} {q!r}")
        keys.append(sign * price)
        sizes.append(size)
    return keys, sizes, [lv[0] for lv in updates], [lv[1] for lv in updates]


class BookSide:
    """One side of the book. ``keys`` is sorted so that ``keys[0]`` is the best level."""

    __slots__ = ("_sign", "dropped", "keys", "levels", "max_levels", "version")

    def __init__(self, is_bid: bool, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        if max_levels < 1:
            raise ValueError(f"max_levels must be at least 1, not {max_levels!r}")
        self._sign = -1.0 if is_bid else 1.0
        self.max_levels = max_levels
        self.keys: list[float] = []
        # key -> (size as float, price string, size string)
        self.levels: dict[float, tuple[float, str, str]] = {}
        # Bumped on every change so derived data (metrics caches) can tell it is stale.
        self.version = 0
        # Levels dropped beyond max_levels over the life of the side (monotonic).
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.keys)

    def clear(self) -> None:
        self.keys.clear()
        self.levels.clear()
        self.version += 1

    def apply(self, updates: Iterable[WireLevel]) -> None:
        """Apply absolute sizes: size 0 deletes; deleting an absent level is a no-op.

        All or nothing: an invalid level (nan, inf, negative or zero price, negative size, not a number)
        raises ValueError before anything changes. Within one call the last update of a price wins,
        exactly as if the levels were applied one by one.
        """
        if type(updates) is not list:
            updates = list(updates)
        if updates:
            no: list[WireLevel] = []
            is_bid = self._sign < 0
            fast = _fast_apply
            done = fast is not None and (fast(self.levels, self.keys, updates, None, None, no) if is_bid
                                         else fast(None, None, no, self.levels, self.keys, updates))
            if not done:
                bid, ask = _parse(updates, no) if is_bid else _parse(no, updates)
                self._commit(*(bid if is_bid else ask))
            if len(self.keys) > self.max_levels:
                self._cap()
        self.version += 1

    def _cap(self) -> int:
        """Drop the levels beyond ``max_levels`` (the far end); how many were dropped."""
        n = len(self.keys) - self.max_levels
        if n <= 0:
            return 0
        levels = self.levels
        far = self.keys[self.max_levels:]
        for k in far:
            del levels[k]
        del self.keys[self.max_levels:]
        self.dropped += n
        return n

    def nearest(self, updates: list[WireLevel]) -> list[WireLevel]:
        """The ``max_levels`` levels of a snapshot nearest the top, in their order; all of them if it fits.

        Only the numbers are read (``float()`` each, no book entry), so a huge snapshot never becomes a
        huge book. A snapshot with any level that ``apply`` would refuse is returned whole, so that it is
        refused as a whole with the precise error: dropping the far levels must not hide a corrupt one.
        """
        cap = self.max_levels
        if len(updates) <= cap:
            return updates
        try:  # one orjson pass over the text when every number is plain (see _parse_fast)
            prices = (_parse_fast(updates, [])[0] if self._sign < 0 else _parse_fast([], updates)[1])[0]
        except (TypeError, ValueError, KeyError, IndexError):
            try:
                prices = list(map(float, map(_price_of, updates)))
                sizes = list(map(float, map(_qty_of, updates)))
            except (TypeError, ValueError, KeyError, IndexError):
                return updates
            if (any(map(isnan, prices)) or any(map(isnan, sizes)) or not 0.0 < min(prices) <= max(prices) < _INF
                    or not 0.0 <= min(sizes) <= max(sizes) < _INF):
                return updates
            if self._sign < 0:
                prices = list(map(neg, prices))
        # Venues send snapshots best first: then the answer is a slice, found by one C-level pass.
        if all(map(le, prices, islice(prices, 1, None))):
            return updates[:cap]
        # Otherwise: the cap-th best price by one C-level float sort, then everything at or above it.
        worst_kept = sorted(prices)[cap - 1]
        return list(islice(compress(updates, map(le, prices, repeat(worst_kept))), cap))

    def _commit(self, keys: list[float], sizes: list[float], ps: list[str], qs: list[str]) -> None:
        levels = self.levels
        book_keys = self.keys
        before = len(levels)
        # Bulk upsert in C, deletes included; for a price sent twice the last update wins, the same
        # end state as applying the levels one by one (sizes are absolute).
        levels.update(zip(keys, zip(sizes, ps, qs, strict=False), strict=False))
        removed = 0
        if 0.0 in sizes:
            for k in compress(keys, map(not_, sizes)):
                v = levels.get(k)
                if v is not None and not v[0]:
                    del levels[k]
                    i = bisect_left(book_keys, k)
                    if i < len(book_keys) and book_keys[i] == k:  # else: a delete of an absent level
                        del book_keys[i]
                        removed += 1
        added = len(levels) - (before - removed)
        if added:
            # update() keeps existing keys in place and appends new ones: the new levels are the
            # dict's last ``added`` entries, found without a membership test per level.
            new = list(islice(reversed(levels), added))
            if added > _BULK_INSERT or not book_keys:
                # Snapshots: one sort (Timsort merges the runs) instead of O(n) memmoves per level.
                book_keys += new
                book_keys.sort()
            else:
                for k in new:
                    # Most inserts land near the top: bisect is C, insert is a memmove.
                    insort(book_keys, k)

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

    def sizes(self, n: int | None = None) -> list[float]:
        """Sizes as floats in book order (best first), of the best ``n`` levels if given."""
        keys = self.keys if n is None else self.keys[:n]
        if len(keys) > 1:
            # itemgetter(*keys) does every dict lookup in one C call (it returns a bare value for one key).
            return list(map(_size_of, itemgetter(*keys)(self.levels)))
        return [self.levels[k][0] for k in keys]

    def size_at(self, price: str | float) -> str | None:
        lv = self.levels.get(self._sign * float(price))
        return lv[2] if lv else None


class OrderBook:
    """Exact L2 book for one venue and symbol; each side holds at most ``max_levels`` levels."""

    __slots__ = ("asks", "bids", "symbol", "venue")

    def __init__(self, venue: str = "", symbol: str = "", max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids = BookSide(is_bid=True, max_levels=max_levels)
        self.asks = BookSide(is_bid=False, max_levels=max_levels)

    @property
    def max_levels(self) -> int:
        return self.bids.max_levels

    @property
    def dropped_levels(self) -> int:
        """Levels dropped beyond ``max_levels`` on both sides, over the life of the book."""
        return self.bids.dropped + self.asks.dropped

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def load_snapshot(self, bids: Iterable[WireLevel], asks: Iterable[WireLevel]) -> None:
        """Replace the whole book. Size-0 levels in a snapshot are ignored, as venues intend.

        A side longer than ``max_levels`` keeps the levels nearest the top; the rest are counted in
        ``dropped_levels`` and logged, before any of them is parsed into the book.
        """
        if type(bids) is not list:
            bids = list(bids)
        if type(asks) is not list:
            asks = list(asks)
        kept_bids = self.bids.nearest(bids)
        kept_asks = self.asks.nearest(asks)
        self.bids.clear()
        self.asks.clear()
        self.apply(kept_bids, kept_asks)
        # Counted only once the snapshot is in (a refused snapshot drops nothing).
        cut_bids = len(bids) - len(kept_bids)
        cut_asks = len(asks) - len(kept_asks)
        self.bids.dropped += cut_bids
        self.asks.dropped += cut_asks
        cut = cut_bids + cut_asks
        if cut:
            log.warning("%s %s: snapshot of %d bids and %d asks is over feeds.max_levels=%d per side; "
                        "kept the levels nearest the top, dropped %d", self.venue or "?", self.symbol or "?",
                        len(bids), len(asks), self.max_levels, cut)

    def apply(self, bids: Iterable[WireLevel], asks: Iterable[WireLevel]) -> None:
        """Apply one update to both sides; all or nothing (see :meth:`BookSide.apply`)."""
        if type(bids) is not list:
            bids = list(bids)
        if type(asks) is not list:
            asks = list(asks)
        b = self.bids
        a = self.asks
        fast = _fast_apply
        if (bids or asks) and (fast is None or not fast(b.levels, b.keys, bids, a.levels, a.keys, asks)):
            parsed_bids, parsed_asks = _parse(bids, asks)
            if bids:
                b._commit(*parsed_bids)
            if asks:
                a._commit(*parsed_asks)
        if len(b.keys) > b.max_levels:
            b._cap()
        if len(a.keys) > a.max_levels:
            a._cap()
        b.version += 1
        a.version += 1

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
