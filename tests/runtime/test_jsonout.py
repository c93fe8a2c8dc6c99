"""The one JSON encoder: the keys and values of ``--headless`` lines and ``replay --json``, written out here.

The expected objects are typed in by hand from the documented output (README / jsonout docstring), so a
renamed dataclass field, a lost key or an int band key that stops being a string fails here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest

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


# ---- alert changes ------------------------------------------------------------------------------

def _alert_lines(lines: jsonout.HeadlessLines) -> list[dict[str, Any]]:
    return [json.loads(jsonout.encode_line(jsonout.alert_object(c.alert, c.action))) for c in lines.changes()]


async def test_local_and_remote_views_print_the_same_alert_lines() -> None:
    """The core reports open / escalate / close once each; ``--headless`` prints them as they were.

    The same changes reach a local engine (the detectors' changes through ``Monitor.report``) and a
    remote view (the alert messages a collector publishes for them): both print the same lines, each
    with the alert as of its change, even when an escalation and the close come in one tick.
    """
    import dataclasses

    from lcm_tui.core.model import Alert, AlertAction, AlertChange, Severity
    from lcm_tui.runtime.bus import codec
    from lcm_tui.runtime.bus.remote import RemoteMarketView
    from lcm_tui.runtime.bus.subjects import Names
    from lcm_tui.runtime.engine import Engine

    class _Msg:
        def __init__(self, data: bytes) -> None:
            self.data = data

    class _NoNats:
        def jetstream(self) -> None:
            return None

    settings = Settings()
    eng = Engine(settings, mode="live", clock=lambda: 0)
    remote = RemoteMarketView(settings, _NoNats(), Names("test"))
    local_lines, remote_lines = jsonout.HeadlessLines(eng.view), jsonout.HeadlessLines(remote)
    a = Alert("okx", "BTC-USDT", "depth", 10, -3.2, Severity.WARNING)

    async def change(action: AlertAction) -> None:
        eng.monitor.report([AlertChange(action, a)])  # the detector's change, holding its live alert
        msg = codec.AlertMsg(str(action), dataclasses.replace(a), "collector-1")  # what the collector sends
        await remote._on_alert(_Msg(codec.encode(msg)))

    await change(AlertAction.OPEN)
    first = _alert_lines(local_lines)
    assert first == _alert_lines(remote_lines) == [
        {"venue": "alert", "symbol": "", "action": "open",
         "alert": {"venue": "okx", "symbol": "BTC-USDT", "signal": "depth", "opened_ns": 10, "peak_z": -3.2,
                   "severity": "warning", "closed_ns": None}}]
    assert _alert_lines(local_lines) == _alert_lines(remote_lines) == []  # nothing new: nothing printed
    a.peak_z, a.severity = -4.4, Severity.HIGH
    await change(AlertAction.ESCALATE)
    a.closed_ns = 40
    await change(AlertAction.CLOSE)
    got = _alert_lines(local_lines)
    assert got == _alert_lines(remote_lines)
    assert [(o["action"], o["alert"]["severity"], o["alert"]["peak_z"], o["alert"]["closed_ns"]) for o in got] == [
        ("escalate", "high", -4.4, None), ("close", "high", -4.4, 40)]
    # A second reader (another ``attach``) gets every change from the start, once.
    again = jsonout.HeadlessLines(eng.view)
    assert [o["action"] for o in _alert_lines(again)] == ["open", "escalate", "close"]
    assert _alert_lines(again) == []


# ---- replay --json --at TIME --------------------------------------------------------------------

T0 = 1_796_115_600 * 10**9  # 2026-12-01T09:00:00Z
SEC = 10**9


def _write_capture(path: Any, recs: list[tuple[int, dict[str, Any]]], symbol: str = "BNBBTC") -> None:
    path.write_text("".join(json.dumps({"t_ns": t, "venue": "binance", "symbol": symbol,
                                        "frame": json.dumps(f)}) + "\n" for t, f in recs))


def _diff(u: int, bids: list[list[str]], asks: list[list[str]], first: int | None = None) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": u, "s": "BNBBTC", "U": u if first is None else first, "u": u, "b": bids, "a": asks}


def _snapshot(last: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    return {"id": "d1xBNBBTC", "status": 200, "result": {"lastUpdateId": last, "bids": bids, "asks": asks}}


SNAP = _snapshot(158, [["99.0", "2"], ["98.0", "1"]], [["101.0", "3"], ["102.0", "4"]])
DIFFS = [  # (seconds after T0, diff), in update-id order
    (0.0, _diff(160, [["100.0", "1"]], [], first=157)),  # buffered before the snapshot, straddles it
    (1.0, _diff(161, [["99.5", "1"]], [])),
    (2.0, _diff(162, [], [["101.0", "0"]])),
    (3.0, _diff(163, [["100.0", "0"]], [["100.5", "2"]])),
    (4.0, _diff(164, [["100.2", "5"]], [])),
    (5.0, _diff(165, [], [["100.5", "0"]])),
]


def _reference_book(until_s: float) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """Binance's documented sync, by hand: the snapshot, then every diff with u > lastUpdateId; size 0 deletes."""
    bids = {Decimal(p): Decimal(q) for p, q in SNAP["result"]["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in SNAP["result"]["asks"]}
    for at, d in DIFFS:
        if at > until_s or d["u"] <= SNAP["result"]["lastUpdateId"]:
            continue
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
    return bids, asks


@pytest.fixture
def book_capture(tmp_path: Any) -> Any:
    path = tmp_path / "book.jsonl"
    recs = [(T0 + int(at * SEC), d) for at, d in DIFFS]
    recs.insert(1, (T0 + SEC // 2, SNAP))
    _write_capture(path, recs)
    return path


def _replay_at(capsys: Any, path: Any, at: str, *extra: str) -> list[dict[str, Any]]:
    assert main(["replay", str(path), "--json", "--at", at, *extra]) == 0, capsys.readouterr().err
    out: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return out


@pytest.mark.parametrize(("at", "until_s", "frames"), [
    ("09:00:03.5", 3.5, 5), ("09:00:03", 3.0, 5), ("09:00:02.999", 2.999, 4), ("09:00:00.7", 0.7, 2)])
def test_replay_at_prints_the_book_at_that_time(capsys: Any, book_capture: Any, at: str, until_s: float,
                                                frames: int) -> None:
    stream, cons, summary = _replay_at(capsys, book_capture, at)
    bids, asks = _reference_book(until_s)
    bb, ba = max(bids), min(asks)
    assert (stream["status"], stream["reason"]) == ("live", "")
    assert (Decimal(stream["best_bid"]), Decimal(stream["best_ask"])) == (bb, ba)
    mid = (bb + ba) / 2
    assert stream["mid"] == pytest.approx(float(mid), rel=1e-12)
    # Depth within 200 bps (metrics.md), summed over the hand-made book.
    lo, hi = mid * (1 - Decimal("0.02")), mid * (1 + Decimal("0.02"))
    assert stream["depth_bid"]["200"] == pytest.approx(float(sum(p * q for p, q in bids.items() if p >= lo)))
    assert stream["depth_ask"]["200"] == pytest.approx(float(sum(p * q for p, q in asks.items() if p <= hi)))
    assert stream["counters"]["frames"] == frames  # the records after TIME were not fed
    assert cons["venue"] == "consolidated"
    assert summary["venue"] == "replay" and summary["at_ns"] == T0 + round(until_s * SEC)


def test_replay_at_takes_iso_time_of_day_and_epoch_seconds_alike(capsys: Any, book_capture: Any) -> None:
    forms = ["2026-12-01T09:00:03.5Z", "2026-12-01 09:00:03.500", "2026-12-01T10:00:03.5+01:00", "09:00:03.5",
             "1796115603.5"]
    outs = [_replay_at(capsys, book_capture, f) for f in forms]
    assert all(o == outs[0] for o in outs[1:])
    assert outs[0][-1]["at_ns"] == T0 + 3 * SEC + SEC // 2


def test_parse_at_time_of_day_after_midnight_is_the_next_day() -> None:
    start = T0 + 15 * 3600 * SEC - 60 * SEC  # 2026-12-01T23:59:00Z
    assert jsonout.parse_at("23:59:30", start) == start + 30 * SEC
    assert jsonout.parse_at("00:00:30", start) == start + 90 * SEC
    assert jsonout.parse_at("1796115600.000000001", start) == T0 + 1  # exact, no float rounding


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "noon"], "lcm-tui: --at 'noon' is not a time: give ISO-8601"),
    (["--at", "25:00:00"], "lcm-tui: --at '25:00:00' is not a time"),
    (["--at", "08:59:59"], "is after the capture ends (2026-12-01T09:00:05Z)"),  # the next day's 08:59:59
    (["--at", "2026-12-01T08:59:59Z"], "is before the capture starts (2026-12-01T09:00:00Z)"),
    (["--at", "09:00:06"], "lcm-tui: --at 09:00:06 (2026-12-01T09:00:06Z) is after the capture ends"),
])
def test_a_time_outside_the_capture_or_no_time_is_one_line_and_exit_2(
        capsys: Any, book_capture: Any, args: list[str], message: str) -> None:
    assert main(["replay", str(book_capture), "--json", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and err.count("\n") == 1, err


def test_at_without_json_is_one_line_and_exit_2(capsys: Any, book_capture: Any) -> None:
    assert main(["replay", str(book_capture), "--at", "09:00:03"]) == 2
    assert capsys.readouterr().err == "lcm-tui: replay --at needs --json\n"


def _crunch_capture(path: Any) -> None:
    """One Binance stream: a noisy baseline (bid 12 / 10) for 8 s, depth halved at 8.5 s, restored at 9.5 s.

    Records are half-way between the 1 s sample boundaries, so the sample at T0 + k s sees the book
    after the record at T0 + (k - 0.5) s.
    """
    # The first delta is buffered until the snapshot reply, as the adapter syncs (Binance's documented order).
    recs: list[tuple[int, dict[str, Any]]] = [(T0, _diff(101, [["100.0", "10"]], [])),
                                              (T0 + SEC // 10, _snapshot(100, [["100.0", "10"]], [["100.1", "10"]]))]
    sizes = ["12", "10"] * 4 + ["0.5", "10", "12", "10"]  # records at 0.5, 1.5, ... 11.5 s
    for k, q in enumerate(sizes):
        recs.append((T0 + k * SEC + SEC // 2, _diff(102 + k, [["100.0", q]], [])))
    _write_capture(path, recs)


def test_replay_at_has_the_alerts_and_z_of_that_time(tmp_path: Any, capsys: Any) -> None:
    """Depth halves at 8.5 s: the sample at 9 s opens a depth alert (log depth falls 0.64 against a baseline
    swinging by 0.18, so z is far below -5); restored at 9.5 s, the sample at 10 s closes it (|z| < 1.5).

    A 2 s half-life lets the statistics follow the baseline's swing within the warm-up, so the baseline
    itself never opens one.
    """
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("detector:\n  warmup_samples: 3\n  consecutive: 1\n  half_life_s: 2\n")
    path = tmp_path / "crunch.jsonl"
    _crunch_capture(path)
    before = _replay_at(capsys, path, "09:00:08.9", "--config", str(cfg))
    assert [o for o in before if o["venue"] == "alert"] == []
    assert before[0]["z"]["depth"] is not None and abs(before[0]["z"]["depth"]) < 3
    during = _replay_at(capsys, path, "09:00:09.5", "--config", str(cfg))
    (alert,) = [o for o in during if o["venue"] == "alert"]
    assert during[0]["z"]["depth"] <= -5
    a = alert["alert"]
    assert (alert["symbol"], a["venue"], a["symbol"], a["signal"]) == ("", "binance", "BNBBTC", "depth")
    assert (a["opened_ns"], a["severity"], a["closed_ns"]) == (T0 + 9 * SEC, "critical", None)
    assert a["peak_z"] == during[0]["z"]["depth"]
    after = _replay_at(capsys, path, "09:00:10.5", "--config", str(cfg))
    (closed,) = [o for o in after if o["venue"] == "alert"]
    assert closed["alert"] == a | {"closed_ns": T0 + 10 * SEC}
    assert abs(after[0]["z"]["depth"]) < 1.5
    # Without --at the replay reports the end's books only: no detector ran, so no z and no alert.
    assert main(["replay", str(path), "--json", "--config", str(cfg)]) == 0
    end = json.loads(capsys.readouterr().out)
    assert [o for o in end if o["venue"] == "alert"] == [] and set(end[0]["z"].values()) == {None}
