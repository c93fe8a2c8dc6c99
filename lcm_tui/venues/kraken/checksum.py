"""Kraken v2 book checksum: unsigned CRC32 of the top 10 asks then the top 10 bids (docs/protocols.md).

It is computed from Kraken's own digit strings. Re-rendering a qty through a float turns
``"0.10000000"`` into ``"0.1"`` and the CRC no longer matches, which is why the book keeps the wire
strings and these functions take them as they are. Levels come best first, as ``BookSide.top(n)``
returns them: asks lowest price first, bids highest price first.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from decimal import Decimal

KRAKEN_LEVELS = 10

Level = Sequence[str]


def plain_decimal(s: str) -> str:
    """The full-precision positional spelling of a number (``"1E-7"`` -> ``"0.0000001"``).

    Exponent forms are rare on the wire but ``str(Decimal)`` and some JSON writers produce them; the
    checksum is defined over positional digits.
    """
    if "e" in s or "E" in s:
        return format(Decimal(s), "f")
    return s


def kraken_string(asks: Sequence[Level], bids: Sequence[Level]) -> str:
    """The string Kraken CRCs: top-10 asks then top-10 bids, each price+qty without '.' and leading zeros."""
    fields = [f for lv in (*asks[:KRAKEN_LEVELS], *bids[:KRAKEN_LEVELS]) for f in (lv[0], lv[1])]
    joined = "".join(fields)
    if "e" in joined or "E" in joined:  # rare: render exponents positionally first
        fields = [plain_decimal(f) for f in fields]
    # This runs on every Kraken update: one pass of C string methods per field, no per-field Python call.
    return "".join([f.replace(".", "").lstrip("0") for f in fields])


def kraken_checksum(asks: Sequence[Level], bids: Sequence[Level]) -> int:
    """Unsigned CRC32 as Kraken sends it in ``checksum``."""
    return zlib.crc32(kraken_string(asks, bids).encode())
