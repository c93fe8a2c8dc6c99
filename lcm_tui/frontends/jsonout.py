"""The one encoder of lcm-tui's JSON output: ``--headless`` lines and ``replay FILE --json``.

Both print, per venue+symbol stream, one object: ``venue``, ``symbol``, ``status``, ``reason`` (why
the stream is not LIVE: the status detail, e.g. ``gap 1234->1240`` or an HTTP status; empty while
LIVE), the metric fields of :class:`~lcm_tui.core.model.MetricSample` (``ts_ns`` aside: headless
adds ``ts`` in epoch seconds, replay reports the final books), ``z`` (the detector's z per signal,
keyed by the names of :data:`~lcm_tui.core.detector.STREAM_SIGNALS`, null while warming up or when the
sample lacks the value) and ``counters``; then one object per base asset with ``"venue":
"consolidated"``, ``"symbol": <asset>`` and the fields of
:class:`~lcm_tui.core.consolidated.ConsolidatedMetrics`; then alerts as ``"venue": "alert"`` objects
holding the :class:`~lcm_tui.core.model.Alert` (``--headless``: one line per open / escalate / close
since the previous sample, with ``action``, as the core reported it through
``MarketView.alert_changes``, so a local run and ``attach`` print the same lines; ``replay --json
--at``: every alert as of that time).
``replay --json`` ends with one ``"venue": "replay"`` object (frames the replay could not attribute,
skipped venues). Field names are the dataclasses' own, so a new metric appears in the output without
touching this module.

The types serialise themselves: orjson encodes dataclasses, str enums and (with ``OPT_NON_STR_KEYS``)
the int band keys natively. Measured for one stream line with six slippage walks (CPython 3.11.7,
orjson 3.13, msgspec 0.23, an idle machine): the former hand-written ``as_dict`` + orjson 7.5 us,
orjson on the dataclasses 8.6 us, msgspec on them 4.8 us. orjson is kept: it is already a dependency,
it writes every float exactly as before (msgspec spells ``1e+28`` as ``1e28``), and a microsecond a
line is nothing at one line per stream per second.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import orjson

from lcm_tui.config import Settings
from lcm_tui.core.consolidated import ConsolidatedMetrics
from lcm_tui.core.detector import STREAM_SIGNALS
from lcm_tui.core.model import Alert, AlertAction, AlertChange, MetricSample, StreamStatus
from lcm_tui.core.view import MarketView, SignalView, StreamView

OPTIONS = orjson.OPT_NON_STR_KEYS
CONSOLIDATED_VENUE = "consolidated"
ALERT_VENUE = "alert"
_SKIP = frozenset({"venue", "symbol", "ts_ns"})
_SAMPLE_FIELDS = tuple(f.name for f in fields(MetricSample) if f.name not in _SKIP)
_CONSOLIDATED_FIELDS = tuple(f.name for f in fields(ConsolidatedMetrics))


def reason(sv: StreamView) -> str:
    """Why the stream is not LIVE (its status detail); empty while it is LIVE."""
    return "" if sv.status is StreamStatus.LIVE else sv.detail


def z_object(signals: Iterable[SignalView] = ()) -> dict[str, float | None]:
    """Every detector signal's z by name: always all of them, so a consumer never checks for a key."""
    z: dict[str, float | None] = dict.fromkeys(STREAM_SIGNALS)
    for sig in signals:
        z[sig.name] = sig.z
    return z


def stream_object(sv: StreamView, sample: MetricSample | None,
                  signals: Iterable[SignalView] = ()) -> dict[str, Any]:
    """One stream's object; a stream without a sample (no book yet) has null metrics and empty bands."""
    s = sample if sample is not None else MetricSample(sv.venue, sv.symbol, 0, None, None, None, None)
    d: dict[str, Any] = {"venue": sv.venue, "symbol": sv.symbol, "status": sv.status, "reason": reason(sv)}
    for name in _SAMPLE_FIELDS:
        d[name] = getattr(s, name)
    d["z"] = z_object(signals)
    d["counters"] = sv.counters
    return d


