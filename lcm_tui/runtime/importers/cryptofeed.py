"""``lcm-tui import cryptofeed FILE... -o OUT``: cryptofeed's raw recorder files as a capture.

cryptofeed (``raw_data_collection``) writes one item a line, timestamps in epoch seconds:

* ``URL <-> TS`` a connection was opened to URL;
* ``URL <- TS: TEXT`` a frame the recorder sent (subscriptions; not part of a capture);
* ``TS: TEXT`` a text frame received on the connection opened last, exactly as received;
* ``URL -> TS: BODY`` a REST response body (its own ``*.http.*`` file).

A WebSocket file and its REST file are merged by time, so a Binance snapshot lands between the
deltas it was fetched among, and each REST body becomes a ``snapshot`` record for the symbol its URL
names (the body itself names none). Timestamps are converted exactly (decimal text to integer ns).
Connections to protocols lcm-tui does not speak (Kraken v1, Coinbase Pro, Bybit v2) are refused by
name and their frames counted as skipped.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from lcm_tui.runtime.importers.common import (
    ImportFailed,
    Item,
    Stats,
    attribute,
    read_lines,
    venue_of_rest,
    venue_of_ws,
    write_capture,
)

_OPEN = re.compile(r"^(\S+) <-> ([0-9.]+)\s*$")
_SENT = re.compile(r"^(\S+) <- ([0-9.]+): ")
_REST = re.compile(r"^(\S+) -> ([0-9.]+): ")
_RECV = re.compile(r"^([0-9]+(?:\.[0-9]*)?): ")


def _ns(ts: str) -> int:
    try:
        return int(Decimal(ts) * 1_000_000_000)
    except InvalidOperation:
        raise ValueError(f"bad timestamp {ts[:30]!r}") from None


class _Conns:
    """Connection ids unique across all files of one import."""

    def __init__(self) -> None:
        self.next = 0

    def new(self) -> int:
        self.next += 1
        return self.next


def _items(path: str, conns: _Conns, stats: Stats, progress: bool | None) -> Iterator[Item]:
    venue, conn, why = "", 0, "no connection opened yet"
    good = 0
    for n, line in enumerate(read_lines(path, progress), 1):
        if not line.strip():
            continue
        stats.lines += 1
        try:
            m = _RECV.match(line)
            if m:
                if not venue:
                    stats.skip(why)
                    continue
                text = line[m.end():]
                keep, sym = attribute(venue, text, stats)
                if keep:
                    good += 1
                    yield Item(_ns(m.group(1)), venue, sym, text, conn)
                continue
            m = _OPEN.match(line)
            if m:
                venue, why = venue_of_ws(m.group(1))
                if venue:
                    conn = conns.new()
                    yield Item(_ns(m.group(2)), venue, conn=conn, event="open")
                continue
            if _SENT.match(line):
                stats.sent += 1
                continue
            m = _REST.match(line)
            if m:
                rv, sym, rwhy = venue_of_rest(m.group(1))
                if not rv:
                    stats.skip(rwhy)
                    continue
                good += 1
                # conn is filled in after merging: the venue's connection open at that time.
                yield Item(_ns(m.group(2)), rv, sym, line[m.end():], 0, snapshot=True)
                continue
        except ValueError as e:
            raise ImportFailed(f"{path}:{n}: {e}") from None
        raise ImportFailed(f"{path}:{n}: not a cryptofeed raw recorder line: {line[:60]!r}")
    if not good and stats.lines:
        stats.skip(f"{path}: nothing lcm-tui replays", 0)


def _attach_rest(items: Iterator[Item]) -> Iterator[Item]:
    """A REST body goes to its venue's connection open at the time (the adapter that asked for it)."""
    current: dict[str, int] = {}
    for it in items:
        if it.frame is None:
            current[it.venue] = it.conn
        elif it.snapshot and not it.conn:
            it.conn = current.get(it.venue, 0)
        yield it


def import_cryptofeed(files: list[str], out: str, progress: bool | None = None) -> Stats:
    stats = Stats()
    conns = _Conns()
    # Each file is in time order; heapq.merge keeps memory flat however long the files are.
    streams = [_items(f, conns, stats, progress) for f in files]
    merged = heapq.merge(*streams, key=lambda it: it.t_ns)
    write_capture(_attach_rest(merged), out, stats)
    if not stats.frames:
        raise ImportFailed("nothing to import: no frame of a venue and protocol lcm-tui replays"
                           + (f" ({', '.join(sorted(stats.skipped))})" if stats.skipped else ""))
    return stats
