"""Every recording of ``../shared/realdata`` through the adapters, checked after every frame.

For each frame the adapter's book must equal the reference book string for string, its LIVE status
must be the reference's, and every metrics.md number must equal the exact-decimal reference to 1e-9
relative. The reference (``reference.py``) is written from the venues' documents and shares no code
with lcm-tui; where a venue changed protocol since the recording, ``convert.py`` converts faithfully
and lists what it synthesised.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lcm_tui.config import Settings
from lcm_tui.core.metrics import compute_sample
from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.importers import import_cryptofeed, import_tardis
from lcm_tui.runtime.replay import Record, Replayer, iter_capture

from . import convert, reference

BANDS = [10, 50, 100, 200]
NOTIONALS = [10_000.0, 100_000.0, 1_000_000.0]
REL = 1e-9

Frame = tuple[int, str, str, str | None]  # (t_ns, symbol, text, snapshot_for)


# ------------------------------------------------------------------------------------ harness


def _close(mine: float | None, ref: Decimal | None, what: str) -> None:
    if ref is None or mine is None:
        assert mine is None and ref is None, what
        return
    r = float(ref)
    assert math.isclose(mine, r, rel_tol=REL, abs_tol=1e-12 * max(1.0, abs(r)) if r == 0 else 0.0), \
        f"{what}: {mine!r} != {ref}"


def _imbalance_close(mine: float, ref: Decimal, what: str) -> None:
    # imbalance is a ratio in [-1, 1]: relative to its scale, not to a value that may be ~0.
    assert abs(mine - float(ref)) <= REL, f"{what}: {mine!r} != {ref}"


def check_metrics(st: Any, m: dict[str, Any], where: str) -> None:
    s = compute_sample(st.book, st.venue, st.symbol, 0, BANDS, NOTIONALS)
    _close(s.mid, m["mid"], f"{where} mid")
    _close(s.spread_bps, m["spread_bps"], f"{where} spread_bps")
    for x in BANDS:
        _close(s.depth_bid[x], m["depth_bid"][x], f"{where} depth_bid[{x}]")
        _close(s.depth_ask[x], m["depth_ask"][x], f"{where} depth_ask[{x}]")
        _imbalance_close(s.imbalance[x], m["imbalance"][x], f"{where} imbalance[{x}]")
    for sl in s.slippage:
        r = m["slippage"][(sl.side, sl.notional)]
        w = f"{where} {sl.side} {sl.notional:g}"
        assert sl.levels == r["levels"], f"{w} levels {sl.levels} != {r['levels']}"
        _close(sl.vwap, r["vwap"], f"{w} vwap")
        _close(sl.filled_quote, r["filled_quote"], f"{w} filled_quote")
        if r["slippage_bps"] is None:
            assert sl.slippage_bps is None, w
        else:
            assert sl.slippage_bps is not None
            # bps vs mid: relative to the price scale (1e4 bps), a tiny slippage is not made fragile.
            assert abs(sl.slippage_bps - float(r["slippage_bps"])) <= REL * max(1.0, abs(float(r["slippage_bps"]))), \
                f"{w} slippage_bps {sl.slippage_bps} != {r['slippage_bps']}"


class Run:
    """Feed one venue's frames to a Replayer and the reference side by side, checking each frame."""

    def __init__(self, venue: str, symbols: list[str], ref: reference.Venue, settings: Settings | None = None,
                 metrics_every: int = 1) -> None:
        self.venue = venue
        self.ref = ref
        self.rep = Replayer(settings or Settings(), {venue: symbols})
        self.rep.feed(Record(0, venue, "", None, 1, "open", "fresh"))
        self.frames = 0
        self.metrics_checked = 0
        self.metrics_every = metrics_every
        self.versions = {s: st.book.version for (_, s), st in self.rep.states.items()}
        # (symbol, side) -> (adapter side version, reference side version) when last found equal
        self.seen: dict[tuple[str, str], tuple[int, int]] = {}

    def feed(self, t_ns: int, sym: str, text: str, snapshot_for: str | None = None,
             ref_text: str | None = None) -> None:
        """One frame to both; ``ref_text`` is the reference's own copy when the adapter gets a
        converted or imported one."""
        self.rep.feed(Record(t_ns, self.venue, sym, text, 1, snapshot=snapshot_for is not None))
        touched = self.ref.frame(text if ref_text is None else ref_text, snapshot_for)
        self.frames += 1
        self.check(touched)

    def check(self, touched: set[str]) -> None:
        where = f"{self.venue} frame {self.frames}"
        for (_, s), st in self.rep.states.items():
            v = st.book.version
            if s not in touched:
                assert v == self.versions[s], f"{where}: {s}'s book changed on a frame for {touched}"
                continue
            self.versions[s] = v
            rs = self.ref.streams[s]
            w = f"{where} {s}"
            for name, mine, ref in (("bids", st.book.bids, rs.book.bids), ("asks", st.book.asks, rs.book.asks)):
                last = self.seen.get((s, name))
                if last == (mine.version, ref.version):
                    continue  # neither changed since they were last equal
                if last is not None and last[1] == ref.version and self.frames % 16:
                    # The frame did not touch this side (the adapter bumps both sides' versions on
                    # every update): its length and top must still agree; the whole side is listed
                    # again every 16th frame, so a stray change deep in it cannot hide for long.
                    assert len(mine) == len(ref.keys) and mine.top(10) == ref.top(10), f"{w}: {name} differ"
                    continue
                assert mine.top(len(mine)) == ref.top(), f"{w}: {name} differ"
                self.seen[(s, name)] = (mine.version, ref.version)
            assert (st.status is StreamStatus.LIVE) == rs.live, f"{w}: status {st.status}, reference live={rs.live}"
            if rs.live and self.frames % self.metrics_every == 0:
                m = reference.metrics(rs.book, BANDS, NOTIONALS)
                assert m is not None
                check_metrics(st, m, w)
                self.metrics_checked += 1

    def counters(self) -> None:
        """At the end: every book in full, and the counters."""
        for (_, s), st in self.rep.states.items():
            rb = self.ref.streams[s].book
            assert (st.book.bids.top(len(st.book.bids)), st.book.asks.top(len(st.book.asks))) == (
                rb.bids.top(), rb.asks.top()), f"{self.venue} {s}: final book differs"
            c, r = st.counters, self.ref.streams[s]
            assert (c.gaps, c.checksum_failures, c.crossed, c.resyncs) == (r.gaps, r.checksum_failures, r.crossed,
                                                                          r.resyncs), s
            assert c.malformed == 0, s
        assert self.rep.errors == 0


