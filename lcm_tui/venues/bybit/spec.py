"""Bybit v5 spot and linear (USDT perpetual) public order books (venue rules: docs/protocols.md, Bybit)."""

from __future__ import annotations

from lcm_tui.venues.spec import VenueLimits, VenueSpec

# orderbook.{depth}.{symbol}: the same depths for spot and linear; 500 was removed on 2025-09-30.
_DEPTHS = (1, 50, 200, 1000)
_NOTE = "the orderbook.{depth} topics Bybit publishes"

BYBIT_SPOT = VenueSpec(
    name="bybit-spot",
    ws_url="wss://stream.bybit.com/v5/public/spot",
    snapshot_url="",  # the snapshot comes in-stream
    depths=_DEPTHS,
    default_depth=200,
    symbol_format="{base}{quote}",
    taker_fee_bps=10.0,
    adapter="lcm_tui.venues.bybit.adapter:BybitSpotAdapter",
    sim="lcm_tui.venues.bybit.sim:BybitSpotSim",
    example_symbols=("BTCUSDT", "ETHUSDT"),
    depth_note=_NOTE,
    # args under 21,000 characters (~25 a topic), 500 connections / 5 min.
    limits=VenueLimits(max_symbols=500, connects_per_s=1.5),
)

BYBIT_LINEAR = VenueSpec(
    name="bybit-linear",
    ws_url="wss://stream.bybit.com/v5/public/linear",
    snapshot_url="",
    depths=_DEPTHS,
    default_depth=200,
    symbol_format="{base}{quote}",
    taker_fee_bps=5.5,
    adapter="lcm_tui.venues.bybit.adapter:BybitLinearAdapter",
    sim="lcm_tui.venues.bybit.sim:BybitLinearSim",
    example_symbols=("BTCUSDT", "ETHUSDT"),
    depth_note=_NOTE,
    # args under 21,000 characters (~25 a topic), 500 connections / 5 min.
    limits=VenueLimits(max_symbols=500, connects_per_s=1.5),
)
