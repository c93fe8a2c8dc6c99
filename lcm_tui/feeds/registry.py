"""venue name -> adapter class, imported lazily so a venue's module loads only when it is used."""

from __future__ import annotations

import importlib

from lcm_tui.feeds.base import Adapter

_ADAPTERS: dict[str, tuple[str, str]] = {
    "binance": ("binance", "BinanceAdapter"),
    "binance-usdm": ("binance_usdm", "BinanceUsdmAdapter"),
    "bybit-spot": ("bybit", "BybitSpotAdapter"),
    "bybit-linear": ("bybit", "BybitLinearAdapter"),
    "okx": ("okx", "OkxAdapter"),
    "kraken": ("kraken", "KrakenAdapter"),
    "coinbase": ("coinbase", "CoinbaseAdapter"),
}


def adapter_class(venue: str) -> type[Adapter]:
    """The adapter class for ``venue``; KeyError for an unknown venue, ImportError if its module is missing."""
    if venue not in _ADAPTERS:
        raise KeyError(f"no adapter for venue {venue!r}")
    module, name = _ADAPTERS[venue]
    cls = getattr(importlib.import_module(f"lcm_tui.feeds.{module}"), name)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ImportError(f"lcm_tui.feeds.{module}.{name} is not an Adapter")
    return cls


def available_venues() -> list[str]:
    """Venues whose adapter module imports (all of them in a complete install)."""
    out = []
    for v in _ADAPTERS:
        try:
            adapter_class(v)
        except (ImportError, AttributeError):
            continue
        out.append(v)
    return out
