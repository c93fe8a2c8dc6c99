"""OKX v5 public order book (venue rules: docs/protocols.md, OKX)."""

from __future__ import annotations

from lcm_tui.venues.spec import VenueLimits, VenueSpec

OKX = VenueSpec(
    name="okx",
    ws_url="wss://ws.okx.com:8443/ws/v5/public",
    snapshot_url="https://www.okx.com/api/v5/market/books",
    # The `books` channel is 400 levels. books5 and bbo-tbt are snapshot-only top-of-book channels (no
    # increments to check), and the tick-by-tick books need a login: a no-key monitor uses `books`.
    depths=(400,),
    default_depth=400,
    symbol_format="{base}-{quote}",
    taker_fee_bps=10.0,
    adapter="lcm_tui.venues.okx.adapter:OkxAdapter",
    sim="lcm_tui.venues.okx.sim:OkxSim",
    example_symbols=("BTC-USDT", "ETH-USDT"),
    depth_note="the public books channel is 400 levels",
    # fewer than 30 deep-book channels a connection, 3 connection requests / s.
    limits=VenueLimits(max_symbols=29, connects_per_s=2.5),
)
