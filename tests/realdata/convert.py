"""Readers of the recorded files, and faithful converters to the protocols lcm-tui speaks today.

The recordings (``../shared/realdata``, see its README) were made by cryptofeed in 2021-2022. Four
venues have changed protocol since; each converter below copies every price, size and checksum
exactly as sent (the number or string token as it appears on the wire) and synthesises only what
the newer protocol adds. What each one synthesises is listed in its docstring, and nothing else is
made up. Nothing here imports lcm-tui.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

_RECV = re.compile(r"^([0-9]+(?:\.[0-9]*)?): (.*)$", re.S)
_REST = re.compile(r"^(\S+) -> ([0-9.]+): (.*)$", re.S)


def ns(ts: str) -> int:
    return int(Decimal(ts) * 1_000_000_000)


def received(path: Path) -> Iterator[tuple[int, str]]:
    """(t_ns, text) of every frame received in a cryptofeed ``.ws.`` file, in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            m = _RECV.match(line.rstrip("\n"))
            if m:
                yield ns(m.group(1)), m.group(2)


def rest_bodies(path: Path) -> Iterator[tuple[int, str, str]]:
    """(t_ns, url, body) of every REST response in a cryptofeed ``.http.`` file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            m = _REST.match(line.rstrip("\n"))
            if m:
                yield ns(m.group(2)), m.group(1), m.group(3)


def _tokens(text: str) -> Any:
    """JSON with every number kept as its exact token text."""
    return json.loads(text, parse_float=str, parse_int=str)


class _Raw(str):
    """A number token to be written unquoted, exactly as received."""


def _dump(obj: Any) -> str:
    """JSON text in which ``_Raw`` values appear as bare number tokens."""
    if isinstance(obj, _Raw):
        return str(obj)
    if isinstance(obj, str):
        return json.dumps(obj)
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _dump(v) for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_dump(v) for v in obj) + "]"
    raise TypeError(type(obj))


# ------------------------------------------------------------------------------------ OKX


def okx(path: Path) -> Iterator[tuple[int, str, str]]:
    """OKX v5 ``books`` of May 2022 -> ``books`` with the sequence fields of today.

    | field | source |
    |---|---|
    | ``arg``, ``action``, ``asks``, ``bids`` (all 4 fields of every level), ``ts``, ``checksum`` | copied as sent |
    | ``prevSeqId`` | **synthesised**: -1 on a snapshot, else the previous push's ``seqId`` for that instId |
    | ``seqId`` | **synthesised**: 1, 2, 3 ... per instId, one per push |

    Pushes of other channels (tickers, trades) and subscribe acks pass unchanged.
    Yields (t_ns, instId or "", frame).
    """
    seq: dict[str, int] = {}
    for t, text in received(path):
        msg = json.loads(text)
        arg = msg.get("arg") if isinstance(msg, dict) else None
        if not (isinstance(arg, dict) and arg.get("channel") == "books" and "action" in msg):
            yield t, "", text
            continue
        sym = arg["instId"]
        for d in msg["data"]:
            prev = -1 if msg["action"] == "snapshot" else seq[sym]
            seq[sym] = seq.get(sym, 0) + 1
            d["prevSeqId"] = prev
            d["seqId"] = seq[sym]
        yield t, sym, json.dumps(msg, separators=(",", ":"))


# ------------------------------------------------------------------------------------ Kraken


def kraken(path: Path) -> Iterator[tuple[int, str, str]]:
    """Kraken WebSocket v1 ``book-1000`` of April 2021 -> v2 ``book`` messages.

    | v2 field | source |
    |---|---|
    | ``channel: "book"``, ``type`` | from the v1 shape: ``as``/``bs`` -> ``snapshot``, ``a``/``b`` -> ``update`` |
    | ``symbol`` | the v1 pair, copied as sent (``XBT/CHF`` stays ``XBT/CHF``) |
    | ``bids``/``asks`` ``price``, ``qty`` | copied digit for digit (v1 quoted them; written as JSON numbers) |
    | update ``checksum`` | the v1 ``c``, copied (as an integer; v1 quoted it) |
    | snapshot ``checksum`` | **synthesised**: v1 snapshots carry none; computed from the snapshot's own top 10 (§4.4) |
    | update ``timestamp`` | **synthesised**: the latest v1 level timestamp of the message, as RFC 3339 |

    v1's per-level timestamps and republish flag are dropped (v2 has neither). An update that
    carries both an ``a`` and a ``b`` object becomes one v2 update with both sides, as v2 sends it.
    Heartbeats, ``systemStatus`` and ``subscriptionStatus`` are not book frames and are left out.
    Yields (t_ns, pair, frame).
    """
    import datetime as dt
    import zlib

    for t, text in received(path):
        msg = json.loads(text)
        if not isinstance(msg, list):
            continue
        pair = msg[-1]
        parts = [p for p in msg[1:-2] if isinstance(p, dict)]
        snap = any("as" in p or "bs" in p for p in parts)
        side: dict[str, list[list[str]]] = {"asks": [], "bids": []}
        checksum = None
        stamps: list[str] = []
        for p in parts:
            for k, v in p.items():
                if k in ("as", "a"):
                    side["asks"] += v
                elif k in ("bs", "b"):
                    side["bids"] += v
                elif k == "c":
                    checksum = int(v)
            for lv in p.get("a", []) + p.get("b", []):
                stamps.append(lv[2])
        if snap:
            asks = sorted(side["asks"], key=lambda lv: Decimal(lv[0]))[:10]
            bids = sorted(side["bids"], key=lambda lv: -Decimal(lv[0]))[:10]

            def f(s: str) -> str:
                return s.replace(".", "").lstrip("0")

            checksum = zlib.crc32(("".join(f(p) + f(q) for p, q, *_ in asks)
                                   + "".join(f(p) + f(q) for p, q, *_ in bids)).encode())
        out: dict[str, Any] = {"symbol": pair,
                               "bids": [{"price": _Raw(lv[0]), "qty": _Raw(lv[1])} for lv in side["bids"]],
                               "asks": [{"price": _Raw(lv[0]), "qty": _Raw(lv[1])} for lv in side["asks"]],
                               "checksum": checksum}
        if not snap:
            latest = max(stamps, key=Decimal)
            out["timestamp"] = dt.datetime.fromtimestamp(float(latest), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        frame = {"channel": "book", "type": "snapshot" if snap else "update", "data": [out]}
        yield t, pair, _dump(frame)


# ------------------------------------------------------------------------------------ Coinbase


def coinbase(path: Path) -> Iterator[tuple[int, str, str]]:
    """Coinbase Pro ``level2`` of April 2021 -> Advanced Trade ``l2_data``.

    | Advanced Trade field | source |
    |---|---|
    | ``channel: "l2_data"``, ``client_id: ""`` | the new envelope (constant) |
    | ``sequence_num`` | **synthesised**: 0, 1, 2 ... over the converted messages (one connection) |
    | ``timestamp``, ``event_time`` | the Pro ``time`` of an update, copied |
    | snapshot ``timestamp``, ``event_time`` | **synthesised** (Pro sent none): ``1970-01-01T00:00:00Z``, as AT does |
    | ``events[].type`` | ``snapshot`` / ``update`` from the Pro ``type`` (``l2update`` -> ``update``) |
    | ``product_id``, ``price_level``, ``new_quantity`` | copied as sent |
    | ``side`` | renamed: Pro ``buy``/``sell`` (update) and ``bids``/``asks`` (snapshot) -> ``bid``/``offer`` |

    ``ticker``, ``match``, ``last_match`` and ``subscriptions`` are other channels lcm-tui does not
    subscribe to and are left out. Yields (t_ns, product, frame).
    """
    n = 0
    for t, text in received(path):
        msg = json.loads(text)
        kind = msg.get("type")
        if kind == "snapshot":
            ts = "1970-01-01T00:00:00Z"
            ups = [{"side": "bid", "event_time": ts, "price_level": p, "new_quantity": q} for p, q in msg["bids"]]
            ups += [{"side": "offer", "event_time": ts, "price_level": p, "new_quantity": q} for p, q in msg["asks"]]
            ev = {"type": "snapshot", "product_id": msg["product_id"], "updates": ups}
        elif kind == "l2update":
            ts = msg["time"]
            ups = [{"side": "bid" if s == "buy" else "offer", "event_time": ts, "price_level": p, "new_quantity": q}
                   for s, p, q in msg["changes"]]
            ev = {"type": "update", "product_id": msg["product_id"], "updates": ups}
        else:
            continue
        out = {"channel": "l2_data", "client_id": "", "timestamp": ts, "sequence_num": n, "events": [ev]}
        n += 1
        yield t, msg["product_id"], json.dumps(out, separators=(",", ":"))


# ------------------------------------------------------------------------------------ Bybit


def bybit(path: Path) -> Iterator[tuple[int, str, str]]:
    """Bybit v2 ``orderBookL2_25`` of April 2021 -> v5 ``orderbook.50.{symbol}``.

    | v5 field | source |
    |---|---|
    | ``topic`` | ``orderbook.50.<symbol>``: v5 has no 25-level book; 50 is the nearest depth it offers |
    | ``type`` | ``snapshot`` / ``delta`` copied |
    | ``data.s`` | the v2 ``symbol``, copied |
    | ``data.b`` / ``data.a`` ``[price, size]`` | v2 ``price`` and ``size`` copied as sent (the size number |
    | | token digit for digit; v5 quotes it); ``side`` Buy -> ``b``, Sell -> ``a`` |
    | delete entries | v2 ``delete`` rows become size ``"0"``, as v5 deletes (price copied) |
    | ``data.u`` | **synthesised**: 1000, 1001 ... per symbol, one per message (v2 had no per-book update id) |
    | ``data.seq`` | the v2 ``cross_seq``, copied |
    | ``ts`` | the v2 ``timestamp_e6`` in ms (integer division); **synthesised** (receive time) when absent |

    v2 level ``id``s are dropped (v5 has none). Subscription acks and trade pushes are left out.
    Yields (t_ns, symbol, frame).
    """
    u: dict[str, int] = {}
    for t, text in received(path):
        msg = _tokens(text)
        topic = msg.get("topic") if isinstance(msg, dict) else None
        if not (isinstance(topic, str) and topic.startswith("orderBookL2_25.")):
            continue
        sym = topic.partition(".")[2]
        data = msg["data"]
        if msg["type"] == "snapshot":
            rows = data["order_book"] if isinstance(data, dict) else data
            b = [[r["price"], r["size"]] for r in rows if r["side"] == "Buy"]
            a = [[r["price"], r["size"]] for r in rows if r["side"] == "Sell"]
        else:
            b, a = [], []
            for r in data.get("delete", []):
                (b if r["side"] == "Buy" else a).append([r["price"], "0"])
            for r in data.get("update", []) + data.get("insert", []):
                (b if r["side"] == "Buy" else a).append([r["price"], r["size"]])
        u[sym] = u.get(sym, 999) + 1
        e6 = msg.get("timestamp_e6")
        ts = int(e6) // 1000 if e6 is not None else t // 1_000_000
        out = {"topic": f"orderbook.50.{sym}", "type": msg["type"], "ts": ts,
               "data": {"s": sym, "b": b, "a": a, "u": u[sym], "seq": int(msg.get("cross_seq") or 0)}}
        yield t, sym, json.dumps(out, separators=(",", ":"))
