"""What the rest of the program knows about a venue without loading its adapter or simulator.

A venue is declared once, in ``venues/<venue>/spec.py``, as a :class:`VenueSpec`; ``venues/registry.py``
lists the declarations. Config validation (depth choices, default fee, endpoints), the demo (symbol
spelling) and the tests read the spec; the adapter and simulator classes are named by import path
and loaded only when a stream or a simulated venue is actually built, so ``lcm-tui replay --json`` of
a Binance capture never imports the Kraken adapter, and a simulator never drags adapter code in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Binance answers an ~8 KB URL with HTTP 414; 4 KB leaves room for proxies with smaller buffers.
SAFE_URL_BYTES = 4096


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """What one connection to a venue may carry, and how fast one IP may open connections.

    The figures are the venues' documented limits (docs/protocols.md, "Connection limits"), with a
    margin below each rate.
    """

    max_symbols: int | None = None  # symbols (streams, channels) per connection; None: no documented limit
    max_url_bytes: int | None = None  # adapters that name their streams in the URL
    connects_per_s: float = 1.0  # connection attempts per second, shared by all of a venue's connections
    weight_per_minute: float = 0.0  # snapshot request weight one IP may spend per minute; 0: not budgeted
    snapshot_weight: Callable[[int], int] | None = None  # weight of one snapshot by its depth


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """One venue (one market type of one exchange: Binance spot and Binance USD-M are two)."""

    name: str  # the identifier in config keys, capture files, JSON output and the database
    ws_url: str  # the real public WebSocket endpoint (the simulator replaces it in --demo and tests)
    snapshot_url: str  # out-of-band snapshot endpoint; "" when the snapshot comes in-stream
    depths: Sequence[int]  # the book depths the venue offers (a range for "any limit from 1 to N")
    default_depth: int
    symbol_format: str  # the venue's spelling of a market, from "{base}" and "{quote}": "{base}-{quote}"
    taker_fee_bps: float  # the public base-tier taker fee, used when the config names none
    adapter: str  # "package.module:Class" of the adapter, imported on first use
    sim: str  # "package.module:Class" of the loopback simulator, imported on first use
    # Two markets the venue lists, in its own spelling: what tests and the docs use by default.
    example_symbols: tuple[str, ...] = ()
    depth_note: str = ""  # why the choices are what they are, shown when a depth is refused
    limits: VenueLimits = field(default_factory=VenueLimits)  # per-connection and per-IP limits

    def __post_init__(self) -> None:
        # A broken declaration is a programming error: fail at import, long before any feed starts.
        if self.default_depth not in self.depths:
            raise ValueError(f"{self.name}: default_depth {self.default_depth} is not one of its depths")
        if "{base}" not in self.symbol_format or "{quote}" not in self.symbol_format:
            raise ValueError(f"{self.name}: symbol_format must contain {{base}} and {{quote}}")
        for path in (self.adapter, self.sim):
            module, sep, attr = path.partition(":")
            if not (module and sep and attr):
                raise ValueError(f"{self.name}: {path!r} is not 'package.module:Class'")

    def symbol(self, base: str, quote: str) -> str:
        """The venue's spelling of base/quote (spot, or the linear perpetual as the venue names it)."""
        return self.symbol_format.format(base=base.upper(), quote=quote.upper())

    def offers_depth(self, depth: int) -> bool:
        return depth in self.depths

    def describe_depths(self) -> str:
        """The allowed depths as a config error message states them."""
        d = self.depths
        if isinstance(d, range) and len(d) > 10:
            text = f"an integer from {d.start} to {d[-1]}"
        elif len(d) == 1:
            text = str(d[0])
        else:
            text = "one of " + ", ".join(map(str, d))
        return f"{text} ({self.depth_note})" if self.depth_note else text
