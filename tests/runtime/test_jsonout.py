"""The one JSON encoder: the keys and values of ``--headless`` lines and ``replay --json``, written out here.

The expected objects are typed in by hand from the documented output (README / jsonout docstring), so a
renamed dataclass field, a lost key or an int band key that stops being a string fails here.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from lcm_tui.config import Settings, default_venue
from lcm_tui.core.book import OrderBook
from lcm_tui.core.consolidated import consolidate
from lcm_tui.core.model import Counters, MetricSample, Slippage, StreamStatus, SymbolState
from lcm_tui.core.view import SignalView, StreamView
from lcm_tui.frontends import jsonout
from lcm_tui.frontends.cli import main


def test_a_stream_line_has_every_documented_key_with_its_value() -> None:
    sample = MetricSample(
        "binance", "BTCUSDT", 123, "99.5", "100.5", 100.0, 100.0,
        {10: 1.5, 50: 2.5}, {10: 0.5, 50: 2.5}, {10: 0.5, 50: 0.0},
        [Slippage("buy", 10_000.0, 100.7, 70.0, 2, 10_000.0), Slippage("sell", 10_000.0, None, None, 3, 42.0)],
    )
    counters = Counters(frames=7, gaps=1, resyncs=1, checksum_failures=0, malformed=2, reconnects=0, crossed=0)
    sv = StreamView("binance", "BTCUSDT", StreamStatus.RESYNCING, "gap 1234->1240", counters, 99)
    signals = [SignalView("depth", -3.25, [-1.0, -3.25], True), SignalView("spread", None)]
    line = jsonout.encode_lines([jsonout.stream_object(sv, sample, signals)], ts=1.5)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "ts": 1.5, "venue": "binance", "symbol": "BTCUSDT", "status": "resyncing", "reason": "gap 1234->1240",
        "best_bid": "99.5", "best_ask": "100.5", "mid": 100.0, "spread_bps": 100.0,
        "depth_bid": {"10": 1.5, "50": 2.5}, "depth_ask": {"10": 0.5, "50": 2.5}, "imbalance": {"10": 0.5, "50": 0.0},
        "slippage": [
            {"side": "buy", "notional": 10000.0, "vwap": 100.7, "slippage_bps": 70.0, "levels": 2,
             "filled_quote": 10000.0},
            {"side": "sell", "notional": 10000.0, "vwap": None, "slippage_bps": None, "levels": 3,
             "filled_quote": 42.0},
        ],
        # Every signal named in the README's "JSON output", z null where the detector has none.
        "z": {"depth": -3.25, "spread": None, "slip_buy": None, "slip_sell": None},
        "counters": {"frames": 7, "gaps": 1, "resyncs": 1, "checksum_failures": 0, "malformed": 2, "reconnects": 0,
                     "crossed": 0},
    }
    live = StreamView("binance", "BTCUSDT", StreamStatus.LIVE, "synced at 1240", counters, 99)
    assert jsonout.stream_object(live, sample)["reason"] == ""  # a reason says why a stream is NOT live
    empty = jsonout.stream_object(StreamView("okx", "BTC-USDT", StreamStatus.DOWN, "HTTP 414", Counters(), 0), None)
    assert orjson.loads(jsonout.encode_line(empty)) | {"counters": None} == {
        "venue": "okx", "symbol": "BTC-USDT", "status": "down", "reason": "HTTP 414", "best_bid": None,
        "best_ask": None, "mid": None, "spread_bps": None, "depth_bid": {}, "depth_ask": {}, "imbalance": {},
        "slippage": [], "z": {"depth": None, "spread": None, "slip_buy": None, "slip_sell": None},
        "counters": None}


def _state(venue: str, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> SymbolState:
    book = OrderBook(venue, symbol)
    book.load_snapshot(bids, asks)
    return SymbolState(venue, symbol, book, status=StreamStatus.LIVE)


def test_a_consolidated_line_keeps_its_documented_keys() -> None:
    s = Settings()
    for venue, fee in (("binance", 10.0), ("kraken", 40.0)):
        vc = default_venue(venue)
        vc.enabled, vc.taker_fee_bps = True, fee
        s.venues[venue] = vc
    s.metrics.notionals = [150.0]
    states = [_state("binance", "BTCUSDT", [("99", "1")], [("100", "1")]),
              _state("kraken", "BTC/USD", [("98", "1")], [("101", "2")])]
    (c,) = consolidate(states, s)
    o = json.loads(jsonout.encode_line(jsonout.consolidated_object(c)))
    assert list(o) == ["venue", "symbol", "asset", "quote", "sources", "excluded", "best_bid", "best_ask",
                       "best_bid_venues", "best_ask_venues", "mid", "spread_bps", "crossed", "depth_bid",
                       "depth_ask", "slippage", "venue_slippage", "splits", "top_bids", "top_asks", "market"]
    assert (o["venue"], o["symbol"], o["asset"], o["market"]) == ("consolidated", "BTC", "BTC", None)
    assert o["sources"][0] == {"label": "binance", "venue": "binance", "symbol": "BTCUSDT", "quote": "USDT",
                               "rate": 1.0, "taker_fee_bps": 10.0, "best_bid": 99.0, "best_ask": 100.0,
                               "bid_levels": 1, "ask_levels": 1}
    assert set(o["depth_bid"]) == {"10", "50", "100", "200"}
    buy = next(x for x in o["splits"] if x["side"] == "buy")
    assert set(buy) == {"side", "notional", "filled", "base", "vwap", "vwap_all_in", "allocations", "single_venue",
                        "best_single_venue", "best_single_vwap_all_in", "saving_bps", "note"}
    assert set(buy["allocations"][0]) == {"venue", "notional", "gross", "base", "share", "vwap", "vwap_all_in",
                                          "taker_fee_bps", "levels"}
    assert o["top_asks"][0] == {"price": 100.0, "size": 1.0, "venues": {"binance": 1.0}}


def test_replay_json_prints_streams_then_assets_then_the_replay_summary(tmp_path: Any, capsys: Any) -> None:
    """The minimal capture format with raw Binance frames (the exchange's documented diff-depth sync)."""
    d1 = {"e": "depthUpdate", "E": 1, "s": "BNBBTC", "U": 157, "u": 160, "b": [["0.0024", "10"]], "a": []}
    d2 = {"e": "depthUpdate", "E": 2, "s": "BNBBTC", "U": 161, "u": 161, "b": [], "a": [["0.0026", "100"]]}
    snap = {"id": "d1xBNBBTC", "status": 200,
            "result": {"lastUpdateId": 158, "bids": [["0.0024", "3"], ["0.0023", "1"]], "asks": [["0.0027", "5"]]}}
    recs = [(1, d1), (2, snap), (3, d2)]
    path = tmp_path / "hand.jsonl"
    path.write_text("".join(json.dumps({"t_ns": t, "venue": "binance", "symbol": "BNBBTC",
                                        "frame": json.dumps(f)}) + "\n" for t, f in recs))
    assert main(["replay", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    stream, cons = out[0], out[1]
    assert (stream["venue"], stream["symbol"], stream["status"], stream["reason"]) == ("binance", "BNBBTC", "live", "")
    assert (stream["best_bid"], stream["best_ask"]) == ("0.0024", "0.0026")
    assert stream["counters"]["frames"] == 3
    assert (cons["venue"], cons["symbol"], cons["market"]) == ("consolidated", "BNB", None)
    assert out[-1]["venue"] == "replay" and len(out) == 3


def test_a_missing_capture_is_one_line_and_exit_2(tmp_path: Any, capsys: Any) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lcm-tui: cannot read capture") and err.count("\n") == 1
