"""The simulator's own order book: integer ticks and lots per side, rendered by its own formatter.

The loopback tests compare an adapter's book with the simulator's "true book" string for string. If
the simulator kept that truth in lcm-tui's ``OrderBook`` (or rendered it with lcm-tui's helpers), a
bug there would sit on both sides of the comparison and pass. So nothing here comes from
``lcm_tui.core``: a level is an integer count of the venue's tick and lot, a side is a sorted list of
integers, and the venue's exact decimal strings are produced from the integers only when a frame is
written or a test compares.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from operator import neg

BID = "bid"
ASK = "ask"

IntLevel = tuple[int, int]  # (price in ticks, size in lots)
StrLevel = tuple[str, str]  # (price string, size string) as the venue writes them


@dataclass(frozen=True, slots=True)
class Units:
    """How a venue spells ``n`` units of ``10**-decimals``.

    ``pad`` extra zeros follow the significant decimals (Binance writes a 0.01 tick as
    ``"4.00000000"``); ``strip`` removes trailing fractional zeros and a bare point (OKX writes
    ``"8477"`` and ``"0.1"``).
    """

    decimals: int
    pad: int = 0
    strip: bool = False

    def render(self, n: int) -> str:
        if n < 0:
            raise ValueError(f"negative units: {n}")
        places = self.decimals + self.pad
        digits = str(n * 10**self.pad)
        if places == 0:
            return digits
        digits = digits.rjust(places + 1, "0")
        whole, frac = digits[:-places], digits[-places:]
        if self.strip:
            frac = frac.rstrip("0")
            return f"{whole}.{frac}" if frac else whole
        return f"{whole}.{frac}"

    def wire_integer(self, n: int) -> int:
        """The integer the rendered digits spell once the point is removed (fixed spellings only)."""
        return n * 10**self.pad


class IntSide:
    """One side's levels: ``keys`` sorted best first (bid prices stored negated), ``sizes`` by key."""

    __slots__ = ("keys", "sign", "sizes")

    def __init__(self, is_bid: bool) -> None:
        self.sign = -1 if is_bid else 1
        self.keys: list[int] = []
        self.sizes: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def price(self, i: int) -> int:
        """The price of the ``i``-th best level."""
        return self.sign * self.keys[i]

    def set(self, price: int, lots: int) -> None:
        """Put ``lots`` at ``price``; 0 deletes (a delete of an absent level is a no-op, as on every venue)."""
        k = self.sign * price
        if lots > 0:
            if k not in self.sizes:
                self.keys.insert(bisect_left(self.keys, k), k)
            self.sizes[k] = lots
        elif self.sizes.pop(k, None) is not None:
            del self.keys[bisect_left(self.keys, k)]

    def size(self, price: int) -> int:
        return self.sizes.get(self.sign * price, 0)

    def levels(self, limit: int = 0) -> list[IntLevel]:
        """``(ticks, lots)`` best first; ``limit`` 0 = all."""
        keys = self.keys[:limit] if limit else self.keys
        return [(self.sign * k, self.sizes[k]) for k in keys]

    def top_dict(self, limit: int) -> dict[int, int]:
        """ticks -> lots of the best ``limit`` levels, best first (one C-level pass: it runs every step)."""
        keys = self.keys[:limit]
        prices = map(neg, keys) if self.sign < 0 else keys
        return dict(zip(prices, map(self.sizes.__getitem__, keys), strict=True))


class SimBook:
    """The true book of one simulated (venue, symbol), in integer units with the venue's spelling."""

    __slots__ = ("asks_side", "bids_side", "price_units", "size_units")

    def __init__(self, price_units: Units, size_units: Units) -> None:
        self.price_units = price_units
        self.size_units = size_units
        self.bids_side = IntSide(is_bid=True)
        self.asks_side = IntSide(is_bid=False)

    def side(self, side: str) -> IntSide:
        if side == BID:
            return self.bids_side
        if side == ASK:
            return self.asks_side
        raise ValueError(f"unknown side {side!r}")

    def set(self, side: str, ticks: int, lots: int) -> None:
        self.side(side).set(ticks, lots)

    def load(self, bids: Iterable[IntLevel], asks: Iterable[IntLevel]) -> None:
        self.bids_side = IntSide(is_bid=True)
        self.asks_side = IntSide(is_bid=False)
        for p, q in bids:
            self.bids_side.set(p, q)
        for p, q in asks:
            self.asks_side.set(p, q)

    # ---- the venue's strings -------------------------------------------------------------------
    def render(self, levels: Iterable[IntLevel]) -> list[StrLevel]:
        pu, su = self.price_units.render, self.size_units.render
        return [(pu(p), su(q)) for p, q in levels]

    def bids(self, limit: int = 0) -> list[StrLevel]:
        """Bid levels as the venue writes them, highest price first (``limit`` 0 = all)."""
        return self.render(self.bids_side.levels(limit))

    def asks(self, limit: int = 0) -> list[StrLevel]:
        """Ask levels as the venue writes them, lowest price first (``limit`` 0 = all)."""
        return self.render(self.asks_side.levels(limit))

    def best_bid(self) -> StrLevel | None:
        top = self.bids(1)
        return top[0] if top else None

    def best_ask(self) -> StrLevel | None:
        top = self.asks(1)
        return top[0] if top else None

    def to_dict(self) -> dict[str, list[StrLevel]]:
        """The same shape as a client book's ``to_dict()``, so the two compare with ``==``."""
        return {"bids": self.bids(), "asks": self.asks()}

    # ---- structure -----------------------------------------------------------------------------
    def depth(self) -> tuple[int, int]:
        return len(self.bids_side), len(self.asks_side)

    def is_crossed(self) -> bool:
        return bool(self.bids_side.keys and self.asks_side.keys and self.bids_side.price(0) >= self.asks_side.price(0))

    def truncated(self, depth: int) -> SimBook:
        """A copy holding only the top ``depth`` levels per side (what a depth-capped client keeps)."""
        b = SimBook(self.price_units, self.size_units)
        b.load(self.bids_side.levels(depth), self.asks_side.levels(depth))
        return b
