"""Coinbase Advanced Trade `level2` channel (venue rules: docs/protocols.md, Coinbase)."""

from __future__ import annotations

from lcm_tui.venues.spec import VenueLimits, VenueSpec

COINBASE = VenueSpec(
    name="coinbase",
    ws_url="wss://advanced-trade-ws.coinbase.com",
    snapshot_url="",  # the snapshot comes in-stream
    depths=(0,),  # 0: the venue decides; level2 always sends the full book
    default_depth=0,
    symbol_format="{base}-{quote}",
    taker_fee_bps=60.0,
    adapter="lcm_tui.venues.coinbase.adapter:CoinbaseAdapter",
    sim="lcm_tui.venues.coinbase.sim:CoinbaseSim",
    example_symbols=("BTC-USD", "ETH-USD"),
    depth_note="level2 always sends the full book",
    limits=VenueLimits(connects_per_s=8.0),  # 8 connections / s, the strictest of its figures
)
