"""``lcm-tui import tardis FILE... -o OUT``: tardis.dev raw messages as a capture.

tardis.dev raw files (plain or .gz) hold one ``<ISO-8601 local timestamp> <message JSON>`` a line,
the local timestamp being when tardis received the message. The venue comes from ``--exchange``
(tardis exchange ids: ``binance``, ``binance-futures``, ``bybit``, ``bybit-spot``, ``okex``/``okx``...)
or, failing that, from the file name. Binance depth snapshots are tardis-generated messages whose
stream ends in ``@depthSnapshot`` (``{"stream":"btcusdt@depthSnapshot","generated":true,"data":
{REST body}}``): each becomes a ``snapshot`` record carrying the REST body for that stream's symbol,
which is exactly what lcm-tui's own capture holds for a REST snapshot. A tardis file has no
connection boundaries, so one ``open`` record starts the capture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import orjson

from lcm_tui.runtime.importers.common import ImportFailed, Item, Stats, attribute, read_lines, write_capture

# tardis exchange id -> lcm-tui venue (the ones whose recorded protocol lcm-tui speaks).
EXCHANGES: dict[str, str] = {
    "binance": "binance",
    "binance-us": "binance",
    "binance-futures": "binance-usdm",
    "bybit-spot": "bybit-spot",
    "bybit": "bybit-linear",
    "okex": "okx",
    "okex-swap": "okx",
    "okex-futures": "okx",
    "okx": "okx",
    "okx-swap": "okx",
    "okx-futures": "okx",
}

_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z?$")


def parse_ts(ts: str) -> int:
    """ISO-8601 UTC text to integer ns, exactly (tardis writes up to 7 fractional digits)."""
    import calendar

    m = _TS.match(ts)
    if not m:
        raise ValueError(f"bad timestamp {ts[:40]!r}")
    y, mo, d, h, mi, s, frac = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def venue_for(path: str, exchange: str | None) -> str:
    if exchange:
        if exchange not in EXCHANGES:
            raise ImportFailed(f"--exchange {exchange!r}: not one lcm-tui replays; allowed are "
                               + ", ".join(sorted(EXCHANGES)))
        return EXCHANGES[exchange]
    name = os.path.basename(path).lower().replace("_", "-")
    for ex in sorted(EXCHANGES, key=len, reverse=True):  # binance-futures before binance
        if name.startswith(ex):
            return EXCHANGES[ex]
    raise ImportFailed(f"{path}: cannot tell the exchange from the file name; pass --exchange")


def _items(path: str, venue: str, stats: Stats, progress: bool | None, conn: int) -> Iterator[Item]:
    opened = False
    for n, line in enumerate(read_lines(path, progress), 1):
        if not line.strip():
            continue
        stats.lines += 1
        ts, sep, text = line.partition(" ")
        try:
            t_ns = parse_ts(ts)
        except ValueError as e:
            raise ImportFailed(f"{path}:{n}: not a tardis raw line ({e})") from None
        if not sep:
            raise ImportFailed(f"{path}:{n}: not a tardis raw line (no message after the timestamp)")
        if not opened:
            opened = True
            yield Item(t_ns, venue, conn=conn, event="open")
        snap = _binance_snapshot(text) if venue.startswith("binance") else None
        if snap is not None:
            sym, body = snap
            yield Item(t_ns, venue, sym, body, conn, snapshot=True)
            continue
        keep, sym = attribute(venue, text, stats)
        if keep:
            yield Item(t_ns, venue, sym, text, conn)


def _binance_snapshot(text: str) -> tuple[str, str] | None:
    """(symbol, REST body) of a generated ``@depthSnapshot`` message, else None."""
    if "@depthSnapshot" not in text[:80]:
        return None
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    stream = msg.get("stream") if type(msg) is dict else None
    if type(stream) is not str or not stream.endswith("@depthSnapshot") or type(msg.get("data")) is not dict:
        return None
    return stream.partition("@")[0].upper(), orjson.dumps(msg["data"]).decode()


def import_tardis(files: list[str], out: str, exchange: str | None = None, progress: bool | None = None) -> Stats:
    import heapq

    stats = Stats()
    streams = [_items(f, venue_for(f, exchange), stats, progress, i + 1) for i, f in enumerate(files)]
    write_capture(heapq.merge(*streams, key=lambda it: it.t_ns), out, stats)
    if not stats.frames:
        raise ImportFailed("nothing to import: no frame lcm-tui replays"
                           + (f" ({', '.join(sorted(stats.skipped))})" if stats.skipped else ""))
    return stats
