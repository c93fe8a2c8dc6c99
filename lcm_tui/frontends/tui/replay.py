"""``lcm-tui replay FILE``: the TUI over a capture, with pause and speed keys.

Frames are fed through the same adapters as live (FEEDS-A's ``open_replay``), paced by their
recorded receive times divided by the speed. The monitor is sampled on the *capture's* clock (every
``sample_interval_s`` of recorded time), so detector z-scores and alerts are the same at any speed
and equal to what the live run computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from textual.binding import Binding

from lcm_tui.config import Settings
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.app import KeySpec, LcmApp

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0, 0.0)  # 0: as fast as possible
REPLAY_KEYS: tuple[KeySpec, ...] = (
    KeySpec("faster", "plus", "speed(1)", "faster"),
    KeySpec("slower", "minus", "speed(-1)", "slower"),
)
YIELD_EVERY = 500  # records between yields to the UI when replaying as fast as possible


def speed_label(speed: float) -> str:
    return "max" if speed == 0 else f"x{speed:g}"


class ReplayApp(LcmApp):
    EXTRA_KEYS = REPLAY_KEYS
    SAMPLE_ON_TIMER = False
    BINDINGS: ClassVar[list[Binding]] = [
        Binding(k.key, k.action, k.description, show=k.show, id=k.id) for k in REPLAY_KEYS
    ]

    def __init__(self, settings: Settings, monitor: Any, replayer: Any, records: Iterator[Any], *,
                 speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic, **kw: Any) -> None:
        self.replayer = replayer
        self.records = records
        self.speed = speed
        self.monotonic = monotonic
        self.replay_t_ns = 0
        self.fed = 0
        self.done = False
        self._resume = asyncio.Event()
        self._resume.set()
        self._wake = asyncio.Event()  # set by the pause and speed keys to cut a pacing wait short
        self._last_sample = 0
        self._anchor: tuple[float, int] | None = None  # (wall, capture time) the pacing is measured from
        super().__init__(settings, monitor, clock=lambda: self.replay_t_ns, **kw)

    def on_mount(self) -> None:
        super().on_mount()
        self.run_worker(self._play(), name="replay", group="replay", exit_on_error=False)

    def _update_note(self) -> None:
        where = fmt.clock_time(self.replay_t_ns) if self.replay_t_ns else "--:--:--"
        state = "done" if self.done else speed_label(self.speed)
        self.note = f"replay {where} {state} {self.fed} frames"

    async def _wait_until_due(self, t: int) -> None:
        """Sleep until record time ``t`` is due at the current speed; pause and speed keys cut the wait short."""
        while True:
            await self._resume.wait()
            if self.speed <= 0 or not t:
                return
            if self._anchor is None:
                self._anchor = (self.monotonic(), t)
            wall0, t0 = self._anchor
            delay = wall0 + (t - t0) / 1e9 / self.speed - self.monotonic()
            if delay <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _play(self) -> None:
        interval_ns = int(self.settings.metrics.sample_interval_s * 1e9)
        next_sample: int | None = None
        for rec in self.records:
            t = rec.t_ns
            await self._wait_until_due(t)
            if self.speed <= 0 and self.fed % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the UI draw and take keys while replaying flat out
            if next_sample is None and t:
                next_sample = t - t % interval_ns + interval_ns
            while next_sample is not None and t >= next_sample:
                self._sample_at(next_sample)
                next_sample += interval_ns
            self.replayer.feed(rec)
            self.fed += 1
            if t:
                self.replay_t_ns = t
            self._update_note()
        self.done = True
        if self.replay_t_ns and self._last_sample != self.replay_t_ns:
            self._sample_at(self.replay_t_ns)  # the final books, as `replay --json` reports them
        self._update_note()
        self._refresh()

    def _sample_at(self, t_ns: int) -> None:
        self.replay_t_ns = t_ns
        self._last_sample = t_ns
        self.sample_now()

    def _reanchor(self) -> None:
        self._anchor = None if not self.replay_t_ns else (self.monotonic(), self.replay_t_ns)

    def action_toggle_pause(self) -> None:
        super().action_toggle_pause()
        if self.paused:
            self._resume.clear()
        else:
            self._reanchor()  # the paused time is not caught up afterwards
            self._resume.set()
        self._wake.set()

    def action_speed(self, step: int) -> None:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else SPEEDS.index(1.0)
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, i + step))]
        self._reanchor()
        self._wake.set()
        self._update_note()
        self._refresh()


def run_replay(settings: Settings, path: str, speed: float = 1.0) -> int:
    from lcm_tui.core.monitor import Monitor
    from lcm_tui.runtime.replay import open_replay

    if speed < 0:
        print("lcm-tui: --speed must be >= 0", file=sys.stderr)
        return 2
    monitor = Monitor(settings)
    try:
        replayer, records = open_replay(settings, path, sink=monitor.on_event)
    except OSError as e:
        print(f"lcm-tui: cannot read capture: {e}", file=sys.stderr)
        return 2
    for venue, why in replayer.skipped.items():
        print(f"lcm-tui: {venue}: not replayed ({why})", file=sys.stderr)
    for st in replayer.state_list():
        monitor.add(st)
    app = ReplayApp(settings, monitor, replayer, records, speed=speed, freeze_gc=True)
    app.run()
    return app.return_code or 0
