"""The simulator spells numbers the way each venue does, from its own formatter.

Adapters keep the wire strings (checksums and the string-for-string book comparison depend on them),
so the simulator must write what the venues write, not what is convenient. The expectations are
the venues' documented or recorded spellings (exchange-protocols.md; ``../shared/realdata``), read
here from the frames a synced client receives.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues import registry

FIXED8 = r"\d+\.\d{8}"
STRIPPED = r"(0|[1-9]\d*)(\.\d*[1-9])?"  # OKX: "8477", "0.1", never "8477.00" (§3.4)
FIXED = r"\d+\.\d+"

# venue -> (price pattern, size pattern, how a delete is spelled)
SPELLING: dict[str, tuple[str, str, str]] = {
    # Spot writes 8 decimals everywhere, deletes included (recorded traffic: ["0.35340000","0.00000000"]).
    "binance": (FIXED8, FIXED8, "0.00000000"),
    # USD-M writes the symbol's own precision and a delete as "0" (recorded traffic: ["0.2465","0"]).
    "binance-usdm": (FIXED, FIXED, "0"),
    "bybit-spot": (FIXED, FIXED, "0"),  # §2.2: size "0" deletes
    "bybit-linear": (FIXED, FIXED, "0"),
    "okx": (STRIPPED, STRIPPED, "0"),
    # §4.2/§9: fixed precision JSON numbers, qty with 8 decimals ("0.10000000"), a delete is qty 0.
    "kraken": (FIXED, FIXED8, "0.00000000"),
    "coinbase": (FIXED, FIXED, "0"),  # §5.2: new_quantity "0" removes the level
}


def levels(venue: str, frame: str) -> list[tuple[str, str]]:
    """(price, size) strings of one frame, read as the venue's documented message shape."""
    msg: Any = json.loads(frame, parse_float=str, parse_int=str)
    if not isinstance(msg, dict):
        return []
    out: list[tuple[str, str]] = []
    if venue.startswith("binance"):
        body = msg.get("data", msg)
        body = body.get("result", body) if isinstance(body, dict) else {}
        for key in ("b", "a", "bids", "asks"):
            out += [(lv[0], lv[1]) for lv in body.get(key, [])]
    elif venue.startswith("bybit"):
        data = msg.get("data") or {}
        out += [(lv[0], lv[1]) for key in ("b", "a") for lv in data.get(key, [])]
    elif venue == "okx":
        for d in msg.get("data") or []:
            out += [(lv[0], lv[1]) for key in ("bids", "asks") for lv in d.get(key, [])]
    elif venue == "kraken":
        if msg.get("channel") == "book":
            for d in msg["data"]:
                out += [(lv["price"], lv["qty"]) for key in ("bids", "asks") for lv in d[key]]
    elif venue == "coinbase":
        for ev in msg.get("events") or []:
            out += [(u["price_level"], u["new_quantity"]) for u in ev.get("updates", [])]
    return out


@pytest.mark.parametrize("venue", registry.names())
def test_numbers_are_spelled_as_the_venue_does(venue: str) -> None:
    price_re, size_re, delete = SPELLING[venue]
    lb = InMemoryLoopback(venue, list(registry.spec(venue).example_symbols), depth=10 if venue == "kraken" else None)
    lb.step(60)
    seen = [lv for f in lb.delivered for lv in levels(venue, f)]
    deletes = [q for _, q in seen if float(q) == 0]
    assert len(seen) > 200 and deletes, venue
    assert all(q == delete for q in deletes), sorted(set(deletes))
    for p, q in seen:
        assert re.fullmatch(price_re, p), (venue, p)
        assert q == delete or re.fullmatch(size_re, q), (venue, q)
    if price_re != STRIPPED:
        # Fixed precision: trailing zeros are written ("2998.70"), which a stripping writer never does.
        assert any(p.endswith("0") for p, _ in seen), venue


REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


def test_binance_spot_delete_spelling_is_the_recorded_one() -> None:
    """The spelling above is the one in real Binance spot traffic (read, never copied, from ../shared)."""
    path = REALDATA / "BINANCE.ws.1.0.gz"
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI has ../shared/realdata beside the checkout)")
        pytest.skip(f"{path} not present: real recordings live beside the checkout, not in it")
    deletes: set[str] = set()
    with gzip.open(path, "rt") as fh:
        for _, line in zip(range(2000), fh, strict=False):
            _, _, body = line.partition(": ")
            if '"depthUpdate"' not in body:
                continue
            data = json.loads(body)["data"]
            deletes |= {q for _, q in data["b"] + data["a"] if float(q) == 0}
    assert deletes == {SPELLING["binance"][2]}
