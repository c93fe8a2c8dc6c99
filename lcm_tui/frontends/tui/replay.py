"""``lcm-tui replay FILE``: the TUI over a capture, with pause and speed keys.

The engine's :class:`~lcm_tui.runtime.engine.ReplaySession` feeds the records through the same adapters
as live and samples the monitor on the *capture's* clock, so detector z-scores and alerts are the same at
any speed and equal to ``replay --json``; this app only paces the records by their recorded receive
times divided by the speed, and shows the end of the capture as the session leaves it.

A capture can hold a gap of any length (a machine asleep, a clock jump, a corrupt ``t_ns`` of 1e300).
The pacing never waits longer than ``MAX_WAIT_S`` for one record: a longer quiet stretch is skipped
and said so in the header (the session's sample clock jumps such gaps too). The replay yields to the UI
every ``YIELD_EVERY`` records whatever the speed, so the keys (``q`` included) always work.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol

from textual import work
from textual.binding import Binding, BindingType
from textual.message import Message

from lcm_tui.config import REPLAY_KEYS, Settings
from lcm_tui.core.view import MarketView
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.runtime.replay import Record

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0, 0.0)  # 0: as fast as possible
YIELD_EVERY = 500  # records between yields to the UI
MAX_WAIT_S = 5.0  # wall seconds the pacing waits for one record at most; a longer gap is skipped


def speed_label(speed: float) -> str:
    return "max" if speed == 0 else f"x{speed:g}"


class ReplayFeed(Protocol):
    """What the replay app drives (``runtime.engine.ReplaySession``)."""

    records: Iterator[Record]
    t_ns: int  # the capture time reached

    def feed(self, rec: Record) -> None: ...

    def finish(self) -> None: ...


class ReplayApp(LcmApp):
    EXTRA_KEYS = REPLAY_KEYS
    SAMPLE_ON_TIMER = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(k.key, k.action, k.description, show=k.show, id=k.id) for k in REPLAY_KEYS
    ]

    class Finished(Message):
        """The last record was fed."""

    def __init__(self, settings: Settings, view: MarketView, session: ReplayFeed, *,
                 speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic, **kw: Any) -> None:
        self.session = session
        self.speed = speed
        self.monotonic = monotonic
        self.fed = 0
        self.done = False
        self.skipped_s = 0.0  # capture seconds of gaps skipped by the pacing
        self._resume = asyncio.Event()
        self._resume.set()
        self._wake = asyncio.Event()  # set by the pause and speed keys to cut a pacing wait short
        self._anchor: tuple[float, int] | None = None  # (wall, capture time) the pacing is measured from
        super().__init__(settings, view, clock=lambda: session.t_ns, **kw)

    @property
    def replay_t_ns(self) -> int:
        return self.session.t_ns

    def on_mount(self) -> None:
        super().on_mount()
        self._play()

    def _update_note(self) -> None:
        where = fmt.clock_time(self.replay_t_ns) if self.replay_t_ns else "--:--:--"
        state = "done" if self.done else speed_label(self.speed)
        skipped = f" (skipped {fmt.duration(self.skipped_s)} of gaps)" if self.skipped_s else ""
        self.note = f"replay {where} {state} {self.fed} frames{skipped}"

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
            if delay > MAX_WAIT_S:  # a gap nobody wants to sit through: skip it
                self.skipped_s += (t - t0) / 1e9 - (self.monotonic() - wall0) * self.speed
                self._anchor = (self.monotonic(), t)
                self._update_note()
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    @work(group="replay", exclusive=True, exit_on_error=False)
    async def _play(self) -> None:
        for rec in self.session.records:
            await self._wait_until_due(rec.t_ns)
            if self.fed % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the UI draw and take keys however many records are due
            self.session.feed(rec)
            self.fed += 1
            self._update_note()
        self.post_message(self.Finished())

    def on_replay_app_finished(self, message: Finished) -> None:
        """The capture ended: show its books as ``replay --json`` reports them, status and metrics."""
        self.session.finish()
        self.done = True
        self._update_note()
        self._refresh()

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
    from lcm_tui.runtime.engine import EngineError, open_replay

    if speed < 0:
        print("lcm-tui: --speed must be >= 0", file=sys.stderr)
        return 2
    try:
        engine = open_replay(settings, path)  # the same monitor and view as every other mode
    except EngineError as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    for venue, why in engine.unavailable().items():
        print(f"lcm-tui: {venue}: not replayed ({why})", file=sys.stderr)
    session = engine.replay
    assert session is not None
    app = ReplayApp(settings, engine.view, session, speed=speed, freeze_gc=True)
    from lcm_tui.frontends.tui.lifecycle import run_blocking

    run_blocking(app)  # app.run(), with SIGTERM/SIGHUP restoring the terminal
    return app.return_code or 0
