"""venue name -> adapter class, imported lazily so a venue's module loads only when it is used."""

from __future__ import annotations

import importlib

from lcm_tui.venues.base import Adapter

_ADAPTERS: dict[str, tuple[str, str]] = {
    "binance": ("binance.adapter", "BinanceAdapter"),
    "binance-usdm": ("binance.usdm", "BinanceUsdmAdapter"),
    "bybit-spot": ("bybit.adapter", "BybitSpotAdapter"),
    "bybit-linear": ("bybit.adapter", "BybitLinearAdapter"),
    "okx": ("okx.adapter", "OkxAdapter"),
    "kraken": ("kraken.adapter", "KrakenAdapter"),
    "coinbase": ("coinbase.adapter", "CoinbaseAdapter"),
}


def adapter_class(venue: str) -> type[Adapter]:
    """The adapter class for ``venue``; KeyError for an unknown venue, ImportError if its module is missing."""
    if venue not in _ADAPTERS:
        raise KeyError(f"no adapter for venue {venue!r}")
    module, name = _ADAPTERS[venue]
    cls = getattr(importlib.import_module(f"lcm_tui.venues.{module}"), name)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ImportError(f"lcm_tui.venues.{module}.{name} is not an Adapter")
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
