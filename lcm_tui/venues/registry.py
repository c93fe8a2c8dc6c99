"""THE list of venues. Adding a venue is one folder under ``venues/`` and one line here.

The order of :data:`VENUES` is the order everywhere a list of venues is shown or walked (the config's
``Settings.venues``, the venues overview, the consolidated book's tie order), so it never depends on
the order of a YAML file or of feeds starting. Adapters and simulators are imported on first use; an
adapter or simulator that fails to import raises, so a broken venue is never silently left out.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lcm_tui.venues.binance.spec import BINANCE, BINANCE_USDM
from lcm_tui.venues.bybit.spec import BYBIT_LINEAR, BYBIT_SPOT
from lcm_tui.venues.coinbase.spec import COINBASE
from lcm_tui.venues.kraken.spec import KRAKEN
from lcm_tui.venues.okx.spec import OKX
from lcm_tui.venues.spec import VenueSpec

if TYPE_CHECKING:
    from lcm_tui.venues.base import Adapter
    from lcm_tui.venues.simbase import VenueSim

VENUES: tuple[VenueSpec, ...] = (
    BINANCE,
    BINANCE_USDM,
    BYBIT_SPOT,
    BYBIT_LINEAR,
    OKX,
    KRAKEN,
    COINBASE,
)

_BY_NAME: dict[str, VenueSpec] = {v.name: v for v in VENUES}
if len(_BY_NAME) != len(VENUES):
    raise ValueError("two venues in the registry share a name")


def names() -> tuple[str, ...]:
    """Every venue name, in registry order."""
    return tuple(_BY_NAME)


def spec(name: str) -> VenueSpec:
    """The venue's declaration; KeyError naming the known venues for an unknown one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown venue {name!r}; known are {', '.join(_BY_NAME)}") from None


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def adapter_class(name: str) -> type[Adapter]:
    """The venue's adapter class; KeyError for an unknown venue, ImportError if it does not load."""
    from lcm_tui.venues.base import Adapter

    path = spec(name).adapter
    cls = _load(path)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ImportError(f"{path} is not an Adapter")
    return cls


def sim_class(name: str) -> type[VenueSim]:
    """The venue's loopback simulator class; KeyError for an unknown venue, ImportError if it does not load."""
    from lcm_tui.venues.simbase import VenueSim

    path = spec(name).sim
    cls = _load(path)
    if not (isinstance(cls, type) and issubclass(cls, VenueSim) and getattr(cls, "venue", None) == name):
        raise ImportError(f"{path} is not the VenueSim of {name!r}")
    return cls


def available_venues() -> list[str]:
    """Every registry venue, each adapter imported: an adapter that does not import raises here."""
    for name in _BY_NAME:
        adapter_class(name)
    return list(_BY_NAME)
