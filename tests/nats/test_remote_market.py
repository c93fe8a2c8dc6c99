"""The viewer's market-wide detector across shards, fed stream states directly (no server needed).

Each shard alone holds one venue of BTC, below ``consolidated.market_min_venues`` (2): only a viewer
that sees both shards can fire the market-wide alert. The rule (depth z at or below -open_z on at
least that many LIVE venues, for ``detector.consecutive`` samples) is docs/metrics.md's.
"""

from __future__ import annotations

from typing import Any

from harness import shard_settings

from lcm_tui.core.model import Counters, StreamStatus
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.remote import RemoteMarketView
from lcm_tui.runtime.bus.subjects import Names


class NoServer:
    def jetstream(self) -> Any:
        return None


def _state(venue: str, symbol: str, collector: str, z: float) -> bytes:
    bids = [("100.0", "5"), ("99.9", "5")]
    asks = [("100.1", "5"), ("100.2", "5")]
    msg = codec.StateMsg(venue, symbol, collector, 1, StreamStatus.LIVE, "", Counters(frames=1), 1, None,
                         [codec.SignalMsg("depth", z, True), codec.SignalMsg("spread", 0.0, True)], bids, asks)
    return codec.encode(msg)


def test_a_market_alert_needs_both_shards() -> None:
    s = shard_settings(["binance", "okx"])
    assert s.consolidated.market_min_venues == 2
    view = RemoteMarketView(s, NoServer(), Names("lcm"), clock=lambda: 0.0)
    view.heartbeats = {"shard-a": 0.0, "shard-b": 0.0}  # both alive
    z = -(s.detector.open_z + 1.0)
    view._on_state(_state("binance", "BTCUSDT", "shard-a", z))
    # One shard only: one draining venue never fires the market signal.
    for t in range(1, s.detector.consecutive + 3):
        view.sample(t)
    assert not [a for a in view.alerts() if a.venue == "market"]
    view._on_state(_state("okx", "BTC-USDT", "shard-b", z))
    for t in range(10, 10 + s.detector.consecutive):
        view.sample(t)
    market = [a for a in view.alerts() if a.venue == "market"]
    assert len(market) == 1 and market[0].symbol == "BTC" and market[0].is_open
    c = view.consolidated("BTC")
    assert c is not None and {src.venue for src in c.sources} == {"binance", "okx"}