def alert_object(alert: Alert, action: AlertAction | None = None) -> dict[str, Any]:
    """An alert as a line of its own: ``action`` (open / escalate / close) when it reports a change."""
    d: dict[str, Any] = {"venue": ALERT_VENUE, "symbol": ""}
    if action is not None:
        d["action"] = action
    d["alert"] = alert
    return d


class HeadlessLines:
    """What ``--headless`` prints per sample: the market as of now, then the alert changes since the last one.

    The first call reports every change the view still holds (a run's alerts from its start).
    """

    def __init__(self, view: MarketView) -> None:
        self.view = view
        self._cursor = 0

    def changes(self) -> list[AlertChange]:
        out, self._cursor = self.view.alert_changes(self._cursor)
        return out

    def objects(self) -> list[dict[str, Any]]:
        objs = market_objects(self.view)
        objs += [alert_object(c.alert, c.action) for c in self.changes()]
        return objs

    def encode(self, t_ns: int) -> bytes:
        return encode_lines(self.objects(), ts=t_ns / 1e9)


def consolidated_object(c: ConsolidatedMetrics) -> dict[str, Any]:
    d: dict[str, Any] = {"venue": CONSOLIDATED_VENUE, "symbol": c.asset}
    for name in _CONSOLIDATED_FIELDS:
        d[name] = getattr(c, name)
    return d


def market_objects(view: MarketView, *, latest: bool = True, consolidated: bool = True) -> list[dict[str, Any]]:
    """Every stream's object, then every asset's consolidated object, as of now.

    ``latest``: use the sample clock's last sample (what the detector and recorder saw; a stream that
    is not LIVE keeps its last one); a stream that never had one, or ``latest=False``, gets metrics of
    its book now.
    """
    out = []
    for sv in view.streams():
        sample = view.latest(sv.venue, sv.symbol) if latest else None
        if sample is None:
            snap = view.snapshot(sv.venue, sv.symbol, 0)
            sample = snap.metrics if snap is not None else None
        out.append(stream_object(sv, sample, view.signals(sv.venue, sv.symbol)))
    if consolidated:
        for asset in view.assets():
            c = view.consolidated(asset)
            if c is not None:
                out.append(consolidated_object(c))
    return out


def encode_line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=OPTIONS)


def encode_lines(objs: Iterable[dict[str, Any]], ts: float | None = None) -> bytes:
    """JSON lines (each ending in a newline), each prefixed with ``"ts"`` when given."""
    parts = [orjson.dumps({"ts": ts, **o} if ts is not None else o, option=OPTIONS) for o in objs]
    return b"".join(p + b"\n" for p in parts)


def encode_array(objs: list[dict[str, Any]]) -> bytes:
    """The indented array ``replay --json`` prints (one document, newline-terminated)."""
    return orjson.dumps(objs, option=OPTIONS | orjson.OPT_INDENT_2) + b"\n"


def write(out: IO[bytes] | None, data: bytes) -> bool:
    """Write ``data`` to ``out`` (default stdout) and flush; False when the reader went away (``| head``).

    A closed pipe ends the output like a well-behaved Unix filter: stdout is pointed at /dev/null so
    the interpreter's exit flush stays quiet.
    """
    try:
        if out is not None:
            out.write(data)
            out.flush()
        else:
            text = sys.stdout
            buf = getattr(text, "buffer", None)
            if buf is not None:
                text.flush()
                buf.write(data)
                buf.flush()
            else:
                text.write(data.decode())
                text.flush()
        return True
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return False


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_NS = 86_400 * 10**9
_EPOCH_SECONDS = re.compile(r"\d+(\.\d{1,9})?")
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?")
AT_FORMATS = "ISO-8601 (2026-12-01T09:03:06Z; no zone = UTC), HH:MM[:SS[.fff]] of the capture's day in UTC, " \
             "or epoch seconds"