def _frames(path: Path, conv: Any) -> list[Frame]:
    return [(t, s, text, None) for t, s, text in conv(path)]


def _symbols(frames: Iterable[Frame]) -> list[str]:
    return list(dict.fromkeys(s for _, s, _, _ in frames if s))


# ------------------------------------------------------------------------------------ Binance


def _binance_raw(realdata: Path, prefix: str) -> list[Frame]:
    """The depth frames and REST bodies of a Binance recording, merged by time (reference side)."""
    out: list[Frame] = []
    for t, text in convert.received(realdata / f"{prefix}.ws.1.0.gz"):
        msg = json.loads(text)
        if isinstance(msg, dict) and "@depth" in msg.get("stream", ""):
            out.append((t, msg["data"]["s"], text, None))
    for t, url, body in convert.rest_bodies(realdata / f"{prefix}.http.0.0.gz"):
        sym = url.split("symbol=")[1].split("&")[0]
        out.append((t, sym, body, sym))
    out.sort(key=lambda f: f[0])
    return out


def _imported(realdata: Path, prefix: str, tmp_path: Path) -> list[Frame]:
    out = tmp_path / f"{prefix}.jsonl.gz"
    import_cryptofeed([str(realdata / f"{prefix}.ws.1.0.gz"), str(realdata / f"{prefix}.http.0.0.gz")], str(out),
                      progress=False)
    return [(r.t_ns, r.symbol, r.frame, r.symbol if r.snapshot else None)
            for r in iter_capture(str(out)) if r.frame is not None]


