"""``lcm-tui replay FILE``: the TUI over a capture, a time machine: pause, speed, seek, step, jump to alerts.

The engine's :class:`~lcm_tui.runtime.engine.ReplaySession` feeds the records through the same adapters
as live and samples the monitor on the *capture's* clock, so detector z-scores and alerts are the same at
any speed and equal to ``replay --json``; this app only paces the records by their recorded receive
times divided by the speed, and shows the end of the capture as the session leaves it.

Seeking forward feeds the session on up to the target (``run_until``). Books and detectors cannot run
backwards, so seeking back builds a fresh session and runs it from the capture's start to the target: a
session is deterministic, so the state reached is the one ``replay --json --at`` prints for that time.
The re-run happens in a worker that yields to the UI every ``YIELD_EVERY`` records; the screen keeps
the old state and the header says "seeking" until the new one replaces it.

A capture can hold a gap of any length (a machine asleep, a clock jump, a corrupt ``t_ns`` of 1e300).
The pacing never waits longer than ``MAX_WAIT_S`` for one record: a longer quiet stretch is skipped
and said so in the header (the session's sample clock jumps such gaps too). The replay yields to the UI
every ``YIELD_EVERY`` records whatever the speed, so the keys (``q`` included) always work.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Protocol

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from lcm_tui.config import REPLAY_KEYS, Settings
from lcm_tui.core.consolidated import ConsolidatedMetrics
from lcm_tui.core.model import Alert, AlertChange, FeedEvent, MetricSample
from lcm_tui.core.view import BookSnapshot, MarketView, SignalView, StreamView
from lcm_tui.frontends.jsonout import AT_FORMATS, parse_at
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.app import HELP_TEXT, LcmApp
from lcm_tui.frontends.tui.screens.market import Selection
from lcm_tui.frontends.tui.widgets.progress import ReplayProgress
from lcm_tui.runtime.replay import Record

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0, 0.0)  # 0: as fast as possible
YIELD_EVERY = 500  # records between yields to the UI
MAX_WAIT_S = 5.0  # wall seconds the pacing waits for one record at most; a longer gap is skipped
SEC = 10**9
# Next alert steps the sample clock one boundary at a time; across a quiet stretch longer than this many
# samples it goes straight to the boundary before the next record, as the session's own clock does.
ALERT_STEP_MAX_IDLE = 60


def speed_label(speed: float) -> str:
    return "max" if speed == 0 else f"x{speed:g}"


class ReplayFeed(Protocol):
    """What the replay app drives (``runtime.engine.ReplaySession``)."""

    records: Iterator[Record]
    t_ns: int  # the capture time reached
    fed: int  # records fed
    ended: bool

    def feed(self, rec: Record) -> None: ...

    def peek(self) -> Record | None: ...

    def run_until(self, t_ns: int) -> int: ...

    def finish(self) -> None: ...


# A fresh view and session over the same capture, at its start: how the app goes back in time.
Reopen = Callable[[], tuple[MarketView, ReplayFeed]]
# The capture's last record time and record count, read once in a thread for the progress bar.
Scan = Callable[[], tuple[int, int]]


class SwitchableView:
    """The :class:`MarketView` the pages read, pointing at the current session's view.

    A backward seek replaces the whole engine; the pages keep this one object and read the new market
    from the next refresh on. ``alert_changes`` cursors are per engine, so a swap starts them at 0.
    """

    def __init__(self, target: MarketView) -> None:
        self.target = target
        self.generation = 0
        self._watched: tuple[str, str] | None = None

    def switch(self, target: MarketView) -> None:
        self.target = target
        self.generation += 1
        if self._watched is not None:
            target.watch(*self._watched)

    def streams(self) -> list[StreamView]:
        return self.target.streams()

    def stream(self, venue: str, symbol: str) -> StreamView | None:
        return self.target.stream(venue, symbol)

    def latest(self, venue: str, symbol: str) -> MetricSample | None:
        return self.target.latest(venue, symbol)

    def snapshot(self, venue: str, symbol: str, depth: int) -> BookSnapshot | None:
        return self.target.snapshot(venue, symbol, depth)

    def signals(self, venue: str, symbol: str) -> list[SignalView]:
        return self.target.signals(venue, symbol)

    def alerts(self) -> Sequence[Alert]:
        return self.target.alerts()

    def alert_changes(self, cursor: int) -> tuple[list[AlertChange], int]:
        return self.target.alert_changes(cursor)

    def events(self) -> Sequence[FeedEvent]:
        return self.target.events()

    def assets(self) -> list[str]:
        return self.target.assets()

    def consolidated(self, asset: str, top: int = 10, split_notionals: Sequence[float] = ()
                     ) -> ConsolidatedMetrics | None:
        return self.target.consolidated(asset, top, split_notionals)

    def watch(self, venue: str, symbol: str) -> None:
        self._watched = (venue, symbol)
        self.target.watch(venue, symbol)


class JumpScreen(ModalScreen[int | None]):
    """Asks for a time to jump to; parses it as ``replay --json --at`` does (one-line error, no traceback)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel", show=False)]
    AUTO_FOCUS = "#jump-input"  # the app focuses nothing on its own; here typing is the point
    DEFAULT_CSS = """
    JumpScreen { align: center middle; }
    JumpScreen > Vertical {
        width: 72; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    JumpScreen #jump-error { color: $error; }
    """

    def __init__(self, start_ns: int, at_ns: int) -> None:
        super().__init__()
        self.start_ns = start_ns
        self.at_ns = at_ns

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = "go to time"
            v.border_subtitle = "enter to go, esc to cancel"
            yield Static(f"HH:MM[:SS[.fff]] UTC of the capture's day, ISO-8601 or epoch seconds "
                         f"(the capture starts {fmt.clock_time(self.start_ns)})")
            yield Input(value=fmt.clock_time(self.at_ns) if self.at_ns else "", id="jump-input")
            yield Static("", id="jump-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            t = parse_at(event.value, self.start_ns)
        except ValueError:
            self.query_one("#jump-error", Static).update(f"not a time: give {AT_FORMATS}")
            return
        self.dismiss(t)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReplayApp(LcmApp):
    EXTRA_KEYS = REPLAY_KEYS
    SAMPLE_ON_TIMER = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(k.key, k.action, k.description, show=k.show, id=k.id) for k in REPLAY_KEYS
    ]

    class Finished(Message):
        """The last record was fed."""

    def __init__(self, settings: Settings, view: MarketView, session: ReplayFeed, *,
                 speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic,
                 reopen: Reopen | None = None, scan: Scan | None = None, start_paused: bool = False,
                 **kw: Any) -> None:
        self.session = session
        self.speed = speed
        self.monotonic = monotonic
        self.reopen = reopen
        self.scan = scan
        self.done = False
        self.skipped_s = 0.0  # capture seconds of gaps skipped by the pacing
        first = session.peek()
        self.start_ns = first.t_ns if first is not None else session.t_ns
        self.end_ns: int | None = None  # the last record's time, once the scan is done
        self.total_records: int | None = None
        self.seeking: int | None = None  # the target while a seek runs
        self._resume = asyncio.Event()
        self._resume.set()
        self._wake = asyncio.Event()  # set by the pause and speed keys to cut a pacing wait short
        self._anchor: tuple[float, int] | None = None  # (wall, capture time) the pacing is measured from
        self.switch_view = view if isinstance(view, SwitchableView) else SwitchableView(view)
        super().__init__(settings, self.switch_view, clock=lambda: self.session.t_ns, **kw)
        if start_paused:  # at the capture's start, nothing fed: seek from there
            self.paused = True
            self._resume.clear()

    @property
    def replay_t_ns(self) -> int:
        return self.session.t_ns

    @property
    def fed(self) -> int:
        return self.session.fed

    def on_mount(self) -> None:
        super().on_mount()
        if self.scan is not None:
            self._scan_capture()
        self._play()

    # ------------------------------------------------------------------------------- header
    def _update_note(self) -> None:
        where = fmt.clock_time(self.replay_t_ns) if self.replay_t_ns else "--:--:--"
        state = "done" if self.done else speed_label(self.speed)
        skipped = f" (skipped {fmt.duration(self.skipped_s)} of gaps)" if self.skipped_s else ""
        self.note = f"replay {where} {state} {self.fed} frames{skipped}"

    def progress(self) -> ReplayProgress:
        if self.seeking is not None:
            state = f"seeking to {fmt.clock_time(self.seeking)}…"
        else:
            state = "done" if self.done else ""
        return ReplayProgress(self.start_ns, self.end_ns, self.replay_t_ns, speed_label(self.speed), state)

    def selection(self) -> Selection:
        sel = super().selection()
        return dataclasses.replace(sel, header=dataclasses.replace(sel.header, progress=self.progress()))

    def _show_now(self) -> None:
        """Redraw now even while the display is paused: a seek or a step is asked for to be seen."""
        self._update_note()
        self._refresh()

    @work(thread=True, group="scan", exit_on_error=False)
    def _scan_capture(self) -> None:
        assert self.scan is not None
        end, count = self.scan()
        self.call_from_thread(self._scanned, end, count)

    def _scanned(self, end: int, count: int) -> None:
        self.end_ns, self.total_records = end, count
        self._refresh()

    # ------------------------------------------------------------------------------- playing
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
        # peek, wait, then feed: a seek cancels this worker at an await, and a peeked record is put back,
        # so none is lost or fed twice.
        n = 0
        while True:
            session = self.session
            rec = session.peek()
            if rec is None:
                break
            await self._wait_until_due(rec.t_ns)
            n += 1
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the UI draw and take keys however many records are due
            session.feed(next(session.records))
            self._update_note()
        if not self.done:
            self.post_message(self.Finished())

    def on_replay_app_finished(self, message: Finished) -> None:
        """The capture ended: show its books as ``replay --json`` reports them, status and metrics."""
        if self.session.peek() is not None or self.done:
            return  # a seek went back in time after the message was posted
        self.session.finish()
        self.done = True
        self._update_note()
        self._refresh()

    def _reanchor(self) -> None:
        self._anchor = None if not self.replay_t_ns else (self.monotonic(), self.replay_t_ns)

    # ------------------------------------------------------------------------------- seeking
    @staticmethod
    async def _feed_until(session: ReplayFeed, t_ns: int) -> None:
        """``session.run_until(t_ns)`` in slices, yielding to the UI between them."""
        n = 0
        while True:
            rec = session.peek()
            if rec is None or rec.t_ns > t_ns:
                break
            session.feed(next(session.records))
            n += 1
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        session.run_until(t_ns)  # feeds nothing more: takes the samples due by t_ns

    def _clamp(self, t_ns: int) -> int:
        t_ns = max(self.start_ns, t_ns)
        return min(t_ns, self.end_ns) if self.end_ns is not None else t_ns

    def seek_to(self, t_ns: int) -> None:
        """Show the state at capture time ``t_ns`` (clamped to the capture), then go on as before."""
        self.seeking = self._clamp(t_ns)
        self._show_now()
        self._seek(self.seeking)

    async def _at_time(self, target: int) -> bool:
        """Bring the shown state to ``target``; False when it is behind and the capture cannot be re-read."""
        if target >= self.session.t_ns:
            if not self.session.ended:  # an ended session is at the capture's end already
                await self._feed_until(self.session, target)
            return True
        if self.reopen is None:
            self.notify("cannot seek back: this replay cannot re-read its capture", severity="warning")
            return False
        view, session = self.reopen()
        await self._feed_until(session, target)
        self.session = session
        self.done = False
        self.switch_view.switch(view)
        return True

    @work(group="replay", exclusive=True, exit_on_error=False)
    async def _seek(self, target: int) -> None:
        try:
            await self._at_time(target)
        finally:
            if self.seeking == target:
                self.seeking = None
        self._after_move()

    def _after_move(self) -> None:
        self._reanchor()
        self._show_now()
        self.call_later(self._play)  # after this worker: starting it here would cancel this one

    def action_seek(self, seconds: int) -> None:
        base = self.seeking if self.seeking is not None else self.replay_t_ns or self.start_ns
        self.seek_to(base + seconds * SEC)

    def action_jump_to_time(self) -> None:
        def go(t: int | None) -> None:
            if t is not None:
                self.seek_to(t)

        self.push_screen(JumpScreen(self.start_ns, self.replay_t_ns), go)

    def action_step(self) -> None:
        """One record and the samples due by it; pauses first, so what it changed stays on screen."""
        if not self.paused:
            self.action_toggle_pause()
        self._step()

    @work(group="replay", exclusive=True, exit_on_error=False)
    async def _step(self) -> None:
        rec = self.session.peek()
        if rec is None:
            self.notify("end of the capture", timeout=2)
        else:
            self.session.feed(next(self.session.records))
        self._after_move()

    def action_alert(self, direction: int) -> None:
        if direction < 0:
            t = self.replay_t_ns
            earlier = [a.opened_ns for a in self.view.alerts() if a.opened_ns < t]
            if not earlier:
                self.notify("no earlier alert in this capture", timeout=2)
                return
            self.seek_to(max(earlier))
        else:
            self.seeking = None
            self._next_alert()

    @work(group="replay", exclusive=True, exit_on_error=False)
    async def _next_alert(self) -> None:
        """Step the sample clock boundary by boundary until an alert opens, and stop at that sample.

        Each step is ``run_until(boundary)``, so the state reached is the one a fresh replay to the
        alert's opening time gives (``replay --json --at``).
        """
        session = self.session
        known = {(a.venue, a.symbol, a.signal, a.opened_ns) for a in self.view.alerts()}
        iv = max(1, int(self.settings.metrics.sample_interval_s * SEC))
        t = session.t_ns or self.start_ns
        found: Alert | None = None
        steps = 0
        while found is None:
            rec = session.peek()
            if rec is None:
                break
            nxt = t - t % iv + iv
            if rec.t_ns > nxt + ALERT_STEP_MAX_IDLE * iv:
                nxt = rec.t_ns - rec.t_ns % iv  # the boundary just before the next record
            self.seeking = nxt
            await self._feed_until(session, nxt)
            t = nxt
            found = next((a for a in self.view.alerts()
                          if (a.venue, a.symbol, a.signal, a.opened_ns) not in known), None)
            steps += 1
            if steps % 50 == 0:
                self._show_now()
                await asyncio.sleep(0)
        self.seeking = None
        if found is None:
            self.notify("no later alert in this capture", timeout=2)
        else:
            self.notify(f"alert {found.severity.value} {found.venue} {found.symbol} {found.signal} "
                        f"at {fmt.clock_time(found.opened_ns)}", timeout=3)
            if not self.paused:
                self.action_toggle_pause()  # stop on it, as a debugger stops on a breakpoint
        self._after_move()

    # ------------------------------------------------------------------------------- keys
    def help_rows(self) -> list[tuple[str, str]]:
        """The live app's rows, the replay keys folded into pairs (the help fits 80x24)."""
        k = self.key_for
        mine = {(k(spec.id), HELP_TEXT.get(spec.id, spec.description)) for spec in REPLAY_KEYS}
        pause = (k("pause"), HELP_TEXT.get("pause", ""))
        rows = [r if r != pause else (r[0], "pause / resume the replay")
                for r in super().help_rows() if r not in mine]
        replay = [
            (f"{k('faster')} / {k('slower')}", "faster / slower replay (x0.25 to x50, then max)"),
            (f"{k('seek_back_10s')} / {k('seek_forward_10s')}", "seek back / forward 10 s"),
            (f"{k('seek_back_1m')} / {k('seek_forward_1m')}", "seek back / forward 1 min"),
            (k("seek_to_time"), "go to a typed time (HH:MM:SS UTC, ISO-8601 or epoch seconds)"),
            (k("step"), "one record at a time (pauses)"),
            (f"{k('seek_next_alert')} / {k('seek_prev_alert')}", "next / previous alert opening (stops there)"),
        ]
        return rows[:-1] + replay + rows[-1:]

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


def scan_end(path: str) -> tuple[int, int]:
    """The capture's last record time and its number of records (one pass, no adapters)."""
    from lcm_tui.runtime.replay import iter_capture

    last, n = 0, 0
    for rec in iter_capture(path):
        last = max(last, rec.t_ns)
        n += 1
    return last, n


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

    def reopen() -> tuple[MarketView, ReplayFeed]:
        fresh = open_replay(settings, path)
        assert fresh.replay is not None
        return fresh.view, fresh.replay

    app = ReplayApp(settings, engine.view, session, speed=speed, freeze_gc=True, reopen=reopen,
                    scan=lambda: scan_end(path))
    from lcm_tui.frontends.tui.lifecycle import run_blocking

    run_blocking(app)  # app.run(), with SIGTERM/SIGHUP restoring the terminal
    return app.return_code or 0
