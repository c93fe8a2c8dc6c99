"""Checksum functions against the exchanges' own worked examples (exchange-protocols.md §3.4, §4.4)."""

from __future__ import annotations

import json
from decimal import Decimal

from lcm_tui.venues.checksums import (
    kraken_checksum,
    kraken_string,
    okx_checksum,
    okx_matches,
    okx_string,
    plain_decimal,
    to_signed32,
)

KRAKEN_ASKS = [
    ("45285.2", "0.00100000"), ("45286.4", "1.54571953"), ("45286.6", "1.54571109"), ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"), ("45291.8", "1.54553491"), ("45294.7", "0.04454749"), ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"), ("45299.5", "0.18772827"),
]
KRAKEN_BIDS = [
    ("45283.5", "0.10000000"), ("45283.4", "1.54582015"), ("45282.1", "0.10000000"), ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"), ("45279.0", "0.07990000"), ("45277.6", "0.03310103"), ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"), ("45276.6", "0.15445238"),
]


def test_kraken_worked_example() -> None:
    s = kraken_string(KRAKEN_ASKS, KRAKEN_BIDS)
    assert s.startswith("452852100000" + "45286415457195")
    assert s.endswith("45276615445238")
    assert kraken_checksum(KRAKEN_ASKS, KRAKEN_BIDS) == 3310070434


def test_kraken_only_top_ten_count() -> None:
    deeper_asks = [*KRAKEN_ASKS, ("45300.0", "9.00000000")]
    deeper_bids = [*KRAKEN_BIDS, ("45270.0", "9.00000000")]
    assert kraken_checksum(deeper_asks, deeper_bids) == 3310070434


def test_kraken_float_pitfall() -> None:
    """Round-tripping through float drops trailing zeros and breaks the CRC."""
    asks = [(str(float(p)), str(float(q))) for p, q in KRAKEN_ASKS]
    bids = [(str(float(p)), str(float(q))) for p, q in KRAKEN_BIDS]
    assert kraken_checksum(asks, bids) == 1604409348


def test_kraken_exact_digits_from_json_numbers() -> None:
    """Parsing the JSON numbers with parse_float=str keeps every digit, so the CRC matches."""
    levels = lambda lv: ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in lv)  # noqa: E731
    text = f'{{"asks":[{levels(KRAKEN_ASKS)}],"bids":[{levels(KRAKEN_BIDS)}]}}'
    msg = json.loads(text, parse_float=str)
    asks = [(x["price"], x["qty"]) for x in msg["asks"]]
    bids = [(x["price"], x["qty"]) for x in msg["bids"]]
    assert asks == KRAKEN_ASKS
    assert kraken_checksum(asks, bids) == 3310070434


def test_plain_decimal_renders_exponents() -> None:
    assert plain_decimal("1E-7") == "0.0000001"
    assert plain_decimal(str(Decimal("0.0000001"))) == "0.0000001"
    assert plain_decimal("0.10000000") == "0.10000000"
    assert kraken_checksum([("1E-7", "1")], []) == kraken_checksum([("0.0000001", "1")], [])


def test_okx_even_example() -> None:
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    assert okx_string(bids, asks) == "3366.1:7:3366.8:9:3366:6:3368:8"
    assert okx_checksum(bids, asks) == -1881014294


def test_okx_odd_example() -> None:
    bids = [("3366.1", "7")]
    asks = [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
    assert okx_string(bids, asks) == "3366.1:7:3366.8:9:3368:8:3372:8"
    assert okx_checksum(bids, asks) == 831078360


def test_okx_exact_strings_matter_and_unsigned_compare() -> None:
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8")]
    rerendered = [(str(float(p)), q) for p, q in bids]
    assert okx_checksum(rerendered, asks) != -1881014294
    assert okx_matches(-1881014294, bids, asks)
    assert okx_matches(-1881014294 & 0xFFFFFFFF, bids, asks)
    assert not okx_matches(831078360, bids, asks)


def test_okx_uses_top_25_only() -> None:
    bids = [(str(100 - i), "1") for i in range(30)]
    asks = [(str(200 + i), "1") for i in range(30)]
    assert okx_checksum(bids, asks) == okx_checksum(bids[:25], asks[:25])
    assert okx_checksum(bids, asks) != okx_checksum(bids[:24], asks[:25])


def test_to_signed32() -> None:
    assert to_signed32(0) == 0
    assert to_signed32(2**31 - 1) == 2**31 - 1
    assert to_signed32(2**31) == -(2**31)
    assert to_signed32(2**32 - 1) == -1
