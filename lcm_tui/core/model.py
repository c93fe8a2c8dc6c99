"""Plain data shared by the core, the UI, the recorder and the headless printer.

These types are the contract between layers: feeds and metrics produce them, the UI, the recorder
and ``--json`` output only read them. They hold data, not behaviour: JSON output serialises the
dataclasses themselves (field names are the JSON keys; see ``frontends.jsonout``), so renaming a field
renames a key in the output.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lcm_tui.core.book import OrderBook


class StreamStatus(enum.StrEnum):
    CONNECTING = "connecting"
    SYNCING = "syncing"
    LIVE = "live"
    RESYNCING = "resyncing"
    STALE = "stale"
    DOWN = "down"


@dataclass(slots=True)
class Counters:
    """Per venue+symbol stream counters; monotonic for the life of the process."""

    frames: int = 0
    gaps: int = 0
    resyncs: int = 0
    checksum_failures: int = 0
    malformed: int = 0
    reconnects: int = 0
    crossed: int = 0


@dataclass(slots=True, frozen=True)
class Slippage:
    """One walk of the book for a market order of ``notional`` quote units (docs/metrics.md)."""

    side: str  # "buy" | "sell"
    notional: float
    vwap: float | None  # None when unfillable
    slippage_bps: float | None  # None when unfillable
    levels: int
    filled_quote: float

    @property
    def fillable(self) -> bool:
        return self.vwap is not None


@dataclass(slots=True)
class MetricSample:
    """All the numbers of docs/metrics.md for one venue+symbol at one sample time.

    ``depth_bid``/``depth_ask``/``imbalance`` are keyed by band in bps (int). ``best_bid``/``best_ask``
    are the exchange's exact strings. Fields are None when the book has no two-sided top.
    """

    venue: str
    symbol: str
    ts_ns: int
    best_bid: str | None
    best_ask: str | None
    mid: float | None
    spread_bps: float | None
    depth_bid: dict[int, float] = field(default_factory=dict)
    depth_ask: dict[int, float] = field(default_factory=dict)
    imbalance: dict[int, float] = field(default_factory=dict)
    slippage: list[Slippage] = field(default_factory=list)

    def slip(self, side: str, notional: float) -> Slippage | None:
        for s in self.slippage:
            if s.side == side and s.notional == notional:
                return s
        return None


class Severity(enum.StrEnum):
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(slots=True)
class Alert:
    """A crunch alert for one detector signal on one venue+symbol (docs/metrics.md)."""

    venue: str
    symbol: str
    signal: str  # "depth", "spread", "slip_buy", "slip_sell" (or "market:*" for cross-venue)
    opened_ns: int
    peak_z: float
    severity: Severity
    closed_ns: int | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_ns is None


class AlertAction(enum.StrEnum):
    """What happened to an alert: it opened, escalated (its peak |z| or severity rose) or closed."""

    OPEN = "open"
    ESCALATE = "escalate"
    CLOSE = "close"


@dataclass(slots=True, frozen=True)
class AlertChange:
    """One change of one alert, reported once by the core on the sample where it happens.

    The detectors raise an open alert's peak and severity in place, so a reader comparing alert states
    would need its own memory of what it saw; the core reports each change instead. The monitor hands
    listeners ``alert`` as of the change (a copy), so a change kept for later still says what it said.
    """

    action: AlertAction
    alert: Alert


class FeedEventKind(enum.StrEnum):
    GAP = "gap"
    RESYNC = "resync"
    CHECKSUM = "checksum"
    CROSSED = "crossed"
    MALFORMED = "malformed"
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"
    STALE = "stale"
    LIVE = "live"


@dataclass(slots=True, frozen=True)
class FeedEvent:
    """Something that happened to a stream, for the UI log and the recorder."""

    ts_ns: int
    venue: str
    symbol: str
    kind: FeedEventKind
    detail: str = ""


@dataclass(slots=True)
class SymbolState:
    """What the rest of the app reads about one venue+symbol stream."""

    venue: str
    symbol: str
    book: OrderBook
    status: StreamStatus = StreamStatus.CONNECTING
    counters: Counters = field(default_factory=Counters)
    last_update_ns: int = 0  # receive time of the last frame applied to the book
    status_detail: str = ""  # e.g. "gap 1234->1240", shown next to the status

    @property
    def key(self) -> tuple[str, str]:
        return (self.venue, self.symbol)
