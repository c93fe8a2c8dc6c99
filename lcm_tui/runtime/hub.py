"""All configured venues' runners in one place, each kept running by one supervisor.

A ``StreamRunner`` already reconnects forever and survives adapter bugs; the supervisor here is the
last line for a bug in the runner itself: its streams are marked DOWN with the error as the reason
(and a DISCONNECT event says so), and it starts again after the one backoff (``core.retry``). Every
mode (headless, TUI, demo) runs the hub the same way through ``runtime.engine``; frontends only show
the state, they do not supervise.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from lcm_tui.config import Settings
from lcm_tui.core.model import FeedEvent, FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.retry import Backoff
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.runner import ConnectPacer, SnapshotBudget, StreamRunner, split_symbols
from lcm_tui.venues.base import EventSink
from lcm_tui.venues.registry import adapter_class

log = logging.getLogger("lcm_tui.runtime.hub")


class FeedHub:
    """One ``StreamRunner`` per connection of each enabled venue (symbols cut to the venue's limits)."""

    def __init__(self, settings: Settings, sink: EventSink | None = None, capture: Capture | None = None,
                 *, clock: Callable[[], int] = time.time_ns) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.runners: list[StreamRunner] = []
        self.unavailable: dict[str, str] = {}  # venue -> why it is not running
        self.crashes: dict[str, int] = {}  # venue -> times its runner raised (a bug: see the log)
        for vc in settings.enabled_venues():
            try:
                cls = adapter_class(vc.name)
            except (KeyError, ImportError, AttributeError) as e:
                log.error("%s: no adapter available (%s); venue skipped", vc.name, e)
                self.unavailable[vc.name] = str(e)
                continue
            # One runner per connection-sized chunk of symbols (venue limits: runner.split_symbols).
            chunks = split_symbols(cls, vc)
            pacer, budget = ConnectPacer.for_venue(vc.name), SnapshotBudget.for_venue(vc.name)
            for i, chunk in enumerate(chunks):
                factory = functools.partial(cls, vc, chunk, sink)
                label = vc.name if len(chunks) == 1 else f"{vc.name}[{i + 1}/{len(chunks)}]"
                self.runners.append(StreamRunner(factory, settings.feeds, capture, pacer=pacer, budget=budget,
                                                 label=label))

    def states(self) -> list[SymbolState]:
        return [st for r in self.runners for st in r.states.values()]

    async def run(self) -> None:
        """Run every runner (each under its supervisor) until cancelled."""
        tasks = [asyncio.create_task(self.supervise(r), name=f"feed-{r.venue}") for r in self.runners]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def supervise(self, runner: StreamRunner) -> None:
        """Run one runner forever: if it ever returns or raises, show its streams DOWN and start it again."""
        feeds = self.settings.feeds
        backoff = Backoff(feeds.reconnect_min_s, feeds.reconnect_max_s)
        while True:
            started = time.monotonic()
            try:
                await runner.run()
                why = "runner stopped"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug in one venue's runner must not end the others or the process
                why = f"runner crashed: {type(e).__name__}: {e}"
                log.exception("%s: stream runner crashed", runner.venue)
            self.crashes[runner.venue] = self.crashes.get(runner.venue, 0) + 1
            if time.monotonic() - started > feeds.reconnect_max_s:
                backoff.reset()  # it ran fine for a while: this is a new failure, not a crash loop
            delay = backoff.next()
            now = self.clock()
            for st in runner.states.values():
                st.status = StreamStatus.DOWN
                st.status_detail = f"{why}; restart in {delay:.1f}s"
                if self.sink is not None:
                    self.sink(FeedEvent(now, st.venue, st.symbol, FeedEventKind.DISCONNECT, why))
            await asyncio.sleep(delay)
