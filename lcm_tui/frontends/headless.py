"""``lcm-tui --headless``: no UI, one JSON line per venue+symbol per sample on stdout.

The lines are the objects ``replay --json`` prints plus ``ts`` (epoch seconds), so the same tools read
both. The recorder's status goes to stderr once per sample, keeping stdout machine-readable.
SIGINT/SIGTERM stop the loop cleanly: the capture and the recorder are flushed before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any

import orjson

from lcm_tui.config import Settings
from lcm_tui.core.monitor import Monitor
from lcm_tui.runtime.capture import Capture
from lcm_tui.runtime.hub import FeedHub
from lcm_tui.runtime.replay import consolidated_entries, state_json

log = logging.getLogger("lcm_tui.frontends.headless")


def run_headless(settings: Settings, demo: bool = False, capture: str | None = None) -> int:
    return asyncio.run(_main(settings, demo, capture))


async def _main(settings: Settings, demo: bool, capture_path: str | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
                stack.callback(loop.remove_signal_handler, sig)
        if demo:
            from lcm_tui.runtime.sim.demo import start_demo

            settings = await stack.enter_async_context(start_demo(settings))
        capture = Capture(capture_path) if capture_path else None
        if capture is not None:
            stack.callback(capture.close)
        monitor = Monitor(settings)
        hub = FeedHub(settings, monitor.on_event, capture)
        if not hub.runners:
            print("lcm-tui: no enabled venue with symbols to monitor", file=sys.stderr)
            return 2
        for st in hub.states():
            monitor.add(st)
        recorder: Any = None
        if settings.recorder.enabled:
            from lcm_tui.record import Recorder

            recorder = Recorder(settings.recorder)
            await recorder.start()
            stack.push_async_callback(recorder.close)
            monitor.add_listener(recorder)
        feeds = asyncio.create_task(hub.run(), name="feeds")
        try:
            await _sample_loop(settings, monitor, hub, recorder, stop)
        finally:
            feeds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeds
    return 0


async def _sample_loop(settings: Settings, monitor: Monitor, hub: FeedHub, recorder: Any, stop: asyncio.Event) -> None:
    interval = settings.metrics.sample_interval_s
    loop = asyncio.get_running_loop()
    next_at = loop.time() + interval
    out = sys.stdout
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, next_at - loop.time())):
                await stop.wait()
        if stop.is_set():
            break
        next_at += interval
        t_ns = time.time_ns()
        monitor.sample(t_ns)
        ts = t_ns / 1e9
        states = hub.states()
        lines = [orjson.dumps({"ts": ts, **state_json(settings, st, t_ns, monitor.latest.get(st.key))})
                 for st in states]
        lines += [orjson.dumps({"ts": ts, **c}) for c in consolidated_entries(settings, states, monitor.detectors)]
        try:
            out.write(b"\n".join(lines).decode() + "\n")
            out.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop like a well-behaved Unix filter.
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's exit flush quiet
            return
        if recorder is not None:
            print(f"recorder: {recorder.status().describe()}", file=sys.stderr, flush=True)
