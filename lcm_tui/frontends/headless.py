"""``lcm-tui --headless``: no UI, one JSON line per venue+symbol per sample on stdout.

The lines are the objects ``replay --json`` prints plus ``ts`` (epoch seconds of the sample), so the
same tools read both (``frontends.jsonout`` encodes both); after them come one ``"venue": "alert"``
line per alert that opened, escalated or closed at that sample. The recorder's status goes to stderr once
per sample, keeping stdout machine-readable. SIGINT/SIGTERM stop the loop cleanly: the engine then
flushes the recorder and closes the capture before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from lcm_tui.config import Settings
from lcm_tui.frontends import jsonout
from lcm_tui.runtime.engine import Engine, EngineError, RecorderFactory, open_live

__all__ = ["run_headless"]


def run_headless(settings: Settings, demo: bool = False, capture: str | None = None) -> int:
    return asyncio.run(_main(settings, demo, capture))


def _recorder() -> tuple[RecorderFactory | None, tuple[type[BaseException], ...]]:
    from lcm_tui.record import Recorder, RecorderError

    return Recorder, (RecorderError,)


async def _main(settings: Settings, demo: bool, capture_path: str | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    recorder, errors = _recorder() if settings.recorder.enabled else (None, ())
    with contextlib.ExitStack() as signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
                signals.callback(loop.remove_signal_handler, sig)
        try:
            async with open_live(settings, demo=demo, capture=capture_path, recorder=recorder,
                                 recorder_errors=errors) as engine:
                lines = jsonout.HeadlessLines(engine.view)
                await engine.run_sample_clock(lambda t_ns: _print_tick(engine, lines, t_ns), stop)
        except EngineError as e:
            print(f"lcm-tui: {e}", file=sys.stderr)
            return 2
    return 0


def _print_tick(engine: Engine, lines: jsonout.HeadlessLines, t_ns: int) -> bool:
    """Print this sample's lines; True (stop) when stdout's reader went away (``| head``)."""
    if not jsonout.write(None, lines.encode(t_ns)):
        return True
    if engine.recorder is not None:
        print(f"recorder: {engine.recorder.status().describe()}", file=sys.stderr, flush=True)
    return False
