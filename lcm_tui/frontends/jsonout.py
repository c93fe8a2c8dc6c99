"""The one encoder of lcm-tui's JSON output: ``--headless`` lines and ``replay FILE --json``.

Both print, per venue+symbol stream, one object: ``venue``, ``symbol``, ``status``, ``reason`` (why
the stream is not LIVE: the status detail, e.g. ``gap 1234->1240`` or an HTTP status; empty while
LIVE), the metric fields of :class:`~lcm_tui.core.model.MetricSample` (``ts_ns`` aside: headless
adds ``ts`` in epoch seconds, replay reports the final books), and ``counters``; then one object per
base asset with ``"venue": "consolidated"``, ``"symbol": <asset>`` and the fields of
:class:`~lcm_tui.core.consolidated.ConsolidatedMetrics`; ``replay --json`` ends with one
``"venue": "replay"`` object (frames the replay could not attribute, skipped venues). Field names are
the dataclasses' own, so a new metric appears in the output without touching this module.

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
import sys
from collections.abc import Iterable
from dataclasses import fields
from typing import IO, Any

import orjson

from lcm_tui.config import Settings
from lcm_tui.core.consolidated import ConsolidatedMetrics
from lcm_tui.core.model import MetricSample, StreamStatus
from lcm_tui.core.view import MarketView, StreamView

OPTIONS = orjson.OPT_NON_STR_KEYS
CONSOLIDATED_VENUE = "consolidated"
_SKIP = frozenset({"venue", "symbol", "ts_ns"})
_SAMPLE_FIELDS = tuple(f.name for f in fields(MetricSample) if f.name not in _SKIP)
_CONSOLIDATED_FIELDS = tuple(f.name for f in fields(ConsolidatedMetrics))


def reason(sv: StreamView) -> str:
    """Why the stream is not LIVE (its status detail); empty while it is LIVE."""
    return "" if sv.status is StreamStatus.LIVE else sv.detail


def stream_object(sv: StreamView, sample: MetricSample | None) -> dict[str, Any]:
    """One stream's object; a stream without a sample (no book yet) has null metrics and empty bands."""
    s = sample if sample is not None else MetricSample(sv.venue, sv.symbol, 0, None, None, None, None)
    d: dict[str, Any] = {"venue": sv.venue, "symbol": sv.symbol, "status": sv.status, "reason": reason(sv)}
    for name in _SAMPLE_FIELDS:
        d[name] = getattr(s, name)
    d["counters"] = sv.counters
    return d


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
        out.append(stream_object(sv, sample))
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


def run_replay_json(settings: Settings, path: str) -> int:
    """``lcm-tui replay FILE --json``: the final books' metrics as one JSON array.

    Each stream's status is the one as of its last frame (a capture normally ends with the recording
    process closing its connections, which says nothing about the books); metrics are of the final
    books; the consolidated entries have no market signal (the sample clock never ran).
    """
    from lcm_tui.runtime.engine import EngineError, open_replay

    try:
        engine = open_replay(settings, path, sample_clock=False)  # the final books; no detector runs
    except EngineError as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    session = engine.replay
    assert session is not None
    for venue, why in engine.unavailable().items():
        print(f"lcm-tui: {venue}: not replayed ({why})", file=sys.stderr)
    try:
        session.run()
    except OSError as e:
        print(f"lcm-tui: cannot read capture: {e}", file=sys.stderr)
        return 2
    session.finish()
    objs = market_objects(engine.view, latest=False)
    # Last: what the replay could not attribute to any stream ("venue": "replay"; filter on venue as
    # for "consolidated").
    objs.append(session.replayer.summary())
    write(None, encode_array(objs))
    return 0
