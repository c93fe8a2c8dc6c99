"""Book checksums of Kraken v2 (CRC32 of the top 10, unsigned) and OKX v5 (CRC32 of the top 25, signed).

Both are computed from the exchange's own digit strings. Re-rendering a size through a float turns
``"0.10000000"`` into ``"0.1"`` and the CRC no longer matches (exchange-protocols.md §4.4, §8.5), which
is why the book keeps the wire strings and these functions take them as they are.

The functions take levels best-first, as ``BookSide.top(n)`` returns them: asks lowest price first,
bids highest price first.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from decimal import Decimal

KRAKEN_LEVELS = 10
OKX_LEVELS = 25

Level = Sequence[str]


def plain_decimal(s: str) -> str:
    """The full-precision positional spelling of a number (``"1E-7"`` -> ``"0.0000001"``).

    Exponent forms are rare on the wire but ``str(Decimal)`` and some JSON writers produce them; the
    checksums are defined over positional digits.
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


def okx_string(bids: Sequence[Level], asks: Sequence[Level]) -> str:
    """``bid1px:bid1sz:ask1px:ask1sz:...`` over 25 levels; a shorter side's missing entries are skipped."""
    fields: list[str] = []
    b = bids[:OKX_LEVELS]
    a = asks[:OKX_LEVELS]
    for i in range(max(len(b), len(a))):
        if i < len(b):
            fields.append(b[i][0])
            fields.append(b[i][1])
        if i < len(a):
            fields.append(a[i][0])
            fields.append(a[i][1])
    return ":".join(fields)


def to_signed32(u: int) -> int:
    return u - (1 << 32) if u >= (1 << 31) else u


def okx_checksum(bids: Sequence[Level], asks: Sequence[Level]) -> int:
    """Signed CRC32 as OKX sends it in ``checksum`` (0 has meant "absent" since June 2026)."""
    return to_signed32(zlib.crc32(okx_string(bids, asks).encode()))


def okx_matches(expected: int, bids: Sequence[Level], asks: Sequence[Level]) -> bool:
    """Compare modulo 2**32 so a sender that writes the unsigned value also matches."""
    return (okx_checksum(bids, asks) & 0xFFFFFFFF) == (expected & 0xFFFFFFFF)
