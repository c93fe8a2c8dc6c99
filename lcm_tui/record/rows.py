"""Model objects -> plain records, and records -> per-table rows.

A record is ``(kind, enqueued_at, payload)`` built only from str/int/float/None/lists, so the same
value sits in the memory queue, goes through the spill file as one JSON line and comes back equal
(orjson writes floats in shortest round-trip form). It is built at enqueue time because alerts are
mutated in place by the detector: the row must hold the values of the moment it was reported.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from lcm_tui.core.model import Alert, FeedEvent, MetricSample, Severity

SAMPLE = "s"
ALERT = "a"
EVENT = "e"
BOOK = "b"
# Close the alerts a dead run left open: written once by the next run, behind the dead run's own
# journal lines, so the dead run's real closes (if any reached the journal) are applied first.
RECOVER = "r"

Record = Sequence[Any]  # (kind, enqueued_at_wall_s, payload)

_SEVERITY_RANK = {str(s): i for i, s in enumerate(Severity)}
# uuid5 namespace for a watcher whose id is not a UUID (a collector on the bus: ``host-venues-pid``).
_WATCHER_NS = uuid.UUID("9b0f4c1e-6a2d-5e8b-8c7f-2f1d3b4a5c6e")


def _num(x: float | None) -> float | None:
    """NaN/inf have no JSON spelling and no meaning as a recorded metric: store them as NULL."""
    return x if x is None or math.isfinite(x) else None


def sample_payload(s: MetricSample, status: str) -> tuple[Any, ...]:
    bands = list(s.depth_bid)
    bands += [b for b in s.depth_ask if b not in s.depth_bid]
    depth = [
        (b, _num(s.depth_bid.get(b)), _num(s.depth_ask.get(b)), _num(s.imbalance.get(b))) for b in bands
    ]
    slips = [
        (x.side, x.notional, _num(x.vwap), _num(x.slippage_bps), x.levels, _num(x.filled_quote)) for x in s.slippage
    ]
    return (s.venue, s.symbol, s.ts_ns, status, s.best_bid, s.best_ask, _num(s.mid), _num(s.spread_bps),
            depth, slips)


def alert_payload(a: Alert, run_id: str | None = None, close_reason: str | None = None) -> tuple[Any, ...]:
    """``run_id`` ties the alert to the process watching it, so a later run can close it if that process dies."""
    return (a.venue, a.symbol, a.signal, a.opened_ns, a.closed_ns, str(a.severity), _num(a.peak_z), run_id,
            close_reason)


def recover_payload(dead_run_id: str, closed_ns: int, reason: str) -> tuple[Any, ...]:
    return (dead_run_id, closed_ns, reason)


@functools.lru_cache(maxsize=256)
def watcher_uuid(run_id: str) -> str:
    """The ``alert.run_id`` value (a uuid column) for the id of whatever watched the alert.

    A recorder's own run id is a UUID and stays as it is; a collector's id is any text, so it becomes
    a stable uuid5 of it: without this the server would refuse every alert that came over the bus.
    """
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_WATCHER_NS, run_id))


def _alert_row(p: Sequence[Any]) -> tuple[Any, ...]:
    """Journal lines written before alerts carried a run id have 7 fields."""
    row = tuple(p)
    if len(row) != 9:
        return (*row[:7], None, None)
    if row[7] is not None:
        row = (*row[:7], watcher_uuid(str(row[7])), row[8])
    return row


def event_payload(ev: FeedEvent, now_ns: int, event_id: str | None = None) -> tuple[Any, ...]:
    """Adapters may leave ``ts_ns`` at 0; the receive time is then the best we know. NULs are not valid text.

    ``event_id``: the id the event already has (one made by a collector, so a redelivered event is one row).
    """
    return (event_id or str(uuid.uuid4()), ev.ts_ns or now_ns, ev.venue, ev.symbol, str(ev.kind),
            ev.detail.replace("\x00", ""))


def book_payload(venue: str, symbol: str, ts_ns: int, bids: list[tuple[str, str]],
                 asks: list[tuple[str, str]]) -> tuple[Any, ...]:
    return (venue, symbol, ts_ns, [p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks],
            [q for _, q in asks])


def _merge_alert(old: Sequence[Any], new: Sequence[Any]) -> tuple[Any, ...]:
    """Same rule as the SQL upsert, so one batch may carry the open, escalations and the close of an alert."""
    closed, reason = (old[4], old[8]) if old[4] is not None else (new[4], new[8])
    sev = old[5] if _SEVERITY_RANK.get(old[5], -1) >= _SEVERITY_RANK.get(new[5], -1) else new[5]
    peak = old[6] if new[6] is None or (old[6] is not None and abs(old[6]) >= abs(new[6])) else new[6]
    run = old[7] if old[7] is not None else new[7]
    return (*old[:4], closed, sev, peak, run, reason)


class Tables:
    """One batch of records split into the rows of each staging table."""

    __slots__ = ("alerts", "books", "depth", "events", "last_sample_ns", "recoveries", "samples", "slippage")

    def __init__(self, records: Iterable[Record]) -> None:
        self.samples: list[tuple[Any, ...]] = []
        self.depth: list[tuple[Any, ...]] = []
        self.slippage: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.books: list[tuple[Any, ...]] = []
        self.recoveries: list[tuple[Any, ...]] = []
        self.last_sample_ns: int | None = None  # the newest sample of the batch: what a crash report names
        alerts: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for kind, _, p in records:
            if kind == SAMPLE:
                v, sym, ts = p[0], p[1], p[2]
                self.samples.append(tuple(p[:8]))
                if self.last_sample_ns is None or ts > self.last_sample_ns:
                    self.last_sample_ns = ts
                self.depth.extend((v, sym, ts, *d) for d in p[8])
                self.slippage.extend((v, sym, ts, *x) for x in p[9])
            elif kind == ALERT:
                row = _alert_row(p)
                key = row[:4]
                prev = alerts.get(key)
                alerts[key] = row if prev is None else _merge_alert(prev, row)
            elif kind == EVENT:
                self.events.append(tuple(p))
            elif kind == BOOK:
                self.books.append(tuple(p))
            elif kind == RECOVER:
                self.recoveries.append(tuple(p))
            else:
                raise ValueError(f"unknown record kind {kind!r}")
        self.alerts = list(alerts.values())
