"""``lcm-tui --headless --demo``: valid JSON lines per venue+symbol, clean exit on SIGINT, capture flushed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import ClassVar

from lcm_tui.config import load_settings
from lcm_tui.runtime.replay import iter_capture
from lcm_tui.runtime.sim.demo import demo_venues

CONFIG = """
metrics:
  sample_interval_s: 0.2
feeds:
  stale_after_s: 2
"""


async def test_headless_demo_prints_json_lines_and_exits_cleanly(tmp_path):
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(CONFIG)
    cap = tmp_path / "cap.jsonl.gz"
    expected = {(v, s) for v, syms in demo_venues(load_settings(str(cfg))).items() for s in syms}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lcm_tui", "--headless", "--demo", "--config", str(cfg), "--capture", str(cap),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    live: set[tuple[str, str]] = set()
    consolidated: set[str] = set()
    lines = 0
    try:
        async with asyncio.timeout(20):
            while live != expected or not consolidated:
                raw = await proc.stdout.readline()
                assert raw, (await proc.stderr.read()).decode()[-2000:]
                o = json.loads(raw)
                lines += 1
                assert isinstance(o["ts"], float)
                if o["venue"] == "consolidated":
                    # One line per asset after the venues' lines: the cross-venue book and the split.
                    assert {"sources", "excluded", "splits", "slippage", "crossed", "market"} <= set(o)
                    if len(o["sources"]) >= 2 and o["splits"]:
                        consolidated.add(o["symbol"])
                    continue
                if o["venue"] == "alert":  # an alert that opened, escalated or closed at this sample
                    assert o["action"] in {"open", "escalate", "close"}
                    assert {"venue", "symbol", "signal", "opened_ns", "peak_z", "severity",
                            "closed_ns"} <= set(o["alert"])
                    continue
                assert {"venue", "symbol", "status", "reason", "best_bid", "best_ask", "mid", "spread_bps",
                        "depth_bid", "depth_ask", "imbalance", "slippage", "z", "counters"} <= set(o)
                assert set(o["z"]) == {"depth", "spread", "slip_buy", "slip_sell"}
                assert isinstance(o["reason"], str)  # why the stream is not LIVE; empty while it is
                if o["status"] == "live":
                    assert o["reason"] == ""
                    assert isinstance(o["best_bid"], str) and float(o["best_bid"]) < float(o["best_ask"])
                    assert set(o["depth_bid"]) == {"10", "50", "100", "200"}
                    live.add((o["venue"], o["symbol"]))
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            rc = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rc == 0
    assert lines >= len(expected)
    recs = list(iter_capture(str(cap)))  # complete (gzip trailer written) because the exit was clean
    assert {(r.venue, r.symbol) for r in recs if r.symbol} == expected


class _FakeRecorder:
    """Stands in for the PostgreSQL recorder: the engine must start it, feed it samples, report it, close it."""

    made: ClassVar[list[_FakeRecorder]] = []

    def __init__(self, cfg):
        self.cfg = cfg
        self.samples = 0
        self.started = self.closed = False
        _FakeRecorder.made.append(self)

    async def start(self):
        self.started = True

    async def close(self):
        self.closed = True

    def on_sample(self, sample, state):
        self.samples += 1

    def status(self):
        rec = self

        class _S:
            def describe(self):
                return f"rows={rec.samples}"

        return _S()


async def test_headless_recorder_hook_and_sigterm(monkeypatch, capsys):
    import lcm_tui.record
    from lcm_tui.config import Settings
    from lcm_tui.frontends.headless import _main

    monkeypatch.setattr(lcm_tui.record, "Recorder", _FakeRecorder)
    settings = Settings()
    settings.metrics.sample_interval_s = 0.1
    settings.recorder.enabled = True
    task = asyncio.create_task(_main(settings, True, None))
    async with asyncio.timeout(10):
        while not (_FakeRecorder.made and _FakeRecorder.made[0].samples >= 3):
            assert not task.done(), task
            await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop: a clean stop, not a kill
    assert await asyncio.wait_for(task, 10) == 0
    rec = _FakeRecorder.made[0]
    assert rec.started and rec.closed
    out, err = capsys.readouterr()
    assert "recorder: rows=" in err
    assert all(json.loads(line)["venue"] for line in out.splitlines())


async def test_nothing_to_monitor_is_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("metrics:\n  sample_interval_s: 0.2\n")  # no venue enabled
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lcm_tui", "--headless", "--config", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and out == b""
    assert err.decode() == "lcm-tui: no enabled venue with symbols to monitor\n"


async def test_a_reader_that_goes_away_ends_headless_quietly(tmp_path):
    """``lcm-tui --headless | head -1``: exit 0, no traceback, once stdout's reader is gone."""
    import socket

    cfg = tmp_path / "settings.yaml"
    cfg.write_text(CONFIG)
    reader, writer = socket.socketpair()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lcm_tui", "--headless", "--demo", "--config", str(cfg),
        stdout=writer.fileno(), stderr=asyncio.subprocess.PIPE,
    )
    writer.close()
    assert proc.stderr is not None
    try:
        loop = asyncio.get_running_loop()
        reader.setblocking(False)
        first = b""
        async with asyncio.timeout(20):
            while b"\n" not in first:
                chunk = await loop.sock_recv(reader, 65536)
                assert chunk, (await proc.stderr.read()).decode()[-2000:]
                first += chunk
        assert json.loads(first.split(b"\n")[0])["venue"]
        reader.close()  # what `head -1` does after its line
        async with asyncio.timeout(20):
            rc = await proc.wait()
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rc == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# ---- alert events and z-scores in the lines (an engine without sockets, driven sample by sample) ----

