"""All configured venues' runners in one place: what headless mode runs and the UI starts as workers."""

from __future__ import annotations

import asyncio
import functools
import logging

from lcm_tui.config import Settings
from lcm_tui.core.model import SymbolState
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.runner import StreamRunner
from lcm_tui.venues.base import EventSink
from lcm_tui.venues.registry import adapter_class

log = logging.getLogger("lcm_tui.runtime.hub")


class FeedHub:
    """One ``StreamRunner`` per enabled venue (all of its symbols on one connection)."""

    def __init__(self, settings: Settings, sink: EventSink | None = None, capture: Capture | None = None) -> None:
        self.settings = settings
        self.runners: list[StreamRunner] = []
        self.unavailable: dict[str, str] = {}  # venue -> why it is not running
        for vc in settings.enabled_venues():
            try:
                cls = adapter_class(vc.name)
            except (KeyError, ImportError, AttributeError) as e:
                log.error("%s: no adapter available (%s); venue skipped", vc.name, e)
                self.unavailable[vc.name] = str(e)
                continue
            factory = functools.partial(cls, vc, list(vc.symbols), sink)
            self.runners.append(StreamRunner(factory, settings.feeds, capture))

    def states(self) -> list[SymbolState]:
        return [st for r in self.runners for st in r.states.values()]

    async def run(self) -> None:
        """Run every runner until cancelled."""
        tasks = [asyncio.create_task(r.run(), name=f"feed-{r.venue}") for r in self.runners]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
