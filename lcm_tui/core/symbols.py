"""Venue symbol spellings <-> one canonical (base, quote) pair.

Config, capture files and JSON output keep each venue's own symbol (what users know from the
exchange); the venues overview and the consolidated book group by canonical asset. Splitting needs
no venue knowledge (every spelling is BASE/QUOTE, BASE-QUOTE[-SUFFIX] or BASEQUOTE); the other
direction, a venue's spelling of a pair, is part of the venue's declaration (``VenueSpec.symbol``).
"""

from __future__ import annotations

# Quote currencies known to the splitter for venues that write symbols without a separator.
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH", "BNB")


def parse_symbol(venue: str, symbol: str) -> tuple[str, str]:
    """(base, quote) of a venue symbol, e.g. ('binance', 'BTCUSDT') -> ('BTC', 'USDT').

    Derivative suffixes are dropped (OKX 'BTC-USDT-SWAP' -> ('BTC', 'USDT')).
    """
    s = symbol.upper()
    for sep in ("/", "-"):
        if sep in s:
            parts = s.split(sep)
            return parts[0], parts[1]
    for q in _QUOTES:
        if s.endswith(q) and len(s) > len(q):
            return s[: -len(q)], q
    return s, ""


def canonical(venue: str, symbol: str) -> str:
    """'BASE-QUOTE' for grouping across venues."""
    b, q = parse_symbol(venue, symbol)
    return f"{b}-{q}" if q else b
