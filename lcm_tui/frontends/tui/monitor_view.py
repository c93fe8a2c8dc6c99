"""A :class:`~lcm_tui.core.view.MarketView` over an in-process :class:`~lcm_tui.core.monitor.Monitor`.

The TUI reads the market only through ``MarketView``; this is the in-process provider it uses while the
runtime's own one is not wired into every mode (replay builds its monitor itself). Every method copies
what it returns, so nothing a widget holds changes under it while it draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lcm_tui.config import Settings
from lcm_tui.core.consolidated import ConsolidatedMetrics, consolidate
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import Alert, Counters, FeedEvent, MetricSample
from lcm_tui.core.monitor import Monitor
from lcm_tui.core.symbols import parse_symbol
from lcm_tui.core.view import BookSnapshot, SignalView, StreamView

CONSOLIDATED_TOP = 5  # consolidated levels per side the consolidated page shows


class MonitorView:
    """The market as one monitor sees it; ``clock`` stamps the snapshots (the replay's clock in replay)."""

    def __init__(self, monitor: Monitor, settings: Settings, clock: Callable[[], int]) -> None:
        self.monitor = monitor
        self.settings = settings
        self.clock = clock

    def streams(self) -> list[StreamView]:
        return [self._stream_view(k) for k in self.monitor.states]

    def stream(self, venue: str, symbol: str) -> StreamView | None:
        return self._stream_view((venue, symbol)) if (venue, symbol) in self.monitor.states else None

    def _stream_view(self, key: tuple[str, str]) -> StreamView:
        st = self.monitor.states[key]
        c = st.counters
        counters = Counters(c.frames, c.gaps, c.resyncs, c.checksum_failures, c.malformed, c.reconnects, c.crossed)
        return StreamView(st.venue, st.symbol, st.status, st.status_detail, counters, st.last_update_ns)

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        return self.monitor.latest.get((venue, symbol))

    def snapshot(self, venue: str, symbol: str, depth: int) -> BookSnapshot | None:
        st = self.monitor.states.get((venue, symbol))
        if st is None:
            return None
        book = st.book
        m = self.settings.metrics
        ts = self.clock()
        metrics = None if book.is_empty() else compute_sample(book, venue, symbol, ts, m.depth_bands_bps,
                                                              m.notionals)
        return BookSnapshot(venue, symbol, ts, book.bids.top(depth), book.asks.top(depth), metrics)

    def signals(self, venue: str, symbol: str) -> list[SignalView]:
        d = self.monitor.detectors.get((venue, symbol))
        if d is None:
            return []
        return [SignalView(name, z, list(d.history.get(name, ())), z is not None) for name, z in d.z.items()]

    def alerts(self) -> Sequence[Alert]:
        return list(self.monitor.alerts)

    def events(self) -> Sequence[FeedEvent]:
        return list(self.monitor.events)

    def consolidated(self, asset: str) -> ConsolidatedMetrics | None:
        states = list(self.monitor.states.values())
        if not any(parse_symbol(s.venue, s.symbol)[0] == asset for s in states):
            return None
        out = consolidate(states, self.settings, self.monitor.detectors, top=CONSOLIDATED_TOP, assets=[asset])
        return out[0] if out else None

    def watch(self, venue: str, symbol: str) -> None:
        """Every book is in this process already: nothing to subscribe to."""
