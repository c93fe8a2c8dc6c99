"""What every importer shares: venue recognition, symbol attribution, progress, the capture writer.

An imported capture is an ordinary ``--capture`` file: frame records exactly as the venue sent them,
each with the symbol it belongs to (``scan_capture`` builds the adapters' symbol lists from them),
out-of-band snapshot bodies marked ``snapshot`` with the symbol they were fetched for, and one
``open`` lifecycle record per recorded connection. Frames of channels lcm-tui does not use (trades,
tickers, klines, ...) are left out and counted per channel, so the capture holds only what the
adapters read and the report says what was dropped.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from lcm_tui.runtime.capture import Capture


class ImportFailed(ValueError):
    """A file that cannot be imported at all (one-line message for the user)."""


@dataclass(slots=True)
class Item:
    """One thing an importer read, before it becomes a capture record."""

    t_ns: int
    venue: str
    symbol: str = ""
    frame: str | None = None  # None: a lifecycle record
    conn: int = 0
    event: str = ""
    snapshot: bool = False


@dataclass(slots=True)
class Stats:
    """What an import read, wrote and left out (printed at the end, returned to tests)."""

    lines: int = 0
    frames: int = 0
    snapshots: int = 0
    connections: int = 0
    sent: int = 0  # frames the recorder sent (subscriptions): not part of a capture
    skipped: Counter[str] = field(default_factory=Counter)  # why -> count
    venues: dict[str, set[str]] = field(default_factory=dict)

    def skip(self, why: str, n: int = 1) -> None:
        self.skipped[why] += n

    def report(self) -> str:
        parts = [f"{self.frames} frames ({self.snapshots} snapshots) on {self.connections} connection(s)"]
        for v, syms in sorted(self.venues.items()):
            parts.append(f"{v}: {len(syms)} symbol(s) {', '.join(sorted(syms)[:8])}{' ...' if len(syms) > 8 else ''}")
        if self.skipped:
            parts.append("skipped: " + ", ".join(f"{why} {n}" for why, n in sorted(self.skipped.items())))
        return "; ".join(parts)


# ------------------------------------------------------------------------------ venues from URLs


def venue_of_ws(url: str) -> tuple[str, str]:
    """(lcm-tui venue, "") for a WebSocket URL lcm-tui speaks, else ("", why not)."""
    u = urlsplit(url)
    host, path = (u.hostname or "").lower(), u.path
    if "binance" in host:
        if host.startswith(("fstream", "dstream")) or "fapi" in host:
            return ("binance-usdm", "") if host.startswith("fstream") or "fapi" in host else ("", "Binance COIN-M")
        return "binance", ""
    if "okx" in host or "okex" in host:
        return "okx", ""
    if "bybit" in host:
        if "/v5/public/spot" in path:
            return "bybit-spot", ""
        if "/v5/public/linear" in path:
            return "bybit-linear", ""
        return "", f"Bybit {path or '/'} (lcm-tui speaks v5 /v5/public/spot|linear)"
    if "kraken" in host:
        return ("kraken", "") if path.rstrip("/").endswith("/v2") else ("", "Kraken WebSocket v1 (lcm-tui speaks v2)")
    if "coinbase" in host:
        if "advanced-trade" in host:
            return "coinbase", ""
        return "", "Coinbase Pro feed (lcm-tui speaks Advanced Trade)"
    return "", f"unknown venue {host}"


def venue_of_rest(url: str) -> tuple[str, str, str]:
    """(venue, symbol, "") for a depth snapshot URL lcm-tui uses, else ("", "", why not)."""
    u = urlsplit(url)
    host, path = (u.hostname or "").lower(), u.path
    q = parse_qs(u.query)
    if "binance" in host and path.endswith("/depth"):
        sym = (q.get("symbol") or [""])[0].upper()
        venue = "binance-usdm" if path.startswith("/fapi/") else "binance" if path.startswith("/api/") else ""
        if venue and sym:
            return venue, sym, ""
    if ("okx" in host or "okex" in host) and path.endswith("/market/books"):
        sym = (q.get("instId") or [""])[0]
        if sym:
            return "okx", sym, ""
    return "", "", f"REST {host}{path} is not a depth snapshot lcm-tui uses"


# ------------------------------------------------------------------------------ symbols of frames

_DIFF_DEPTH = {"depth", "depth@100ms", "depth@250ms", "depth@500ms", "depth@1000ms"}


def attribute(venue: str, text: str, stats: Stats) -> tuple[bool, str]:
    """(keep, symbol) for one received frame: the symbol a book frame is for ("" for control frames);
    keep is False for a channel lcm-tui does not read (counted in ``stats``)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return True, ""  # the adapter counts it as malformed, as it would live
    if venue in ("binance", "binance-usdm"):
        return _binance(msg, stats)
    if type(msg) is not dict:
        return True, ""
    if venue == "okx":
        arg = msg.get("arg")
        if type(arg) is dict:
            ch = arg.get("channel")
            if ch != "books":
                stats.skip(f"okx {ch}")
                return False, ""
            return True, str(arg.get("instId") or "") if "event" not in msg else ""
        return True, ""
    if venue.startswith("bybit"):
        topic = msg.get("topic")
        if type(topic) is str:
            if not topic.startswith("orderbook."):
                stats.skip(f"{venue} {topic.partition('.')[0]}")
                return False, ""
            return True, topic.rpartition(".")[2]
        return True, ""
    if venue == "kraken":
        ch = msg.get("channel")
        if ch == "book":
            data = msg.get("data")
            d0 = data[0] if type(data) is list and data and type(data[0]) is dict else {}
            return True, str(d0.get("symbol") or "")
        if ch in (None, "heartbeat", "status"):
            return True, ""
        stats.skip(f"kraken {ch}")
        return False, ""
    if venue == "coinbase":
        ch = msg.get("channel")
        if ch == "l2_data":
            evs = msg.get("events")
            e0 = evs[0] if type(evs) is list and evs and type(evs[0]) is dict else {}
            return True, str(e0.get("product_id") or "")
        if ch in (None, "heartbeats", "subscriptions"):
            return True, ""
        stats.skip(f"coinbase {ch}")
        return False, ""
    return True, ""


