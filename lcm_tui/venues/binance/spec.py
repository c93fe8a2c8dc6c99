"""Binance spot and Binance USD-M futures (venue rules: docs/protocols.md, Binance)."""

from __future__ import annotations

from lcm_tui.venues.spec import SAFE_URL_BYTES, VenueLimits, VenueSpec


def spot_depth_weight(limit: int) -> int:
    """Request weight of one spot ``depth`` (REST or WS-API) by ``limit`` (docs/protocols.md)."""
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def usdm_depth_weight(limit: int) -> int:
    """``/fapi/v1/depth`` weight by ``limit`` (docs/protocols.md; the venue's figures are not confirmed)."""
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


BINANCE = VenueSpec(
    name="binance",
    ws_url="wss://data-stream.binance.vision",
    # The WebSocket API `depth` method: the snapshot without HTTP (an https:// URL here means REST instead).
    snapshot_url="wss://ws-api.binance.com:443/ws-api/v3",
    # REST /api/v3/depth and the WS-API `depth` take any limit up to 5000; 5000 is recommended, since
    # deeper levels stay unknown until they change.
    depths=range(1, 5001),
    default_depth=5000,
    symbol_format="{base}{quote}",
    taker_fee_bps=10.0,
    adapter="lcm_tui.venues.binance.adapter:BinanceAdapter",
    sim="lcm_tui.venues.binance.sim:BinanceSim",
    example_symbols=("BTCUSDT", "ETHUSDT"),
    depth_note="the snapshot limit of the depth method",
    # 1024 streams a connection, 300 connection attempts / 5 min; REQUEST_WEIGHT 6000 / min, 90 % of it.
    limits=VenueLimits(max_symbols=1024, max_url_bytes=SAFE_URL_BYTES, connects_per_s=1.0,
                       weight_per_minute=5400, snapshot_weight=spot_depth_weight),
)

BINANCE_USDM = VenueSpec(
    name="binance-usdm",
    ws_url="wss://fstream.binance.com/public",
    snapshot_url="https://fapi.binance.com/fapi/v1/depth",
    depths=(5, 10, 20, 50, 100, 500, 1000),  # /fapi/v1/depth accepts only these limits; there is no 5000
    default_depth=1000,
    symbol_format="{base}{quote}",
    taker_fee_bps=5.0,
    adapter="lcm_tui.venues.binance.usdm:BinanceUsdmAdapter",
    sim="lcm_tui.venues.binance.sim:BinanceUsdmSim",
    example_symbols=("BTCUSDT", "ETHUSDT"),
    depth_note="the limits /fapi/v1/depth accepts",
    # 200 streams a connection (its pages conflict: 200 or 1024); REQUEST_WEIGHT 2400 / min, 90 % of it.
    limits=VenueLimits(max_symbols=200, max_url_bytes=SAFE_URL_BYTES, connects_per_s=1.0,
                       weight_per_minute=2160, snapshot_weight=usdm_depth_weight),
)
