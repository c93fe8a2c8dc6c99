"""Both checksum implementations against the exchanges' own worked examples (exchange-protocols.md §3.4, §4.4).

The adapters verify checksums with ``venues/<venue>/checksum.py`` (strings as received); the simulator
computes the checksums it sends with its own code in ``venues/<venue>/sim.py`` (Kraken from integer
units, OKX with its own string builder and sign conversion). Each is held to the documented examples
here, so neither can drift and take the other along.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from lcm_tui.venues.kraken.checksum import kraken_checksum, kraken_string, plain_decimal
from lcm_tui.venues.kraken.sim import book_crc as kraken_sim_crc
from lcm_tui.venues.okx.checksum import okx_checksum, okx_matches, okx_string, to_signed32
from lcm_tui.venues.okx.sim import book_crc as okx_sim_crc
from lcm_tui.venues.simbook import SimBook, Units

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
KRAKEN_CRC = 3310070434
# The documented strings (§4.4), copied, not derived.
KRAKEN_ASKS_STRING = ("45285210000045286415457195345286615457110945289615456091145290215890660452918154553491"
                      "452947445474945296135380000452975994554245299518772827")
KRAKEN_BIDS_STRING = ("45283510000000452834154582015452821100000004528101000000045280315459258645279079900004"
                      "5277633101034527753000000045277315460273745276615445238")

OKX_EVEN = ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")], -1881014294)
OKX_ODD = ([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")], 831078360)


def units_of(levels: list[tuple[str, str]], price_dp: int, size_dp: int) -> list[tuple[int, int]]:
    """Decimal strings -> (ticks, lots), refusing anything that is not a whole number of units."""
    out = []
    for p, q in levels:
        t, lots = Decimal(p).scaleb(price_dp), Decimal(q).scaleb(size_dp)
        assert t == t.to_integral_value() and lots == lots.to_integral_value()
        out.append((int(t), int(lots)))
    return out


# ---- adapter side: the strings as received ------------------------------------------------------

def test_kraken_worked_example() -> None:
    assert kraken_string(KRAKEN_ASKS, KRAKEN_BIDS) == KRAKEN_ASKS_STRING + KRAKEN_BIDS_STRING
    assert kraken_checksum(KRAKEN_ASKS, KRAKEN_BIDS) == KRAKEN_CRC


def test_kraken_only_top_ten_count() -> None:
    deeper_asks = [*KRAKEN_ASKS, ("45300.0", "9.00000000")]
    deeper_bids = [*KRAKEN_BIDS, ("45270.0", "9.00000000")]
    assert kraken_checksum(deeper_asks, deeper_bids) == KRAKEN_CRC


def test_kraken_float_pitfall() -> None:
    """Round-tripping through float drops trailing zeros and breaks the CRC (the documented 1604409348)."""
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
    assert kraken_checksum(asks, bids) == KRAKEN_CRC


def test_plain_decimal_renders_exponents() -> None:
    assert plain_decimal("1E-7") == "0.0000001"
    assert plain_decimal(str(Decimal("0.0000001"))) == "0.0000001"
    assert plain_decimal("0.10000000") == "0.10000000"
    assert kraken_checksum([("1E-7", "1")], []) == kraken_checksum([("0.0000001", "1")], [])


@pytest.mark.parametrize(("bids", "asks", "crc"), [OKX_EVEN, OKX_ODD])
def test_okx_worked_examples(bids: list[tuple[str, str]], asks: list[tuple[str, str]], crc: int) -> None:
    want = {OKX_EVEN[2]: "3366.1:7:3366.8:9:3366:6:3368:8", OKX_ODD[2]: "3366.1:7:3366.8:9:3368:8:3372:8"}[crc]
    assert okx_string(bids, asks) == want
    assert okx_checksum(bids, asks) == crc


def test_okx_exact_strings_matter_and_unsigned_compare() -> None:
    bids, asks, crc = OKX_EVEN
    rerendered = [(str(float(p)), q) for p, q in bids]
    assert okx_checksum(rerendered, asks) != crc
    assert okx_matches(crc, bids, asks)
    assert okx_matches(crc & 0xFFFFFFFF, bids, asks)
    assert not okx_matches(OKX_ODD[2], bids, asks)


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


# ---- simulator side: its own code, from integer units ---------------------------------------------

def test_sim_kraken_crc_from_integer_units_matches_the_worked_example() -> None:
    price, qty = Units(1), Units(8)
    asks, bids = units_of(KRAKEN_ASKS, 1, 8), units_of(KRAKEN_BIDS, 1, 8)
    assert kraken_sim_crc(asks, bids, price, qty) == KRAKEN_CRC
    # Only the top 10 of each side count.
    assert kraken_sim_crc([*asks, (453000, 900000000)], [*bids, (452700, 900000000)], price, qty) == KRAKEN_CRC
    # The same quantities held as 4 significant decimals plus 4 padding zeros on the wire (how the
    # simulator stores Kraken's qty) give the same digits, hence the same CRC.
    padded = [("45285.2", "0.00100000"), ("45283.5", "0.10000000")]
    lots4 = units_of(padded, 1, 4)
    assert kraken_sim_crc(lots4[:1], lots4[1:], price, Units(4, pad=4)) == kraken_checksum(padded[:1], padded[1:])


def test_sim_book_renders_the_documented_kraken_strings() -> None:
    book = SimBook(Units(1), Units(8))
    book.load(units_of(KRAKEN_BIDS, 1, 8), units_of(KRAKEN_ASKS, 1, 8))
    assert book.asks() == KRAKEN_ASKS and book.bids() == KRAKEN_BIDS


@pytest.mark.parametrize(("bids", "asks", "crc"), [OKX_EVEN, OKX_ODD])
def test_sim_okx_crc_matches_the_worked_examples(bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                                                 crc: int) -> None:
    assert okx_sim_crc(bids, asks) == crc
    # From the simulator's own book: OKX's spelling ("3366", not "3366.0") comes from strip_zeros.
    book = SimBook(Units(1, strip=True), Units(0, strip=True))
    book.load(units_of(bids, 1, 0), units_of(asks, 1, 0))
    assert book.bids() == bids and book.asks() == asks
    assert okx_sim_crc(book.bids(25), book.asks(25)) == crc


def test_sim_okx_crc_uses_top_25_only() -> None:
    bids = [(str(100 - i), "1") for i in range(30)]
    asks = [(str(200 + i), "1") for i in range(30)]
    assert okx_sim_crc(bids, asks) == okx_sim_crc(bids[:25], asks[:25]) != okx_sim_crc(bids[:24], asks[:25])


def test_the_two_implementations_agree_on_random_books() -> None:
    """A differential check on top of the worked examples: 300 seeded random books, both venues."""
    rng = random.Random(20261201)
    for _ in range(300):
        dp, lot_dp, pad = rng.randint(0, 4), rng.randint(0, 6), rng.randint(0, 3)
        mid = rng.randint(10**5, 10**7)
        bids = sorted({mid - rng.randint(1, 10**4) for _ in range(rng.randint(0, 40))}, reverse=True)
        asks = sorted({mid + rng.randint(1, 10**4) for _ in range(rng.randint(0, 40))})
        book = SimBook(Units(dp, pad), Units(lot_dp, pad))
        book.load([(p, rng.randint(1, 10**8)) for p in bids], [(p, rng.randint(1, 10**8)) for p in asks])
        k_ints = kraken_sim_crc(book.asks_side.levels(10), book.bids_side.levels(10), book.price_units,
                                book.size_units)
        assert k_ints == kraken_checksum(book.asks(10), book.bids(10))
        okx_book = SimBook(Units(dp, strip=True), Units(lot_dp, strip=True))
        okx_book.load(book.bids_side.levels(), book.asks_side.levels())
        assert okx_sim_crc(okx_book.bids(), okx_book.asks()) == okx_checksum(okx_book.bids(25), okx_book.asks(25))


def test_units_render_exact_decimals() -> None:
    assert Units(2, pad=6).render(6000012) == "60000.12000000"
    assert Units(5).render(5) == "0.00005"
    assert Units(0).render(7) == "7"
    assert Units(0, pad=3).render(7) == "7.000"
    assert Units(8).render(0) == "0.00000000"
    assert Units(2, strip=True).render(6000000) == "60000"
    assert Units(2, strip=True).render(6000010) == "60000.1"
    assert Units(4, pad=4, strip=True).render(1000) == "0.1"
    with pytest.raises(ValueError, match="negative"):
        Units(2).render(-1)
