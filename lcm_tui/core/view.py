"""The one typed interface through which every frontend sees the market.

The TUI, the headless printer and the exporters read the market only through :class:`MarketView`.
The local engine provides it over in-process books; a remote source (collectors over a message bus)
can provide it later without touching a widget. Everything it returns is plain data, a copy taken at
one instant, so a frame drawn from it is consistent: the ladder, the slippage table and the chart of a
stream come from the same :class:`BookSnapshot`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lcm_tui.core.consolidated import ConsolidatedMetrics
from lcm_tui.core.model import Alert, AlertChange, Counters, FeedEvent, MetricSample, StreamStatus

Key = tuple[str, str]  # (venue, symbol)


@dataclass(slots=True, frozen=True)
class StreamView:
    """One venue+symbol stream as a frontend shows it: status, why, counters, freshness.

    ``detail`` says why the stream is in its status (``gap 1234->1240``, ``HTTP 414``, ``not running:
    ...`` for a venue that could not start). At the end of a replay every stream shows its status as
    of its last frame, and a LIVE one has the detail ``end of capture`` (``runtime.engine.END_OF_CAPTURE``).
    ``counters`` is a copy taken when the view was made.
    """

    venue: str
    symbol: str
    status: StreamStatus
    detail: str
    counters: Counters
    last_update_ns: int

    @property
    def key(self) -> Key:
        return (self.venue, self.symbol)


@dataclass(slots=True, frozen=True)
class BookSnapshot:
    """The top of one book and the metrics of that same instant.

    ``bids`` / ``asks`` are best first, as (price, size) in the exchange's exact strings. ``metrics`` is
    computed from the whole book at ``ts_ns`` (not from the top-N shown), so a buy VWAP is never below
    the best ask drawn beside it; it is None while the book is empty. ``ts_ns`` is the source's clock
    (the capture's clock in replay).
    """

    venue: str
    symbol: str
    ts_ns: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    metrics: MetricSample | None


@dataclass(slots=True, frozen=True)
class SignalView:
    """One detector signal of one stream: its latest z (None while warming up) and recent history."""

    name: str
    z: float | None
    history: list[float] = field(default_factory=list)
    warm: bool = False


class MarketView(Protocol):
    """What a frontend may ask of the market. Implementations never block and never raise for a missing key.

    ``runtime.engine.LocalMarketView`` is the in-process implementation. The method names are stable;
    ``assets()`` and ``consolidated(..., top=)`` were added while the engine was wired into every mode.
    """

    def streams(self) -> list[StreamView]:
        """Every stream the source knows, in a stable order: the running ones in configuration order,
        then those of venues that could not start (DOWN, ``detail`` says why)."""
        ...

    def stream(self, venue: str, symbol: str) -> StreamView | None: ...

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        """The last sample of the sample clock (what the detector and the recorder saw)."""
        ...

    def snapshot(self, venue: str, symbol: str, depth: int) -> BookSnapshot | None:
        """The book now, top ``depth`` levels a side, with metrics of the same instant (for drawing)."""
        ...

    def signals(self, venue: str, symbol: str) -> list[SignalView]:
        """The detector's signals of one stream, updated on the sample clock (not per snapshot)."""
        ...

    def alerts(self) -> Sequence[Alert]:
        """Every alert of this run, open and closed, oldest first."""
        ...

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        """The alert changes (open / escalate / close) after ``cursor``, oldest first, and the next cursor.

        Start at 0; each reader keeps its own cursor (``core.monitor.AlertLog``). Each change holds the
        alert as of that change, so a local and a remote view report the same changes.
        """
        ...

    def events(self) -> Sequence[FeedEvent]:
        """Recent feed events, oldest first (bounded)."""
        ...

    def assets(self) -> list[str]:
        """Base assets that have at least one stream ("BTC", "ETH"), sorted: what ``consolidated`` takes."""
        ...

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()
                     ) -> ConsolidatedMetrics | None:
        """The cross-venue book of one base asset ("BTC") as of now, computed by the core.

        ``split_notionals``: order sizes to compute the best-execution split for besides the configured
        ones (the consolidated page's typed notional).

        ``top`` consolidated levels a side are listed with their venues. ``market`` (the cross-venue
        crunch signal) is None until the sample clock has ticked once.
        """
        ...

    def watch(self, venue: str, symbol: str) -> None:
        """The frontend now shows this stream: a remote source starts sending its book view."""
        ...