@pytest.mark.parametrize(("prefix", "venue"), [("BINANCE", "binance"), ("BINANCE_FUTURES", "binance-usdm")])
def test_binance_imported_and_replayed_equals_the_reference(realdata, tmp_path, prefix, venue):
    raw = _binance_raw(realdata, prefix)
    frames = _imported(realdata, prefix, tmp_path)
    # The importer kept exactly the depth frames and REST bodies, in time order, each REST body
    # attributed to the symbol its URL names.
    assert frames == raw
    syms = _symbols(frames)
    run = Run(venue, syms, reference.Binance(syms, futures=venue == "binance-usdm"))
    for f in frames:
        run.feed(*f)
    run.counters()
    assert all(run.ref.streams[s].live for s in syms), "every symbol bridged its snapshot"
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())
    assert run.rep.snapshots == 4
    assert run.metrics_checked > 100


def test_binance_rest_bodies_in_another_order_stay_with_their_symbols(realdata, tmp_path):
    """LRCBTC's REST body arriving after RUNEEUR's: each still loads its own symbol's book (the
    record says whose; the body names no symbol, so matching replies to requests in order would
    put LRCBTC's book on RUNEEUR)."""
    frames = _imported(realdata, "BINANCE", tmp_path)
    snaps = [i for i, f in enumerate(frames) if f[3] is not None]
    i, j = snaps[2], snaps[3]  # LRCBTC's and RUNEEUR's bodies
    assert (frames[i][3], frames[j][3]) == ("LRCBTC", "RUNEEUR")
    lrc_body = frames.pop(i)
    frames.insert(j, lrc_body)  # now right after RUNEEUR's
    syms = _symbols(frames)
    run = Run("binance", syms, reference.Binance(syms, futures=False))
    for f in frames:
        run.feed(*f)
    run.counters()
    lrc = run.rep.states[("binance", "LRCBTC")].book
    rune = run.rep.states[("binance", "RUNEEUR")].book
    lrc_bid, rune_bid = lrc.best_bid(), rune.best_bid()
    assert lrc_bid is not None and rune_bid is not None
    assert float(lrc_bid[0]) < 0.001 < float(rune_bid[0])  # BTC-priced vs EUR-priced
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())


def test_tardis_file_of_the_same_frames_gives_the_same_books(realdata, tmp_path):
    """The USD-M recording rewritten in tardis.dev's raw format (snapshots as generated
    ``@depthSnapshot`` messages) imports to the same books as the reference."""
    import datetime as dt

    raw = _binance_raw(realdata, "BINANCE_FUTURES")
    path = tmp_path / "binance-futures_2021-07-22.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for t, sym, text, snap in raw:
            stamp = dt.datetime.fromtimestamp(t // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            stamp += f".{t % 1_000_000_000:09d}"[:8] + "Z"  # tardis writes 7 fractional digits
            if snap:
                text = json.dumps({"stream": f"{sym.lower()}@depthSnapshot", "generated": True,
                                   "data": json.loads(text)}, separators=(",", ":"))
            fh.write(f"{stamp} {text}\n")
        fh.write("2021-07-22T22:26:12.0000000Z " + json.dumps({"stream": "sushiusdt@trade", "data": {}}) + "\n")
    out = tmp_path / "t.jsonl"
    stats = import_tardis([str(path)], str(out), progress=False)
    assert stats.skipped == {"binance trade": 1} and stats.snapshots == 4
    recs = [r for r in iter_capture(str(out)) if r.frame is not None]
    syms = _symbols(raw)
    run = Run("binance-usdm", syms, reference.Binance(syms, futures=True))
    for r, (_, sym, text, snap) in zip(recs, raw, strict=True):
        assert r.symbol == sym and r.snapshot == (snap is not None)
        assert r.frame is not None
        run.feed(r.t_ns, r.symbol, r.frame, r.symbol if r.snapshot else None, ref_text=text)
    run.counters()
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())


@pytest.mark.parametrize(("prefix", "venue"), [("BINANCE", "binance"), ("BINANCE_FUTURES", "binance-usdm")])
def test_binance_dropped_frame_is_a_gap_exactly_where_the_reference_sees_it(realdata, tmp_path, prefix, venue):
    frames = _imported(realdata, prefix, tmp_path)
    # Drop the 40th delta of the busiest symbol, well after its snapshot.
    busiest = max(_symbols(frames), key=lambda s: sum(f[1] == s for f in frames))
    deltas = [i for i, f in enumerate(frames) if f[1] == busiest and f[3] is None]
    del frames[deltas[40]]
    syms = _symbols(frames)
    run = Run(venue, syms, reference.Binance(syms, futures=venue == "binance-usdm"))
    gap_at = None
    for f in frames:
        before = run.rep.states[(venue, busiest)].counters.gaps
        run.feed(*f)
        if run.rep.states[(venue, busiest)].counters.gaps != before:
            gap_at = run.frames - 1
    assert [(i, s, k) for i, s, k in run.ref.events] == [(gap_at, busiest, "gaps")]
    run.counters()
    assert run.rep.states[(venue, busiest)].status is not StreamStatus.LIVE


