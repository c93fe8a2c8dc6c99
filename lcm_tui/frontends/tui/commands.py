"""Command palette entries: jump straight to any venue+symbol stream (``ctrl+p``, then type)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from lcm_tui.frontends.tui.app import LcmApp


class StreamProvider(Provider):
    def _streams(self) -> list[tuple[str, str]]:
        return cast("LcmApp", self.app).stream_keys()

    def _select(self, venue: str, symbol: str) -> None:
        cast("LcmApp", self.app).select(venue, symbol)

    async def discover(self) -> Hits:
        for venue, symbol in self._streams():
            yield DiscoveryHit(f"{venue} {symbol}", partial(self._select, venue, symbol),
                               help="show this venue and symbol")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for venue, symbol in self._streams():
            text = f"{venue} {symbol}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self._select, venue, symbol),
                          help="show this venue and symbol")
