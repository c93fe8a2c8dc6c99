"""A seeded synthetic L2 market: what every simulated venue publishes, in its own wire format.

Everything is integer ticks and lots: ``step()`` returns integer changes, and the venue handler
renders them to the venue's exact strings (``simbook.Units``), so a run is bit-for-bit reproducible
from the seed and a client's book can be compared with the true one string by string. Prices of one
asset follow one shared fair-price walk (so cross-venue views agree), while each venue has its own
liquidity, level layout and churn. Now and then a liquidity
crunch drains the top of the book: spread and slippage jump, then recover, which is what the monitor
exists to show.
"""

from __future__ import annotations

import math
import random
import zlib

from lcm_tui.venues.simbase import IntChange, MarketParams
from lcm_tui.venues.simbook import ASK, BID, IntLevel, IntSide

BASE_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "XRP": 0.6, "DOGE": 0.15}

MIN_LEVELS = 100
MAX_LEVELS = 200


def seeded(seed: int, *parts: object) -> random.Random:
    """An RNG per purpose: adding a venue or symbol never changes the others' streams."""
    key = ":".join(str(p) for p in (seed, *parts))
    return random.Random(zlib.crc32(key.encode()))


class FairPrices:
    """One random walk per base asset, stepped once per market step for all venues."""

    def __init__(self, seed: int, vol_bps: float = 1.5) -> None:
        self.seed = seed
        self.vol = vol_bps / 10_000.0
        self._prices: dict[str, float] = {}
        self._rngs: dict[str, random.Random] = {}

    def price(self, asset: str) -> float:
        if asset not in self._prices:
            self._prices[asset] = BASE_PRICES.get(asset, 100.0)
            self._rngs[asset] = seeded(self.seed, "fair", asset)
        return self._prices[asset]

    def step(self) -> None:
        for asset, rng in self._rngs.items():
            self._prices[asset] *= math.exp(self.vol * rng.gauss(0.0, 1.0))


class MarketSim:
    """The book of one (venue, symbol). ``step()`` returns that step's changes in ticks and lots."""

    def __init__(self, seed: int, venue: str, symbol: str, params: MarketParams, fair: FairPrices) -> None:
        self.venue = venue
        self.symbol = symbol
        self.params = params
        self.fair = fair
        self.asset = params.asset or symbol
        self.rng = seeded(seed, "market", venue, symbol)
        self.tick = 10.0 ** -params.tick_decimals
        self.lot = 10.0 ** -params.lot_decimals
        self.bids = IntSide(is_bid=True)
        self.asks = IntSide(is_bid=False)
        self.steps = 0
        self.liq = 1.0  # 1 = normal; drops towards ~0.1 during a crunch
        self.crunch_left = 0
        self.crunches = 0
        fair_t = self._fair_ticks()
        self.half_spread = max(1, round(fair_t * 2e-5))  # ~0.4 bps spread at rest
        # Level offsets grow like i**1.5 so ~150 levels cover ~150 bps: dense at the top, sparse deep.
        self._spacing = max(1.0, fair_t * 0.015 / params.levels**1.5)
        for side in (self.bids, self.asks):
            for i in range(params.levels):
                off = self.half_spread + round(self._spacing * i**1.5 * self.rng.uniform(0.9, 1.1)) + i
                side.set(fair_t - off if side is self.bids else fair_t + off, self._lots(fair_t, i))

    def snapshot(self) -> tuple[list[IntLevel], list[IntLevel]]:
        """All levels as ``(ticks, lots)`` best first (the venue's initial book)."""
        return self.bids.levels(), self.asks.levels()

    # ---- dynamics ----------------------------------------------------------------------------
    def _fair_ticks(self) -> int:
        return round(self.fair.price(self.asset) / self.tick)

    def _lots(self, price_ticks: int, depth_index: int) -> int:
        notional = self.params.liquidity * self.liq * 15_000.0 * self.rng.lognormvariate(0.0, 0.8)
        notional *= 1.0 + depth_index / 40.0
        return max(1, round(notional / (price_ticks * self.tick) / self.lot))

    def _geo_index(self, n: int, p: float = 0.25) -> int:
        """Mostly the top few levels: where real books churn."""
        i = int(math.log(1.0 - self.rng.random()) / math.log(1.0 - p))
        return min(i, n - 1)

    def step(self) -> list[IntChange]:
        """One market step. The fair walk must have been stepped first (``FairPrices.step``)."""
        self.steps += 1
        rng = self.rng
        changed: dict[tuple[str, int], int] = {}

        def put(side: IntSide, price: int, lots: int) -> None:
            side.set(price, lots)
            changed[(BID if side is self.bids else ASK, price)] = lots

        # Crunch episodes: rare, deterministic from the seed, 5..15 s at the demo's 10 steps/s.
        if self.crunch_left > 0:
            self.crunch_left -= 1
        elif rng.random() < 1 / 900:
            self.crunch_left = rng.randint(50, 150)
            self.crunches += 1
        target = rng.uniform(0.08, 0.2) if self.crunch_left else 1.0
        self.liq += (target - self.liq) * (0.15 if self.crunch_left else 0.03)

        fair_t = self._fair_ticks()
        # Nothing may cross the fair price: the book can never be crossed.
        while self.bids.keys and self.bids.price(0) >= fair_t:
            put(self.bids, self.bids.price(0), 0)
        while self.asks.keys and self.asks.price(0) <= fair_t:
            put(self.asks, self.asks.price(0), 0)

        hs = max(1, round(self.half_spread * (1.0 + 25.0 * (1.0 - self.liq))))
        for side, sgn in ((self.bids, -1), (self.asks, 1)):
            if self.crunch_left and len(side) > MIN_LEVELS and rng.random() < 0.5:
                put(side, side.price(0), 0)  # liquidity pulled from the top
            best = side.price(0) if side.keys else fair_t + sgn * 10 * hs
            if sgn * (best - fair_t) > hs and rng.random() < 0.7:
                p = fair_t + sgn * rng.randint(hs, max(hs, 2 * hs))
                if not side.size(p):
                    put(side, p, self._lots(p, 0))

        for _ in range(rng.randint(1, 6)):
            side = self.bids if rng.random() < 0.5 else self.asks
            n = len(side)
            if not n:
                continue
            r = rng.random()
            i = self._geo_index(n)
            p = side.price(i)
            if r < 0.55:
                put(side, p, max(1, round(side.size(p) * rng.uniform(0.3, 1.8))))
            elif r < 0.8 and i + 1 < n:
                q = side.price(i + 1)
                if abs(q - p) > 1:
                    mid = min(p, q) + rng.randint(1, abs(q - p) - 1)
                    put(side, mid, self._lots(mid, i))
            elif n > MIN_LEVELS:
                put(side, p, 0)

        for side, sgn in ((self.bids, -1), (self.asks, 1)):
            while len(side) < MIN_LEVELS:
                worst = side.price(len(side) - 1) if side.keys else fair_t
                p = worst + sgn * rng.randint(1, max(1, round(self._spacing * 10)))
                put(side, p, self._lots(p, len(side)))
            while len(side) > MAX_LEVELS:
                put(side, side.price(len(side) - 1), 0)

        return [(s, p, q) for (s, p), q in changed.items()]