# ------------------------------------------------------------------------------------ OKX


def _okx_run(frames: list[Frame]) -> Run:
    syms = _symbols(frames)
    run = Run("okx", syms, reference.Okx(syms))
    for f in frames:
        run.feed(*f)
    return run


def test_okx_every_real_checksum_verified(realdata, monkeypatch):
    import lcm_tui.venues.okx.adapter as okx_adapter

    calls: list[bool] = []
    real = okx_adapter.okx_matches

    def counting(*a: Any) -> bool:
        calls.append(real(*a))
        return calls[-1]

    monkeypatch.setattr(okx_adapter, "okx_matches", counting)
    frames = _frames(realdata / "OKX.ws.1.0.gz", convert.okx)
    run = _okx_run(frames)
    run.counters()
    # The tickers and trades pushes of the recording belong to no book lcm-tui keeps: counted.
    others = sum(1 for _, s, text, _ in frames if not s and '"event"' not in text)
    assert others > 0 and run.rep.unattributed == {"okx": others}
    assert (run.ref.checksums_verified, run.ref.checksums_seen) == (290, 290)
    assert (sum(calls), len(calls)) == (290, 290)  # the adapter checked the same 290, all good
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())


def test_okx_corrupted_checksum_fails_exactly_there(realdata):
    frames = _frames(realdata / "OKX.ws.1.0.gz", convert.okx)
    ups = [i for i, f in enumerate(frames) if '"action":"update"' in f[2]]
    k = ups[100]
    t, sym, text, _ = frames[k]
    msg = json.loads(text)
    msg["data"][0]["checksum"] = (msg["data"][0]["checksum"] + 1) or 1
    frames[k] = (t, sym, json.dumps(msg, separators=(",", ":")), None)
    run = _okx_run(frames)
    assert run.ref.events == [(k, sym, "checksum_failures")]
    assert run.rep.states[("okx", sym)].counters.checksum_failures == 1
    run.counters()


# ------------------------------------------------------------------------------------ Kraken


def _kraken_run(frames: list[Frame], metrics_every: int = 1) -> Run:
    syms = _symbols(frames)
    run = Run("kraken", syms, reference.Kraken(syms, depth=1000), metrics_every=metrics_every)
    for f in frames:
        run.feed(*f)
    return run


def test_kraken_every_real_checksum_verified(realdata, monkeypatch):
    import lcm_tui.venues.kraken.adapter as kraken_adapter

    computed: list[int] = []
    real = kraken_adapter.kraken_checksum

    def counting(*a: Any) -> int:
        computed.append(real(*a))
        return computed[-1]

    monkeypatch.setattr(kraken_adapter, "kraken_checksum", counting)
    frames = _frames(realdata / "KRAKEN.ws.50.0.gz", convert.kraken)
    run = _kraken_run(frames)
    run.counters()
    snapshots = len(run.ref.streams)  # one synthesised snapshot checksum per pair
    assert (run.ref.checksums_verified, run.ref.checksums_seen) == (4269 + snapshots, 4269 + snapshots)
    # The adapter computed one checksum per book message, each equal to the one Kraken sent.
    sent = [json.loads(text)["data"][0]["checksum"] for _, _, text, _ in frames]
    assert computed == sent and len(sent) - snapshots == 4269
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())


