"""Kraken WebSocket v2 `book` channel (venue rules: docs/protocols.md, Kraken)."""

from __future__ import annotations

from lcm_tui.venues.spec import VenueLimits, VenueSpec

KRAKEN = VenueSpec(
    name="kraken",
    ws_url="wss://ws.kraken.com/v2",
    snapshot_url="",  # the snapshot comes in-stream
    depths=(10, 25, 100, 500, 1000),
    default_depth=1000,
    symbol_format="{base}/{quote}",
    taker_fee_bps=40.0,
    adapter="lcm_tui.venues.kraken.adapter:KrakenAdapter",
    sim="lcm_tui.venues.kraken.sim:KrakenSim",
    example_symbols=("BTC/USD", "ETH/USD"),
    depth_note="the depths the book channel accepts",
    limits=VenueLimits(connects_per_s=0.25),  # ~150 connection attempts / 10 min (unconfirmed)
)
