"""``lcm-tui replay FILE --json --at TIME`` on a real Binance recording: the books at TIME are the
independent reference's books after exactly the frames received by then.

The reference (``reference.py``) follows Binance's documented sync and shares no code with lcm-tui; it
is fed the recording's own depth frames and REST bodies, merged by receive time, up to TIME.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lcm_tui.frontends.cli import main

from . import convert, reference


def _raw(realdata: Path) -> list[tuple[int, str, str, str | None]]:
    out: list[tuple[int, str, str, str | None]] = []
    for t, text in convert.received(realdata / "BINANCE.ws.1.0.gz"):
        msg = json.loads(text)
        if isinstance(msg, dict) and "@depth" in msg.get("stream", ""):
            out.append((t, msg["data"]["s"], text, None))
    for t, url, body in convert.rest_bodies(realdata / "BINANCE.http.0.0.gz"):
        sym = url.split("symbol=")[1].split("&")[0]
        out.append((t, sym, body, sym))
    out.sort(key=lambda f: f[0])
    return out


def test_replay_at_equals_the_reference_books_after_the_frames_received_by_then(
        realdata: Path, tmp_path: Path, capsys: Any) -> None:
    cap = tmp_path / "bn.jsonl.gz"
    assert main(["import", "cryptofeed", str(realdata / "BINANCE.ws.1.0.gz"), str(realdata / "BINANCE.http.0.0.gz"),
                 "-o", str(cap)]) == 0
    capsys.readouterr()
    raw = _raw(realdata)
    syms = list(dict.fromkeys(s for _, s, _, _ in raw))
    checked = 0
    for frac in (0.5, 0.8):  # two times inside the recording, after every symbol's snapshot
        at_ns = raw[int(len(raw) * frac)][0]
        ref = reference.Binance(syms, futures=False)
        for t, _, text, snap in raw:
            if t <= at_ns:
                ref.frame(text, snap)
        # Epoch seconds with all nine decimals: TIME is exact to the nanosecond.
        assert main(["replay", str(cap), "--json", "--at", f"{at_ns // 10**9}.{at_ns % 10**9:09d}"]) == 0
        objs = json.loads(capsys.readouterr().out)
        assert objs[-1]["at_ns"] == at_ns
        streams = {o["symbol"]: o for o in objs if o["venue"] == "binance"}
        assert set(streams) == set(syms)
        for sym in syms:
            st, o = ref.streams[sym], streams[sym]
            assert (o["status"] == "live") == st.live, sym
            if not st.live:
                continue
            bids, asks = st.book.bids.top(), st.book.asks.top()
            assert (o["best_bid"], o["best_ask"]) == (bids[0][0], asks[0][0]), sym
            m = reference.metrics(st.book, [200], [])
            assert m is not None
            for side in ("depth_bid", "depth_ask"):
                assert abs(o[side]["200"] - float(m[side][200])) <= 1e-9 * float(m[side][200]), (sym, side)
            assert o["counters"]["frames"] == st.frames, sym
            checked += 1
    assert checked == 6  # RUNEEUR is still syncing at both times (its snapshot comes later), on both sides
