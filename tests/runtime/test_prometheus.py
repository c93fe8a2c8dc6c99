"""``--metrics-port``: scrape ``/metrics`` of a running engine (the embedded simulator) and parse the text
with prometheus-client's own parser; every value must be the one the market view reports."""

from __future__ import annotations

import asyncio
import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lcm_tui.config import load_settings
from lcm_tui.core.model import StreamStatus
from lcm_tui.record.status import RecorderStatus
from lcm_tui.runtime.engine import open_live
from lcm_tui.runtime.prometheus import Exporter, render


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _l(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


async def test_metrics_port_serves_every_family_with_the_views_values() -> None:
    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name in ("binance", "okx")
    s.prometheus.port = _free_port()
    async with open_live(s, demo=True, demo_step_interval_s=0.05, demo_fault_rate=0.0) as eng:
        view = eng.view
        for _ in range(400):
            if all(sv.status is StreamStatus.LIVE for sv in view.streams()):
                break
            await asyncio.sleep(0.05)
        eng.sample()
        async with httpx.AsyncClient() as client:
            resp = await client.get(f"http://127.0.0.1:{s.prometheus.port}/metrics")
            missing = await client.get(f"http://127.0.0.1:{s.prometheus.port}/other")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        assert missing.status_code == 404
        got = _parse(resp.text)
        streams = view.streams()
        assert len(streams) == 4
        assert all(sv.status is StreamStatus.LIVE for sv in streams)
        for sv in streams:
            lab = {"venue": sv.venue, "symbol": sv.symbol}
            assert got[("lcm_stream_up", _l(**lab))] == 1.0
            assert got[("lcm_stream_status", _l(**lab, status="live"))] == 1.0
            assert got[("lcm_stream_status", _l(**lab, status="down"))] == 0.0
            assert got[("lcm_frames_total", _l(**lab))] <= view.stream(sv.venue, sv.symbol).counters.frames  # type: ignore[union-attr]
            smp = view.latest(sv.venue, sv.symbol)
            assert smp is not None and smp.spread_bps is not None
            assert got[("lcm_spread_bps", _l(**lab))] == smp.spread_bps
            for band in s.metrics.depth_bands_bps:
                assert got[("lcm_depth_quote", _l(**lab, side="bid", band_bps=str(band)))] == smp.depth_bid[band]
                assert got[("lcm_depth_quote", _l(**lab, side="ask", band_bps=str(band)))] == smp.depth_ask[band]
            for w in smp.slippage:
                key = ("lcm_slippage_bps", _l(**lab, side=w.side, notional=f"{w.notional:g}"))
                assert got[key] == w.slippage_bps
            # z per signal appears once the detector has one; none while warming up.
            for sig in view.signals(sv.venue, sv.symbol):
                key = ("lcm_zscore", _l(**lab, signal=sig.name))
                assert (key in got) == (sig.z is not None)
        for sev in ("warning", "high", "critical"):
            assert got[("lcm_alerts_open", _l(severity=sev))] == 0.0


async def test_recorder_status_and_process_counters_are_exported() -> None:
    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name == "coinbase"
    async with open_live(s, demo=True, demo_step_interval_s=0, demo_fault_rate=0.0) as eng:
        st = RecorderStatus(rows_written=1234, queue_depth=7, lag_s=2.5, spilled_rows=40, down_since=99.0,
                            last_error="x", dropped_rows=3)
        text = render(eng.view, recorder=lambda: st, extra=lambda: {"bus_samples_published": 42})
        got = _parse(text.decode())
        assert got[("lcm_recorder_up", ())] == 0.0  # DOWN
        assert got[("lcm_recorder_state", _l(state="DOWN"))] == 1.0
        assert got[("lcm_recorder_state", _l(state="UP"))] == 0.0
        assert got[("lcm_recorder_rows_written_total", ())] == 1234
        assert got[("lcm_recorder_queue_depth", ())] == 7
        assert got[("lcm_recorder_lag_seconds", ())] == 2.5
        assert got[("lcm_recorder_spilled_rows", ())] == 40
        assert got[("lcm_recorder_dropped_rows_total", ())] == 3
        assert got[("lcm_bus_samples_published_total", ())] == 42


async def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        s = load_settings(None)
        from lcm_tui.runtime.engine import EngineError

        ex = Exporter(None, port)  # type: ignore[arg-type]
        try:
            await ex.start()
        except OSError as e:
            assert f"127.0.0.1:{port}" in str(e) and "\n" not in str(e)
        else:  # pragma: no cover
            raise AssertionError("bound a busy port")
        s.prometheus.port = port
        for name, vc in s.venues.items():
            vc.enabled = name == "coinbase"
        try:
            async with open_live(s, demo=True, demo_step_interval_s=0):
                raise AssertionError("started on a busy port")
        except EngineError as e:
            assert "cannot serve /metrics" in str(e)
