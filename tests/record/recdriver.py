"""A recorder process for the crash tests: feeds deterministic samples, alerts and events, prints each one.

``feed`` mode hands a sample to ``Recorder.on_sample`` every ``1/rate`` seconds and prints it *after*
the call returns, with the monotonic time (shared with the test process on Linux): the test kills
this process and checks that everything printed before the kill window is stored exactly once. It
opens one alert early and escalates it every few samples, reporting each change as the monitor does
(``on_alert_change`` with the alert as of the change).

``drain`` mode is the next start: it prints the status (what the previous run may have lost, the lag
of the journal it found), writes everything to the database and exits.

Lines on stdout (space-separated):
  S <venue> <symbol> <ts_ns> <mono>                 a sample handed over
  A <venue> <symbol> <signal> <opened_ns> <peak> <severity> <mono>   alert opened or escalated
  V <venue> <symbol> <ts_ns> <detail> <mono>        a feed event handed over
  START <json status>  /  EVENT <detail>  /  DONE <json status>
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time

import orjson
from recdata import T0_NS, make_samples  # the script's directory is on sys.path

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import Alert, AlertAction, AlertChange, FeedEvent, FeedEventKind, Severity
from lcm_tui.record import Recorder, RecorderError


def out(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def severity(z: float) -> Severity:
    return Severity.CRITICAL if abs(z) >= 5 else Severity.HIGH if abs(z) >= 4 else Severity.WARNING


async def feed(rec: Recorder, rate: float, start: int) -> None:
    samples = make_samples(3000, seed=start + 1, start_ns=T0_NS + start * 10**12)  # 150 s at 20/s
    alert: Alert | None = None
    period = 1.0 / rate
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    for i, s in enumerate(samples):
        next_at += period
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        rec.on_sample(s, None)
        out("S", s.venue, s.symbol, s.ts_ns, time.monotonic())
        if i == 4:
            alert = Alert(s.venue, s.symbol, "depth", s.ts_ns, -3.1, Severity.WARNING)
            rec.on_alert_change(AlertChange(AlertAction.OPEN, dataclasses.replace(alert)))
            out("A", alert.venue, alert.symbol, alert.signal, alert.opened_ns, alert.peak_z, alert.severity,
                time.monotonic())
        elif alert is not None and i % 6 == 0:
            alert.peak_z = round(alert.peak_z - 0.25, 2)  # in place, as the detector does
            alert.severity = severity(alert.peak_z)
            rec.on_alert_change(AlertChange(AlertAction.ESCALATE, dataclasses.replace(alert)))
            out("A", alert.venue, alert.symbol, alert.signal, alert.opened_ns, alert.peak_z, alert.severity,
                time.monotonic())
        if i % 5 == 2:
            ev = FeedEvent(s.ts_ns + 1, s.venue, s.symbol, FeedEventKind.RESYNC, f"n={i}")
            rec.on_event(ev)
            out("V", ev.venue, ev.symbol, ev.ts_ns, ev.detail, time.monotonic())


def status_json(rec: Recorder) -> str:
    st = rec.status()
    return orjson.dumps({**dataclasses.asdict(st), "describe": st.describe()}).decode()


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["feed", "drain"])
    p.add_argument("--dsn", required=True)
    p.add_argument("--spill", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--start", type=int, default=0, help="offset of the sample clock, so runs do not overlap")
    a = p.parse_args()
    cfg = RecorderConfig(enabled=True, dsn=a.dsn, batch_size=100, flush_interval_s=a.interval, spill_path=a.spill)
    # A stalled server must look stalled, not down: the write timeout is longer than any test.
    rec = Recorder(cfg, events=lambda ev: out("EVENT", ev.venue, ev.kind, ev.detail), backoff_min_s=0.05,
                   backoff_max_s=0.2, connect_timeout_s=2.0, write_timeout_s=120.0)
    try:
        await rec.start()
    except RecorderError as e:
        print(f"recdriver: {e}", file=sys.stderr)
        return e.exit_code
    out("START", status_json(rec))
    if a.mode == "feed":
        await feed(rec, a.rate, a.start)
    else:
        await rec.flush(20)
        out("DONE", status_json(rec))
    await rec.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
