"""``--metrics-port``: Prometheus ``/metrics`` from any :class:`~lcm_tui.core.view.MarketView`.

The local app, a collector and a viewer all export the same families, read through the market view
at scrape time (nothing is computed between scrapes). The text is produced by prometheus-client's
exposition code from a custom collector; the HTTP side is a small asyncio server on the app's own
event loop rather than prometheus-client's thread, because the view's dicts are mutated by that loop
and must be read from it.

Families (labels in braces): ``lcm_stream_up{venue,symbol}`` 1 while LIVE; ``lcm_stream_status
{venue,symbol,status}`` 1 for the current status; ``lcm_spread_bps``, ``lcm_mid``;
``lcm_depth_quote{side,band_bps}``, ``lcm_imbalance{band_bps}``; ``lcm_slippage_bps{side,notional}``;
``lcm_zscore{signal}``; the stream counters as ``lcm_<counter>_total``; ``lcm_alerts_open{severity}``;
and, when a recorder runs, ``lcm_recorder_up``, ``lcm_recorder_state{state}``,
``lcm_recorder_rows_written_total``, ``lcm_recorder_queue_depth``, ``lcm_recorder_lag_seconds``,
``lcm_recorder_spilled_rows``, ``lcm_recorder_dropped_rows_total``. ``extra`` adds process counters
(a collector's published samples, an alert router's deliveries) as ``lcm_<name>_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from lcm_tui.core.model import Counters, Severity, StreamStatus
from lcm_tui.core.view import MarketView

log = logging.getLogger("lcm_tui.runtime.prometheus")

_COUNTERS = tuple(f.name for f in fields(Counters))
_RECORDER_STATES = ("UP", "SPILLING", "DOWN", "FAILED")


def _num(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class MarketCollector(Collector):
    def __init__(self, view: MarketView, *, recorder: Callable[[], Any] | None = None,
                 extra: Callable[[], Mapping[str, float]] | None = None) -> None:
        self.view = view
        self.recorder = recorder
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        v = self.view
        sl = ["venue", "symbol"]
        up = GaugeMetricFamily("lcm_stream_up", "1 while the stream is LIVE", labels=sl)
        status = GaugeMetricFamily("lcm_stream_status", "1 for the stream's current status", labels=[*sl, "status"])
        spread = GaugeMetricFamily("lcm_spread_bps", "spread of the last sample (bps)", labels=sl)
        mid = GaugeMetricFamily("lcm_mid", "mid price of the last sample", labels=sl)
        depth = GaugeMetricFamily("lcm_depth_quote", "quote depth within a band of the mid",
                                  labels=[*sl, "side", "band_bps"])
        imb = GaugeMetricFamily("lcm_imbalance", "book imbalance within a band", labels=[*sl, "band_bps"])
        slip = GaugeMetricFamily("lcm_slippage_bps", "slippage of a market order of a notional",
                                 labels=[*sl, "side", "notional"])
        zs = GaugeMetricFamily("lcm_zscore", "detector z per signal (absent while warming up)",
                               labels=[*sl, "signal"])
        counters = {c: CounterMetricFamily(f"lcm_{c}", f"stream counter {c}", labels=sl) for c in _COUNTERS}
        for sv in v.streams():
            lab = [sv.venue, sv.symbol]
            up.add_metric(lab, 1.0 if sv.status is StreamStatus.LIVE else 0.0)
            for st in StreamStatus:
                status.add_metric([*lab, str(st)], 1.0 if sv.status is st else 0.0)
            for c in _COUNTERS:
                counters[c].add_metric(lab, float(getattr(sv.counters, c)))
            s = v.latest(sv.venue, sv.symbol)
            if s is not None:
                if _num(s.spread_bps) is not None:
                    spread.add_metric(lab, float(s.spread_bps))  # type: ignore[arg-type]
                if _num(s.mid) is not None:
                    mid.add_metric(lab, float(s.mid))  # type: ignore[arg-type]
                for side, d in (("bid", s.depth_bid), ("ask", s.depth_ask)):
                    for band, q in d.items():
                        if _num(q) is not None:
                            depth.add_metric([*lab, side, str(band)], q)
                for band, x in s.imbalance.items():
                    if _num(x) is not None:
                        imb.add_metric([*lab, str(band)], x)
                for w in s.slippage:
                    if _num(w.slippage_bps) is not None:
                        slip.add_metric([*lab, w.side, f"{w.notional:g}"], float(w.slippage_bps))  # type: ignore[arg-type]
            for sig in v.signals(sv.venue, sv.symbol):
                if _num(sig.z) is not None:
                    zs.add_metric([*lab, sig.name], float(sig.z))  # type: ignore[arg-type]
        yield from (up, status, spread, mid, depth, imb, slip, zs, *counters.values())
        open_alerts = GaugeMetricFamily("lcm_alerts_open", "open crunch alerts", labels=["severity"])
        n = dict.fromkeys((str(s) for s in Severity), 0)
        for a in v.alerts():
            if a.is_open:
                n[str(a.severity)] = n.get(str(a.severity), 0) + 1
        for sev, k in n.items():
            open_alerts.add_metric([sev], float(k))
        yield open_alerts
        if self.recorder is not None:
            yield from self._recorder(self.recorder())
        if self.extra is not None:
            for name, value in sorted(self.extra().items()):
                fam = CounterMetricFamily(f"lcm_{name}", name.replace("_", " "))
                fam.add_metric([], float(value))
                yield fam

    @staticmethod
    def _recorder(st: Any) -> Iterator[Metric]:
        state = str(getattr(st, "state", "UP"))
        g = GaugeMetricFamily("lcm_recorder_up", "1 while the recorder writes to the database (UP or SPILLING)")
        g.add_metric([], 1.0 if state in ("UP", "SPILLING") else 0.0)
        yield g
        s = GaugeMetricFamily("lcm_recorder_state", "1 for the recorder's current state", labels=["state"])
        for name in _RECORDER_STATES:
            s.add_metric([name], 1.0 if state == name else 0.0)
        yield s
        for name, attr, kind, doc in (
                ("lcm_recorder_rows_written", "rows_written", "counter", "records committed"),
                ("lcm_recorder_queue_depth", "queue_depth", "gauge", "records in memory"),
                ("lcm_recorder_lag_seconds", "lag_s", "gauge", "age of the oldest record not committed"),
                ("lcm_recorder_spilled_rows", "spilled_rows", "gauge", "records waiting in the spill journal"),
                ("lcm_recorder_dropped_rows", "dropped_rows", "counter", "records lost")):
            fam: Metric = (CounterMetricFamily(name, doc) if kind == "counter" else GaugeMetricFamily(name, doc))
            fam.add_metric([], float(getattr(st, attr, 0) or 0))  # type: ignore[attr-defined]
            yield fam


def render(view: MarketView, *, recorder: Callable[[], Any] | None = None,
           extra: Callable[[], Mapping[str, float]] | None = None) -> bytes:
    """The ``/metrics`` text of ``view`` now."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(MarketCollector(view, recorder=recorder, extra=extra))
    return generate_latest(reg)


class Exporter:
    """An asyncio HTTP server answering ``GET /metrics`` (anything else: 404)."""

    def __init__(self, view: MarketView, port: int, host: str = "127.0.0.1", *,
                 recorder: Callable[[], Any] | None = None,
                 extra: Callable[[], Mapping[str, float]] | None = None) -> None:
        self.view = view
        self.port = port
        self.host = host
        self.recorder = recorder
        self.extra = extra
        self.scrapes = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as e:
            raise OSError(f"cannot serve /metrics on {self.host}:{self.port}: {e.strerror or e}") from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
                while (await reader.readline()).strip():
                    pass
            parts = line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics":
                body = render(self.view, recorder=self.recorder, extra=self.extra)
                self.scrapes += 1
                head = f"HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\n"
            else:
                body = b"not found: try /metrics\n"
                head = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        except Exception:
            log.exception("metrics: scrape failed")
        finally:
            writer.close()
