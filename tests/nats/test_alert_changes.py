"""An alert's open / escalate / close crosses the bus once each: ``attach`` prints the lines the collector's
own ``--headless`` prints, against the real NATS JetStream server."""

from __future__ import annotations

import json
from typing import Any

from harness import RunningCollector, running, shard_settings
from natsenv import wait_for

from lcm_tui.core.model import Alert, AlertAction, AlertChange, Severity
from lcm_tui.core.view import MarketView
from lcm_tui.frontends import jsonout
from lcm_tui.runtime.bus.connect import NatsOptions
from lcm_tui.runtime.bus.run import open_remote

KEY = ("okx", "BTC-USDT", "slip_sell", 1)  # opened_ns 1: no alert of the demo market has it


def _lines(view: MarketView, lines: jsonout.HeadlessLines, out: list[dict[str, Any]]) -> None:
    for c in lines.changes():
        a = c.alert
        if (a.venue, a.symbol, a.signal, a.opened_ns) == KEY:
            out.append(json.loads(jsonout.encode_line(jsonout.alert_object(a, c.action))))


async def test_attach_prints_each_alert_change_the_collector_reports(bus: NatsOptions) -> None:
    rc = RunningCollector(shard_settings(["okx"]), bus, "col-alerts")
    async with running(rc) as col, open_remote(shard_settings(["okx"]), bus) as view:
        local_lines, remote_lines = jsonout.HeadlessLines(col.engine.view), jsonout.HeadlessLines(view)
        local: list[dict[str, Any]] = []
        remote: list[dict[str, Any]] = []
        a = Alert(*KEY[:3], KEY[3], 3.3, Severity.WARNING)
        col.monitor.report([AlertChange(AlertAction.OPEN, a)])  # what a detector's open does
        a.peak_z, a.severity = 4.6, Severity.HIGH
        col.monitor.report([AlertChange(AlertAction.ESCALATE, a)])
        a.peak_z, a.severity = 5.2, Severity.CRITICAL
        col.monitor.report([AlertChange(AlertAction.ESCALATE, a)])
        a.closed_ns = 9
        col.monitor.report([AlertChange(AlertAction.CLOSE, a)])
        _lines(col.engine.view, local_lines, local)

        def arrived() -> bool:
            _lines(view, remote_lines, remote)
            return len(remote) >= 4
        await wait_for(arrived, 10)
        assert [(o["action"], o["alert"]["severity"], o["alert"]["peak_z"]) for o in local] == [
            ("open", "warning", 3.3), ("escalate", "high", 4.6), ("escalate", "critical", 5.2),
            ("close", "critical", 5.2)]
        assert remote == local