def utc_iso(t_ns: int) -> str:
    """``t_ns`` as ISO-8601 in UTC to the microsecond, for messages a person reads."""
    return (_EPOCH + timedelta(microseconds=t_ns // 1000)).isoformat().replace("+00:00", "Z")


def parse_at(text: str, start_ns: int) -> int:
    """``--at TIME`` in ns since the epoch; ValueError (a one-line message) when it is no time.

    HH:MM:SS is on the UTC day of the capture's first record (``start_ns``); a time of day before the
    capture's start is taken as the next day's, so a capture running past midnight can be stopped after
    it. Epoch seconds and fractions are converted exactly (no float rounding of the nanoseconds).
    """
    t = text.strip()
    if _EPOCH_SECONDS.fullmatch(t):
        with contextlib.suppress(InvalidOperation):
            return int(Decimal(t) * 10**9)
    m = _TIME_OF_DAY.fullmatch(t)
    if m is not None:
        h, mi, sec = int(m[1]), int(m[2]), int(m[3] or 0)
        if h <= 23 and mi <= 59 and sec <= 59:
            frac = int(m[4][1:].ljust(9, "0")) if m[4] else 0
            t_ns = start_ns - start_ns % _DAY_NS + ((h * 60 + mi) * 60 + sec) * 10**9 + frac
            return t_ns + _DAY_NS if t_ns < start_ns else t_ns
    else:
        with contextlib.suppress(ValueError):
            dt = datetime.fromisoformat(t)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return (dt - _EPOCH) // timedelta(microseconds=1) * 1000
    raise ValueError(f"--at {text!r} is not a time: give {AT_FORMATS}")


def run_replay_json(settings: Settings, path: str, at: str | None = None) -> int:
    """``lcm-tui replay FILE --json [--at TIME]``: the books' metrics as one JSON array.

    Without ``at``: each stream's status is the one as of its last frame (a capture normally ends
    with the recording process closing its connections, which says nothing about the books); metrics
    are of the final books; no detector runs (z null, no alerts, the consolidated entries have no
    market signal), so it is as fast as the adapters.

    With ``at``: the state at that instant. The capture is fed up to it with the sample clock running
    on the capture's time, so the statuses are those of that moment, metrics are of the books then,
    z is the detector's as of its last sample by then, and every alert opened by then follows the
    consolidated entries (with its ``closed_ns`` if it had closed). The summary adds ``at_ns``.
    """
    from lcm_tui.runtime.engine import EngineError, open_replay

    try:
        engine = open_replay(settings, path, sample_clock=at is not None)
    except EngineError as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    session = engine.replay
    assert session is not None
    for venue, why in engine.unavailable().items():
        print(f"lcm-tui: {venue}: not replayed ({why})", file=sys.stderr)
    at_ns: int | None = None
    try:
        if at is None:
            session.run()
            session.finish()
        else:
            first = session.peek()
            if first is None:
                print(f"lcm-tui: --at: {path} holds no capture records", file=sys.stderr)
                return 2
            try:
                at_ns = parse_at(at, first.t_ns)
            except ValueError as e:
                print(f"lcm-tui: {e}", file=sys.stderr)
                return 2
            if at_ns < first.t_ns:
                print(f"lcm-tui: --at {at} ({utc_iso(at_ns)}) is before the capture starts "
                      f"({utc_iso(first.t_ns)})", file=sys.stderr)
                return 2
            session.run_until(at_ns)
            if session.peek() is None and at_ns > session.last_record_ns:
                print(f"lcm-tui: --at {at} ({utc_iso(at_ns)}) is after the capture ends "
                      f"({utc_iso(session.last_record_ns)})", file=sys.stderr)
                return 2
    except OSError as e:
        print(f"lcm-tui: cannot read capture: {e}", file=sys.stderr)
        return 2
    objs = market_objects(engine.view, latest=False)
    if at_ns is not None:
        objs += [alert_object(a) for a in engine.view.alerts()]
    # Last: what the replay could not attribute to any stream ("venue": "replay"; filter on venue as
    # for "consolidated").
    summary = session.replayer.summary()
    if at_ns is not None:
        summary["at_ns"] = at_ns
    objs.append(summary)
    write(None, encode_array(objs))
    return 0
