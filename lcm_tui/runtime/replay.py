"""Replay a ``--capture`` file through fresh adapters, deterministically.

The capture holds every frame the adapters saw, with the receive time the runner passed in, plus
the connection lifecycle (open/switch/close). Feeding the same frames with the same times through
the same sans-I/O adapters, and mirroring the runner's lifecycle (``transplant`` on a rollover),
rebuilds the same books string for string. No config entry is needed: venues and symbols come from
the file, and ``settings.venue(name)`` supplies defaults for venues the config does not mention.

``open_replay`` is the generator API that ``runtime.engine`` feeds (``lcm-tui replay FILE --json`` is
``frontends.jsonout.run_replay_json``; the TUI paces the records by ``Record.t_ns``). A snapshot
reply belongs to its record's symbol (the record is marked ``snapshot`` by lcm-tui and by the
importers; an unmarked one is recognised by the adapter), so captures written by other tools, with
other request ids and other reply orders, replay too. The cost is linear in records plus symbols:
nothing per frame walks every symbol.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from lcm_tui.config import Settings
from lcm_tui.core.model import StreamStatus, SymbolState
from lcm_tui.runtime.capture import open_text
from lcm_tui.runtime.runner import transplant
from lcm_tui.venues.base import Adapter, EventSink
from lcm_tui.venues.registry import adapter_class

log = logging.getLogger("lcm_tui.runtime.replay")


@dataclass(slots=True, frozen=True)
class Record:
    """One capture line: a frame (``frame`` is text) or a lifecycle event (``frame`` is None)."""

    t_ns: int
    venue: str
    symbol: str
    frame: str | None
    conn: int = 0
    event: str = ""
    mode: str = ""
    snapshot: bool = False  # an out-of-band snapshot reply fetched for ``symbol``


class CaptureError(ValueError):
    """The file is not a capture lcm-tui can read; the message is one line for the user."""


def _lines(fh: Iterator[str], path: str, warn: bool) -> Iterator[tuple[int, str]]:
    """Numbered lines. A file cut short (the process was killed mid-write) ends early with a warning,
    keeping what was read; a file that is unreadable from its first line is not a capture at all.
    """
    n = 0
    try:
        for n, line in enumerate(fh, 1):
            yield n, line
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as e:
        if n == 0:
            what = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else "not a readable gzip file"
            raise CaptureError(f"{path}: not a capture ({what})") from None
        if warn:
            log.warning("%s: capture ends early after line %d (%s)", path, n, e)


def iter_capture(path: str, bad: list[int] | None = None) -> Iterator[Record]:
    """The records of a capture in file order; unreadable lines are skipped (line numbers go to ``bad``).

    The scanning pass (the one given ``bad``) is the one that warns, so a problem is said once.
    """
    with open_text(path, "r") as fh:
        for n, line in _lines(fh, path, warn=bad is not None):
            if not line.strip():
                continue
            try:
                o = orjson.loads(line)
                frame = o.get("frame")
                if frame is not None and not isinstance(frame, str):
                    frame = orjson.dumps(frame).decode()  # a hand-written capture with an inline object
                rec = Record(int(o["t_ns"]), str(o["venue"]), str(o.get("symbol") or ""), frame,
                             int(o.get("conn") or 0), str(o.get("event") or ""), str(o.get("mode") or ""),
                             o.get("snapshot") is True)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                # Said once, by scan_capture's summary: the replay pass reads the same lines again.
                if bad is not None:
                    bad.append(n)
                continue
            yield rec


def scan_capture(path: str) -> dict[str, list[str]]:
    """venue -> symbols in order of first appearance (dicts as ordered sets: one pass, O(records)).

    Raises :class:`CaptureError` for a file that holds no capture record at all (another tool's
    recording: ``lcm-tui import`` converts those), rather than replaying nothing and saying it worked.
    """
    seen: dict[str, dict[str, None]] = {}
    bad: list[int] = []
    records = 0
    for rec in iter_capture(path, bad):
        records += 1
        syms = seen.setdefault(rec.venue, {})
        if rec.symbol:
            syms[rec.symbol] = None
    if not records:
        why = f"none of its {len(bad)} lines is a capture record" if bad else "it is empty"
        raise CaptureError(f"{path}: not a capture ({why}; other tools' recordings: lcm-tui import)")
    if bad:
        log.warning("%s: %d lines are not capture records and were skipped (first: line %d)", path, len(bad),
                    bad[0])
    return {v: list(syms) for v, syms in seen.items()}


class Replayer:
    """Mirror of what the runners did, driven by capture records instead of sockets."""

    def __init__(self, settings: Settings, venues: dict[str, list[str]], sink: EventSink | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.symbols = {v: list(s) for v, s in venues.items() if s}
        self.frames = 0
        self.errors = 0  # adapter exceptions (the live runner reconnected on each)
        self.skipped: dict[str, str] = {}  # venue -> why it cannot be replayed
        self.last_t_ns = 0
        self._classes: dict[str, type[Adapter]] = {}
        self._primary: dict[str, Adapter] = {}
        self._by_conn: dict[tuple[str, int], Adapter] = {}
        self.states: dict[tuple[str, str], SymbolState] = {}
        # Status right after the venue's last frame: a capture normally ends with the process
        # closing its connections, which says nothing about whether the books were good. Statuses
        # change only through the venue's own records, so they are copied when a lifecycle record
        # follows frames (and at the end), never per frame: that per-frame copy of every symbol's
        # status made a replay quadratic in the number of symbols.
        self.frame_status: dict[tuple[str, str], StreamStatus] = {}
        self._dirty: set[str] = set()  # venues with frames since their statuses were copied
        # Frames no symbol could be given (malformed, or for a channel/symbol nobody subscribed).
        self.unattributed: dict[str, int] = {}
        self.snapshots = 0  # out-of-band snapshot replies handed to on_snapshot
        for venue, syms in self.symbols.items():
            try:
                self._classes[venue] = adapter_class(venue)
            except (KeyError, ImportError, AttributeError) as e:
                self.skipped[venue] = str(e)
                continue
            a = self._new(venue)
            self._primary[venue] = a
            for s in syms:
                self.states[(venue, s)] = a.states[s]

    def _new(self, venue: str) -> Adapter:
        return self._classes[venue](self.settings.venue(venue), self.symbols[venue], self.sink)

    def _stable(self, venue: str) -> dict[str, SymbolState]:
        return {s: self.states[(venue, s)] for s in self.symbols[venue]}

    def _fresh(self, venue: str, conn: int, t_ns: int) -> Adapter:
        a = self._new(venue)
        transplant(self._stable(venue), a, synced=False)
        self._primary[venue] = a
        self._by_conn[(venue, conn)] = a
        a.on_open(t_ns)
        return a

    def feed(self, rec: Record) -> None:
        venue = rec.venue
        if venue not in self._classes:
            return
        self.last_t_ns = rec.t_ns
        key = (venue, rec.conn)
        try:
            if rec.frame is None:
                self._event(rec)
                return
            a = self._by_conn.get(key)
            if a is None:  # a capture without lifecycle lines: one connection per venue
                a = self._fresh(venue, rec.conn, rec.t_ns)
            self.frames += 1
            self._dirty.add(venue)
            before = a.unattributed_malformed
            if rec.symbol and (rec.snapshot or a.is_snapshot_reply(rec.frame)):
                # The record says whose snapshot this is; the reply itself may not (REST) or may
                # carry another tool's request id (WebSocket API).
                self.snapshots += 1
                a.on_snapshot(rec.symbol, rec.frame, rec.t_ns)
            else:
                a.on_frame(rec.frame, rec.t_ns)
            if a.unattributed_malformed != before:
                self.unattributed[venue] = self.unattributed.get(venue, 0) + a.unattributed_malformed - before
        except Exception:
            self.errors += 1
            log.exception("replay: %s adapter failed on a record", venue)

    def _copy_status(self, venue: str) -> None:
        if venue in self._dirty:
            self._dirty.discard(venue)
            for sym in self.symbols[venue]:
                self.frame_status[(venue, sym)] = self.states[(venue, sym)].status

    def final_status(self) -> dict[tuple[str, str], StreamStatus]:
        """Each stream's status as of its venue's last frame (see ``frame_status``)."""
        for venue in list(self._dirty):
            self._copy_status(venue)
        return self.frame_status

    def summary(self) -> dict[str, Any]:
        """What the replay could not use, for ``replay --json``."""
        return {"venue": "replay", "symbol": "", "frames": self.frames, "snapshots": self.snapshots,
                "unattributed": dict(sorted(self.unattributed.items())),
                "unattributed_total": sum(self.unattributed.values()), "errors": self.errors,
                "skipped_venues": dict(sorted(self.skipped.items()))}

    def _event(self, rec: Record) -> None:
        venue, key = rec.venue, (rec.venue, rec.conn)
        self._copy_status(venue)
        if rec.event == "open":
            if rec.mode == "rollover":
                a = self._new(venue)
                self._by_conn[key] = a
                a.on_open(rec.t_ns)
            elif rec.mode == "reuse":
                a = self._primary[venue]
                self._by_conn[key] = a
                a.on_open(rec.t_ns)
            else:
                self._fresh(venue, rec.conn, rec.t_ns)
        elif rec.event == "switch":
            nxt = self._by_conn.get(key)
            if nxt is not None:
                transplant(self._stable(venue), nxt, synced=True)
                self._primary[venue] = nxt
        elif rec.event == "close":
            gone = self._by_conn.pop(key) if key in self._by_conn else None
            if gone is not None and gone is self._primary[venue]:
                gone.on_close(rec.t_ns, "closed")

    def state_list(self) -> list[SymbolState]:
        return list(self.states.values())


def open_replay(settings: Settings, path: str, sink: EventSink | None = None) -> tuple[Replayer, Iterator[Record]]:
    """A replayer whose states exist up front, and the records to feed it (pace them by ``t_ns``)."""
    return Replayer(settings, scan_capture(path), sink), iter_capture(path)


def replay_file(settings: Settings, path: str) -> Replayer:
    replayer, records = open_replay(settings, path)
    for rec in records:
        replayer.feed(rec)
    return replayer