def test_kraken_sc_eur_ask_exactly_on_the_200_bps_edge_is_inside(realdata):
    """SC/EUR at bid 0.042950 / ask 0.043050 (mid 0.043): the ask at 0.043860 sits exactly on
    m(1 + 200/1e4) and is inside the band. At the instant of issue 10 (converted frame 1271),
    depth_ask[200] = 115,006.97 and imbalance[200] = 0.06441 (114,805.08 and 0.06529 when the edge
    is a float threshold that falls just inside the exact edge)."""
    frames = _frames(realdata / "KRAKEN.ws.50.0.gz", convert.kraken)
    syms = _symbols(frames)
    run = Run("kraken", syms, reference.Kraken(syms, depth=1000), metrics_every=10**9)
    edge_instants = 0
    issue_instant = None
    for f in frames:
        run.feed(*f)
        rs = run.ref.streams["SC/EUR"]
        if not (f[1] == "SC/EUR" and rs.live and "0.043860" in dict(rs.book.asks.top())):
            continue
        if (rs.book.bids.best(), rs.book.asks.best()) != (Decimal("0.042950"), Decimal("0.043050")):
            continue
        edge_instants += 1  # every instant with a level exactly on the edge, checked on the spot
        m = reference.metrics(rs.book, BANDS, NOTIONALS)
        assert m is not None
        st = run.rep.states[("kraken", "SC/EUR")]
        check_metrics(st, m, f"SC/EUR frame {run.frames} on the edge")
        if issue_instant is None and round(m["imbalance"][200], 5) == Decimal("0.06441"):
            issue_instant = run.frames - 1
            assert round(m["depth_ask"][200], 2) == Decimal("115006.97")
            sample = compute_sample(st.book, "kraken", "SC/EUR", 0, BANDS, NOTIONALS)
            assert (round(sample.depth_ask[200], 2), round(sample.imbalance[200], 5)) == (115006.97, 0.06441)
    assert issue_instant == 1271
    assert edge_instants == 29


def test_kraken_dropped_update_and_corrupted_checksum_are_seen_where_the_reference_sees_them(realdata):
    frames = _frames(realdata / "KRAKEN.ws.50.0.gz", convert.kraken)
    xmr = [i for i, f in enumerate(frames) if f[1] == "XMR/USD" and '"update"' in f[2]]
    ada = [i for i, f in enumerate(frames) if f[1] == "ADA/XBT" and '"update"' in f[2]]
    k = ada[50]
    t, sym, text, _ = frames[k]
    msg = json.loads(text)
    c = msg["data"][0]["checksum"]
    frames[k] = (t, sym, text.replace(f'"checksum":{c}', f'"checksum":{c ^ 1}'), None)
    dropped = xmr[30]
    del frames[dropped]
    run = _kraken_run(frames, metrics_every=10**9)
    kinds = {(s, kind) for _, s, kind in run.ref.events}
    assert ("ADA/XBT", "checksum_failures") in kinds and ("XMR/USD", "checksum_failures") in kinds
    assert (k - (k > dropped), "ADA/XBT", "checksum_failures") in run.ref.events
    assert all(i >= dropped for i, s, _ in run.ref.events if s == "XMR/USD")
    run.counters()  # the adapter counted the same failures on the same symbols (checked frame by frame)


# ------------------------------------------------------------------------------------ Coinbase, Bybit


def test_coinbase_level2_converted_equals_the_reference(realdata):
    frames = _frames(realdata / "COINBASE.ws.28.0.gz", convert.coinbase)
    syms = _symbols(frames)
    run = Run("coinbase", syms, reference.Coinbase(syms), metrics_every=7)
    for f in frames:
        run.feed(*f)
    run.counters()
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())


def test_coinbase_dropped_message_is_a_gap_for_every_book(realdata):
    frames = _frames(realdata / "COINBASE.ws.28.0.gz", convert.coinbase)
    k = 5000
    del frames[k]
    syms = _symbols(frames)
    run = Run("coinbase", syms, reference.Coinbase(syms), metrics_every=10**9)
    for f in frames:
        run.feed(*f)
    assert {(i, kind) for i, _, kind in run.ref.events} == {(k, "gaps")}
    assert {s for _, s, _ in run.ref.events} == set(syms)
    run.counters()


@pytest.mark.parametrize("name", ["BYBIT.ws.25.0.gz", "BYBIT.ws.26.0.gz"])
def test_bybit_converted_equals_the_reference_at_the_depth_in_the_topic(realdata, name):
    # The adapter is configured at the default depth 200; the frames say orderbook.50.
    frames = _frames(realdata / name, convert.bybit)
    syms = _symbols(frames)
    run = Run("bybit-linear", syms, reference.Bybit(syms), metrics_every=3)
    for f in frames:
        run.feed(*f)
    run.counters()
    assert all(st.status is StreamStatus.LIVE for st in run.rep.states.values())
    assert run.rep.unattributed == {}