def _crunch_sizes() -> list[float]:
    """A noisy baseline (10 / 12 both sides), then depth draining faster each sample, then back to 10."""
    import math

    return [10.0, 12.0] * 5 + [10.0 * math.exp(-0.032 * 2**n) for n in range(6)] + [10.0, 10.0]


def _reference_alert_events(zs: list[float | None], open_z: float, close_z: float) -> list[tuple[int, str, float]]:
    """README's rule for one depth signal with ``consecutive = 1``: open at z <= -open_z, escalate each time
    z falls below the peak while open, close at |z| < close_z. (tick, action, peak z)."""
    out: list[tuple[int, str, float]] = []
    peak: float | None = None
    for i, z in enumerate(zs):
        if z is None:
            continue
        if peak is None:
            if z <= -open_z:
                peak = z
                out.append((i, "open", peak))
        elif abs(z) < close_z:
            out.append((i, "close", peak))
            peak = None
        elif z < peak:
            peak = z
            out.append((i, "escalate", peak))
    return out


def _ladder(z: float) -> str:
    """README: severity by peak |z|: >= 3 warning, >= 4 high, >= 5 critical."""
    return "critical" if abs(z) >= 5 else "high" if abs(z) >= 4 else "warning"


def test_headless_lines_carry_z_and_every_alert_open_escalate_close() -> None:
    from lcm_tui.config import Settings
    from lcm_tui.core.book import OrderBook
    from lcm_tui.core.model import StreamStatus, SymbolState
    from lcm_tui.frontends import jsonout
    from lcm_tui.runtime.engine import Engine

    s = Settings()
    s.detector.warmup_samples = 3
    s.detector.consecutive = 1
    t0 = 1_796_115_600 * 10**9  # 2026-12-01T09:00:00Z
    eng = Engine(s, mode="live", clock=lambda: t0)
    book = OrderBook("binance", "BTCUSDT")
    eng.monitor.add(SymbolState("binance", "BTCUSDT", book, status=StreamStatus.LIVE))
    lines = jsonout.HeadlessLines(eng.view)
    zs: list[float | None] = []
    events: list[tuple[int, dict]] = []
    for tick, size in enumerate(_crunch_sizes()):
        q = f"{size:.6f}"
        book.load_snapshot([("100.0", q)], [("100.1", q)])
        t_ns = t0 + (tick + 1) * 10**9
        eng.sample(t_ns)
        objs = [json.loads(x) for x in lines.encode(t_ns).splitlines()]
        stream = objs[0]
        assert (stream["venue"], stream["symbol"]) == ("binance", "BTCUSDT") and stream["ts"] == t_ns / 1e9
        assert list(stream["z"]) == ["depth", "spread", "slip_buy", "slip_sell"]  # the README's names, in order
        # A flat spread has no variance and no notional is fillable on this book: no z for them.
        assert stream["z"]["spread"] is None and stream["z"]["slip_buy"] is None
        zs.append(stream["z"]["depth"])
        assert objs[1]["venue"] == "consolidated"
        events += [(tick, o) for o in objs[2:]]
    want = _reference_alert_events(zs, s.detector.open_z, s.detector.close_z)
    assert [a for _, a, _ in want] == ["open", "escalate", "escalate", "escalate", "escalate", "close"]
    assert [(tick, o["action"], o["alert"]["peak_z"]) for tick, o in events] == want
    for tick, o in events:
        a = o["alert"]
        assert (o["venue"], o["symbol"]) == ("alert", "")
        assert (a["venue"], a["symbol"], a["signal"]) == ("binance", "BTCUSDT", "depth")
        assert a["opened_ns"] == t0 + (want[0][0] + 1) * 10**9
        assert a["severity"] == _ladder(a["peak_z"])
        assert a["closed_ns"] == (t0 + (tick + 1) * 10**9 if o["action"] == "close" else None)
    assert events[0][1]["alert"]["severity"] == "warning" and events[1][1]["alert"]["severity"] == "critical"