def _binance(msg: Any, stats: Stats) -> tuple[bool, str]:
    if type(msg) is not dict:
        return True, ""
    stream = msg.get("stream")
    if type(stream) is str:
        name, _, channel = stream.partition("@")
        if channel in _DIFF_DEPTH:
            return True, name.upper()
        stats.skip(f"binance {channel.partition('_')[0] or stream}")
        return False, ""
    e = msg.get("e")
    if e == "depthUpdate":
        return True, str(msg.get("s") or "")
    if type(e) is str and e != "serverShutdown":
        stats.skip(f"binance {e}")
        return False, ""
    return True, ""


# ------------------------------------------------------------------------------ files and progress


class Progress:
    """``FILE  42%`` on stderr, redrawn at most every 1 % and only when stderr is a terminal."""

    def __init__(self, name: str, raw: IO[bytes], size: int, enabled: bool | None = None) -> None:
        self.name = os.path.basename(name)
        self.raw = raw
        self.size = max(size, 1)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._shown = -1

    def update(self) -> None:
        if not self.enabled:
            return
        pct = min(100, self.raw.tell() * 100 // self.size)
        if pct != self._shown:
            self._shown = pct
            bar = "#" * (pct // 4) + "." * (25 - pct // 4)
            sys.stderr.write(f"\r{self.name} [{bar}] {pct:3d}%")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self._shown >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


def read_lines(path: str, progress: bool | None = None) -> Iterator[str]:
    """The text lines of a plain or gzip file (by content, not name), with a progress bar."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below, read lazily
    except OSError as e:
        raise ImportFailed(f"cannot read {path}: {e.strerror or e}") from None
    with raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        size = os.fstat(raw.fileno()).st_size
        bar = Progress(path, raw, size, progress)
        stream: Any = gzip.GzipFile(fileobj=raw) if gz else raw
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
        n = 0
        try:
            for n, line in enumerate(text, 1):
                if n % 512 == 0:
                    bar.update()
                yield line.rstrip("\n")
        except UnicodeDecodeError:
            raise ImportFailed(f"{path}: line {n + 1} is not UTF-8 text") from None
        except (EOFError, gzip.BadGzipFile, OSError) as e:
            raise ImportFailed(f"{path}: unreadable after line {n} ({e})") from None
        finally:
            bar.update()
            bar.done()


def write_capture(items: Iterator[Item], out: str, stats: Stats) -> None:
    """Write imported items as a capture file (gzip when ``out`` ends in .gz)."""
    try:
        cap = Capture(out)
    except OSError as e:
        raise ImportFailed(f"cannot write {out}: {e.strerror or e}") from None
    with cap:
        for it in items:
            if it.frame is None:
                cap.event(it.t_ns, it.venue, it.conn, it.event or "open", "fresh")
                stats.connections += 1
                continue
            cap.frame(it.t_ns, it.venue, it.symbol, it.frame, it.conn, snapshot=it.snapshot)
            stats.frames += 1
            stats.snapshots += it.snapshot
            if it.symbol:
                stats.venues.setdefault(it.venue, set()).add(it.symbol)
