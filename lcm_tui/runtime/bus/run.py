"""The bus commands as coroutines: a collector (``collect``) until a signal stops it, a viewer (``open_remote``).

Kept apart from the frontends so tests and benches run a collector in-process exactly as the command does.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable

from lcm_tui.config import Settings
from lcm_tui.runtime.bus.collector import Collector, Retention, default_collector_id
from lcm_tui.runtime.bus.connect import BusError, NatsOptions, connect
from lcm_tui.runtime.bus.remote import RemoteMarketView
from lcm_tui.runtime.bus.subjects import Names, SubjectError
from lcm_tui.runtime.engine import EngineError, open_live


def install_stop(stop: asyncio.Event) -> contextlib.ExitStack:
    loop = asyncio.get_running_loop()
    stack = contextlib.ExitStack()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            stack.callback(loop.remove_signal_handler, sig)
    return stack


async def collect(settings: Settings, opts: NatsOptions, *, demo: bool = False, collector_id: str | None = None,
                  stop: asyncio.Event | None = None, book_levels: int = 20, heartbeat_s: float = 1.0,
                  retention: Retention | None = None, on_ready: Callable[[Collector], object] | None = None,
                  demo_step_interval_s: float | None = None, demo_fault_rate: float | None = None) -> int:
    """Run one collector until ``stop`` (SIGINT/SIGTERM when None); 2 for a user mistake, with one line on stderr."""
    own_signals = stop is None
    stop = stop or asyncio.Event()
    try:
        names = Names(opts.prefix)
        nc = await connect(opts, name="lcm-tui collect")
    except (BusError, SubjectError) as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    col: Collector | None = None
    try:
        with install_stop(stop) if own_signals else contextlib.nullcontext():
            async with open_live(settings, demo=demo, demo_step_interval_s=demo_step_interval_s,
                                 demo_fault_rate=demo_fault_rate) as engine:
                venues = sorted({v for v, _ in engine.monitor.states})
                cid = collector_id or default_collector_id(venues)
                col = Collector(engine, nc, names, cid, book_levels=book_levels, heartbeat_s=heartbeat_s,
                                retention=retention)
                await col.start()
                engine.monitor.add_listener(col)
                c = col
                engine.exported.update({
                    "bus_samples_published": lambda: c.samples_published,
                    "bus_states_published": lambda: c.states_published,
                    "bus_books_published": lambda: c.books_published,
                    "bus_messages_acked": lambda: c.outbox.sent,
                    "bus_bytes_acked": lambda: c.outbox.bytes,
                    "bus_messages_retried": lambda: c.outbox.retried,
                    "bus_messages_dropped": lambda: c.outbox.dropped,
                })
                if on_ready is not None:
                    on_ready(col)
                await engine.run_sample_clock(col.tick, stop)
    except EngineError as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    finally:
        # After the feeds stopped: their last events (the connections closing) are published too.
        if col is not None:
            await col.close()
        with contextlib.suppress(Exception):
            await nc.close()
    return 0


@contextlib.asynccontextmanager
async def open_remote(settings: Settings, opts: NatsOptions, *, down_after_s: float = 3.0,
                      wait_s: float = 5.0) -> AsyncIterator[RemoteMarketView]:
    """A started :class:`RemoteMarketView` over ``opts``' server; raises :class:`BusError` (one line) if it cannot."""
    try:
        names = Names(opts.prefix)
    except SubjectError as e:
        raise BusError(str(e)) from None
    nc = await connect(opts, name="lcm-tui attach")
    view = RemoteMarketView(settings, nc, names, down_after_s=down_after_s)
    try:
        await view.start(wait_s=wait_s)
        yield view
    finally:
        await view.close()
        with contextlib.suppress(Exception):
            await nc.close()
