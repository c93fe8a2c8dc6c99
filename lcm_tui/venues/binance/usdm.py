"""Binance USD-M futures diff-depth (docs/protocols.md): the spot machinery, futures rules.

Differences from spot, all in the bridge: events with ``u < lastUpdateId`` are dropped (strictly
less), the first event kept must satisfy ``U <= lastUpdateId <= u``, and afterwards each event's
``pu`` must equal the previous event's ``u`` (futures ids are not contiguous, so ``U`` cannot be
checked). The snapshot is REST ``/fapi/v1/depth`` (the futures WS-API ``depth`` is unconfirmed), and
the stream lives under ``/public`` since the 2026 URL split. Rules: ``docs/protocols.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lcm_tui.core.settings import VenueConfig
from lcm_tui.venues.base import EventSink
from lcm_tui.venues.binance.adapter import BinanceAdapter, _Sync

# /fapi/v1/depth accepts only these limits.
LIMITS = (5, 10, 20, 50, 100, 500, 1000)


class BinanceUsdmAdapter(BinanceAdapter):
    venue: ClassVar[str] = "binance-usdm"
    max_depth: ClassVar[int] = 1000

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        super().__init__(cfg, symbols, sink)
        self.depth = max([n for n in LIMITS if n <= self.depth] or [LIMITS[0]])

    def _needs_pu(self) -> bool:
        return True

    def _too_old(self, last_update_id: int, first: dict[str, Any]) -> bool:
        return last_update_id < first["U"]

    def _check(self, sync: _Sync, ev: dict[str, Any]) -> str:
        book_id = sync.book_id
        assert book_id is not None
        if sync.first_pending:
            if ev["u"] < book_id:
                return "stale"
            if ev["U"] <= book_id <= ev["u"]:
                return ""
            return f"first event {ev['U']}..{ev['u']} does not cover {book_id}"
        if ev["u"] <= book_id:
            return "stale"
        if ev["pu"] != book_id:
            return f"pu {ev['pu']} != {book_id}"
        return ""
