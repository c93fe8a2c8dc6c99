"""OKX v5 book checksum: signed CRC32 of the top 25 levels, interleaved (docs/protocols.md, "OKX v5").

It is computed from OKX's own digit strings (``"8477"`` must not become ``"8477.0"``), which is why
the book keeps the wire strings. OKX has sent 0 ("absent") since June 2026; the code stays for old
recordings and for the simulator's checksum mode. Levels come best first, as ``BookSide.top(n)``
returns them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

OKX_LEVELS = 25

Level = Sequence[str]


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
