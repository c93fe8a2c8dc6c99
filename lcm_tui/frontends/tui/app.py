"""The full-screen app: one worker per exchange stream, a sample clock, and a refresh timer.

Data flows one way. Stream runners (each in its own Textual worker) apply frames to the plain model
(books, statuses, counters); ``monitor.sample()`` turns books into metrics and alerts on the sample
clock; a refresh timer at ``ui.fps`` copies what is visible from the model into the widgets. Nothing
redraws per frame, so a busy feed costs the UI nothing extra, and a crashed runner only marks its
streams DOWN until it is restarted.

Tests build ``LcmApp`` with a pre-filled monitor, no runners, a frozen clock and ``timers=False``:
then the screen depends only on the data and the keys pressed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.theme import BUILTIN_THEMES
from textual.widgets import ContentSwitcher, Footer, Static

from lcm_tui.config import ConfigError, Settings
from lcm_tui.core.model import FeedEvent, FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.symbols import canonical
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.commands import StreamProvider
from lcm_tui.frontends.tui.screens.help import HelpScreen
from lcm_tui.frontends.tui.widgets.alerts import AlertsPanel
from lcm_tui.frontends.tui.widgets.depth_chart import DepthChart
from lcm_tui.frontends.tui.widgets.ladder import DepthLadder
from lcm_tui.frontends.tui.widgets.slippage import SlippageTable
from lcm_tui.frontends.tui.widgets.status import StatusInfo, StatusLine
from lcm_tui.frontends.tui.widgets.venues import VenuesOverview, rows_for_asset
from lcm_tui.frontends.tui.widgets.zscores import ZScorePanel

log = logging.getLogger("lcm_tui.frontends.tui")

# Theme cycle for the `t` key: the ansi themes use the terminal's own palette, which is what works
# over SSH and in terminals without truecolor.
THEME_CYCLE = ("textual-dark", "textual-light", "ansi-dark", "ansi-light", "nord", "gruvbox", "tokyo-night",
               "solarized-light")

NARROW_W = 120  # below this the chart is hidden by default and the side column is fixed-width
WIDE_W, WIDE_H = 160, 45  # from here the venues overview also sits under the book
# Young (generation 1) collections between two full ones: CPython's own default cadence.
FULL_GC_EVERY = 10


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A binding whose key can be remapped with ``ui.keys`` (the id is the name users write)."""

    id: str
    key: str
    action: str
    description: str
    show: bool = True


KEYS: tuple[KeySpec, ...] = (
    KeySpec("next_symbol", "down", "next_symbol", "symbol"),
    KeySpec("prev_symbol", "up", "prev_symbol", "prev symbol", show=False),
    KeySpec("next_venue", "right", "next_venue", "venue"),
    KeySpec("prev_venue", "left", "prev_venue", "prev venue", show=False),
    *(KeySpec(f"venue_{i}", str(i), f"pick_venue({i})", f"venue {i}", show=False) for i in range(1, 10)),
    KeySpec("pause", "space", "toggle_pause", "pause"),
    KeySpec("venues", "v", "toggle_page('venues')", "venues"),
    KeySpec("consolidated", "c", "toggle_page('consolidated')", "consolidated", show=False),
    KeySpec("chart", "g", "toggle_panel('chart')", "chart"),
    KeySpec("zscores", "z", "toggle_panel('zscores')", "z-scores", show=False),
    KeySpec("alerts", "a", "toggle_panel('alerts')", "alerts", show=False),
    KeySpec("slippage", "s", "toggle_panel('slippage')", "slippage", show=False),
    KeySpec("theme", "t", "next_theme", "theme", show=False),
    KeySpec("help", "question_mark", "help", "help"),
    KeySpec("quit", "q", "quit", "quit"),
)

HELP_TEXT: dict[str, str] = {
    "next_symbol": "next / previous symbol on this venue",
    "next_venue": "next / previous venue (keeps the asset when the venue lists it)",
    "venue_1": "pick venue 1-9 (order of the venues overview)",
    "pause": "pause / resume the display (feeds keep running)",
    "venues": "venues overview: every venue for this asset",
    "consolidated": "consolidated book across venues",
    "chart": "toggle the depth chart",
    "zscores": "toggle the z-score panel",
    "alerts": "toggle the alerts panel",
    "slippage": "toggle the slippage table",
    "theme": "next theme (ansi-dark / ansi-light use the terminal palette)",
    "help": "this help",
    "quit": "quit",
}
PAIRS = {"next_symbol": "prev_symbol", "next_venue": "prev_venue"}

PANELS = ("slippage", "zscores", "chart", "alerts")
PAGES = ("book", "venues", "consolidated")


def _key_label(key: str) -> str:
    return {"question_mark": "?", "space": "space", "down": "↓", "up": "↑", "right": "→", "left": "←",
            "plus": "+", "minus": "-"}.get(key, key)


def states_of(runner: Any) -> list[SymbolState]:
    """A runner's states, whether it exposes them as a dict (by symbol) or a list."""
    s = getattr(runner, "states", None)
    if s is None:
        return []
    if callable(s):
        s = s()
    return list(s.values()) if isinstance(s, dict) else list(s)


def _consolidated_widget(settings: Settings) -> Any:
    """CONSOLIDATED's widget when that module is installed; a plain note otherwise."""
    try:
        from lcm_tui.frontends.tui.widgets.consolidated import ConsolidatedView
    except ImportError:
        return Static("The consolidated view is not available in this build.", id="consolidated")
    return ConsolidatedView(settings, id="consolidated")


class LcmApp(App[int]):
    CSS_PATH = "../../styles/app.tcss"
    TITLE = "lcm-tui"
    COMMANDS = App.COMMANDS | {StreamProvider}
    BINDINGS: ClassVar[list[Binding]] = [Binding(k.key, k.action, k.description, show=k.show, id=k.id) for k in KEYS]
    EXTRA_KEYS: tuple[KeySpec, ...] = ()  # a subclass's remappable keys (it binds them in its BINDINGS)
    SAMPLE_ON_TIMER = True  # replay samples on the capture's clock instead
    # Nothing takes focus on its own: a focused scrollable (the consolidated view) would take the
    # arrow keys, which switch venue and symbol.
    AUTO_FOCUS = None

    def __init__(
        self,
        settings: Settings,
        monitor: Any,
        *,
        hub: Any = None,
        runners: Iterable[Any] | None = None,
        recorder: Any = None,
        clock: Callable[[], int] = time.time_ns,
        timers: bool = True,
        restart_delay_s: float | None = None,
        freeze_gc: bool = False,
    ) -> None:
        self.settings = settings
        self.monitor = monitor
        self.runners: list[Any] = list(runners) if runners is not None else list(getattr(hub, "runners", []))
        self.recorder = recorder
        self.clock = clock
        self.timers = timers
        self.restart_delay_s = (max(1.0, settings.feeds.reconnect_min_s) if restart_delay_s is None
                                else restart_delay_s)
        self.freeze_gc = freeze_gc
        self.runner_crashes: dict[int, int] = {}
        self.paused = False
        self.page = "book"
        self.note = ""  # extra status text (replay position)
        self._frames: dict[tuple[str, str], deque[tuple[int, int]]] = {}
        self._size_class = ""
        self._gc_threshold: tuple[int, int, int] | None = None  # the thresholds to restore at exit
        self._gc_due = False
        self.venue = ""
        self.symbol = ""
        keys = self._check_keys(settings.ui.keys)
        super().__init__()
        self.set_keymap(keys)
        if settings.ui.theme not in BUILTIN_THEMES:
            raise ConfigError(f"ui.theme: {settings.ui.theme!r} is not allowed; allowed are "
                              f"{', '.join(sorted(BUILTIN_THEMES))}")
        self.theme = settings.ui.theme
        streams = self.stream_keys()
        if streams:
            self.venue, self.symbol = streams[0]

    def _check_keys(self, keys: dict[str, str]) -> dict[str, str]:
        known = {k.id for k in KEYS + self.EXTRA_KEYS}
        for name in keys:
            if name not in known:
                raise ConfigError(f"ui.keys.{name}: unknown action; allowed are {', '.join(sorted(known))}")
        return dict(keys)

    def key_for(self, binding_id: str) -> str:
        """The key bound to ``binding_id`` after remapping, as shown to the user."""
        default = next(k.key for k in KEYS + self.EXTRA_KEYS if k.id == binding_id)
        return _key_label(self.settings.ui.keys.get(binding_id, default))

    # ------------------------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        s = self.settings
        bands = s.metrics.depth_bands_bps
        yield StatusLine(id="status")
        with ContentSwitcher(initial="book", id="pages"):
            with Vertical(id="book"):
                with Horizontal(id="book-main"):
                    yield DepthLadder(id="ladder")
                    with Vertical(id="side"):
                        # This order lets the wide layout's grid put the chart in a column of its own.
                        yield SlippageTable(s.metrics.notionals, id="slippage")
                        yield DepthChart(s.ui.chart_max_hz, bands, id="chart")
                        yield ZScorePanel(s.detector, id="zscores")
                        yield AlertsPanel(id="alerts")
                yield VenuesOverview(bands, s.metrics.middle_notional, id="venues-strip")
            with Vertical(id="venues"):
                yield VenuesOverview(bands, s.metrics.middle_notional, id="venues-table")
                yield AlertsPanel(id="venues-alerts")
            yield _consolidated_widget(s)
        yield Footer()

    def on_mount(self) -> None:
        self.ladder = self.query_one(DepthLadder)
        self.status_line = self.query_one(StatusLine)
        self.slippage = self.query_one(SlippageTable)
        self.zscores = self.query_one(ZScorePanel)
        self.chart = self.query_one(DepthChart)
        self.alerts = self.query_one("#alerts", AlertsPanel)
        self.venues_strip = self.query_one("#venues-strip", VenuesOverview)
        self.venues_table = self.query_one("#venues-table", VenuesOverview)
        self.venues_alerts = self.query_one("#venues-alerts", AlertsPanel)
        self.consolidated = self.query_one("#consolidated")
        self.query_one("#slippage").border_title = "slippage"
        self.query_one("#zscores").border_title = "z-scores"
        self.alerts.border_title = "alerts"
        self.venues_alerts.border_title = "alerts"
        mid_n = fmt.notional(self.settings.metrics.middle_notional)
        self.venues_table.border_title = f"venues: spread, depth (quote) per band, slippage bps at {mid_n}"
        self.venues_strip.border_title = self.venues_table.border_title
        self._apply_size(self.size.width, self.size.height)
        for i, runner in enumerate(self.runners):
            self._start_runner(i, runner)
        if self.timers:
            if self.SAMPLE_ON_TIMER:
                self.set_interval(self.settings.metrics.sample_interval_s, self.sample_now, name="sample")
            self.set_interval(1.0 / self.settings.ui.fps, self.refresh_views, name="refresh")
        self.refresh_views()
        if self.freeze_gc:
            # Everything alive now (Textual, the DOM, the stylesheet) lives as long as the app: moved out
            # of the collector's reach, a full collection no longer stalls a frame for ~50 ms (benches/ui.py).
            gc.freeze()
            # Every line Textual repaints leaves a Strip in a reference cycle (its divide cache holds
            # itself), so ~1000 objects a frame only a full collection frees: 10-30 ms, due every ~2 s,
            # in whatever frame it lands on. Full collections run after a frame is on screen instead
            # (``_collect_after_frame``); the young generations stay automatic.
            self._gc_threshold = gc.get_threshold()
            gc.set_threshold(self._gc_threshold[0], self._gc_threshold[1], 2**31 - 1)  # i.e. never

    def on_unmount(self) -> None:
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None

    def on_resize(self, event: events.Resize) -> None:
        if not hasattr(self, "ladder"):
            return  # the first resize comes before on_mount, which applies the size itself
        self._apply_size(event.size.width, event.size.height)
        self.refresh_views()

    def _apply_size(self, width: int, height: int) -> None:
        """Pick the layout for this terminal size; panel toggles reset to that layout's defaults."""
        size_class = "-wide" if width >= WIDE_W and height >= WIDE_H else "-normal" if width >= NARROW_W else "-narrow"
        if size_class == self._size_class:
            return
        self._size_class = size_class
        body = self.query_one("#pages")
        body.remove_class("-wide", "-normal", "-narrow")
        body.add_class(size_class)
        self.chart.display = size_class != "-narrow"
        for name in ("slippage", "zscores", "alerts"):
            self.query_one(f"#{name}").display = True
        self.venues_strip.display = size_class == "-wide"

    # ------------------------------------------------------------------------------ stream workers
    def _start_runner(self, index: int, runner: Any) -> None:
        label = ",".join(sorted({st.venue for st in states_of(runner)})) or f"runner{index}"
        self.run_worker(self._keep_running(index, runner), name=f"stream {label}", group=f"stream-{index}",
                        exit_on_error=False)

    async def _keep_running(self, index: int, runner: Any) -> None:
        """Run one runner forever: if it raises, its streams show DOWN and it starts again after a delay."""
        while True:
            try:
                await runner.run()
                detail = "runner stopped"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug or an unexpected error in one feed must not end the app
                detail = f"runner crashed: {type(e).__name__}: {e}"
                log.exception("stream runner %d crashed; restarting in %.1fs", index, self.restart_delay_s)
            self.runner_crashes[index] = self.runner_crashes.get(index, 0) + 1
            now = self.clock()
            for st in states_of(runner):
                st.status = StreamStatus.DOWN
                st.status_detail = f"{detail}; restart in {self.restart_delay_s:g}s"
                self.monitor.on_event(FeedEvent(now, st.venue, st.symbol, FeedEventKind.DISCONNECT, detail))
            self.refresh_views()
            await asyncio.sleep(self.restart_delay_s)

    # ------------------------------------------------------------------------------- data -> view
    def sample_now(self) -> None:
        try:
            self.monitor.sample(self.clock())
        except Exception:  # keep the display alive; the error is in the log with its traceback
            log.exception("monitor.sample failed")

    def stream_keys(self) -> list[tuple[str, str]]:
        return list(self.monitor.states.keys())

    def venues(self) -> list[str]:
        return list(dict.fromkeys(v for v, _ in self.stream_keys()))

    def _frames_per_s(self, key: tuple[str, str], st: SymbolState | None, now: int) -> float | None:
        if st is None:
            return None
        hist = self._frames.setdefault(key, deque(maxlen=128))
        hist.append((now, st.counters.frames))
        while len(hist) > 2 and now - hist[1][0] >= 2_000_000_000:
            hist.popleft()
        t0, f0 = hist[0]
        return (st.counters.frames - f0) * 1e9 / (now - t0) if now > t0 else None

    def refresh_views(self) -> None:
        """Copy what is visible from the model into the widgets (hidden panels cost nothing)."""
        if not self.paused:
            self._refresh()
        if self._gc_threshold is not None and not self._gc_due and gc.get_count()[2] >= FULL_GC_EVERY:
            self._gc_due = True
            self.call_after_refresh(self._collect_after_frame)

    def _collect_after_frame(self) -> None:
        """The full collection automatic GC no longer does, in the idle time after a frame."""
        self._gc_due = False
        gc.collect()

    def _refresh(self) -> None:
        if not hasattr(self, "ladder"):
            return
        m = self.monitor
        s = self.settings
        now = self.clock()
        key = (self.venue, self.symbol)
        st = m.states.get(key)
        rs = self.recorder.status() if self.recorder is not None else None
        self.status_line.show(StatusInfo(st, self.venue or "-", self.symbol or "no streams", now,
                                         self._frames_per_s(key, st, now), self.paused, rs, self.note))
        if self.page == "book":
            self.ladder.set_book(st.book if st else None, s.metrics.depth_bands_bps)
            if self.slippage.display:
                self.slippage.show(m.latest.get(key))
            if self.zscores.display:
                self.zscores.show(m.detectors.get(key))
            if self.chart.display:
                self.chart.show(st.book if st else None, f"cumulative depth {self.venue} {self.symbol}")
            if self.alerts.display:
                self.alerts.show(m.alerts)
            if self.venues_strip.display:
                self.venues_strip.show(self._venue_rows())
        elif self.page == "venues":
            self.venues_table.show(self._venue_rows())
            self.venues_alerts.show(m.alerts)
        elif hasattr(self.consolidated, "show"):
            self.consolidated.show(m, self.venue, self.symbol)

    def _venue_rows(self) -> list[Any]:
        m = self.monitor
        streams = [(st, m.latest.get(k)) for k, st in m.states.items()]
        return rows_for_asset(streams, self.venue, self.symbol) if self.venue else []

    # ------------------------------------------------------------------------------------ actions
    def select(self, venue: str, symbol: str) -> None:
        if (venue, symbol) not in self.monitor.states:
            return
        if (venue, symbol) != (self.venue, self.symbol):
            self.venue, self.symbol = venue, symbol
            self.ladder.reset()
            self.chart.invalidate()
        self._refresh()

    def _symbols(self, venue: str) -> list[str]:
        return [s for v, s in self.stream_keys() if v == venue]

    def _step_symbol(self, step: int) -> None:
        syms = self._symbols(self.venue)
        if syms:
            i = syms.index(self.symbol) if self.symbol in syms else 0
            self.select(self.venue, syms[(i + step) % len(syms)])

    def _pick_venue(self, venue: str) -> None:
        """Switch venue, staying on the same asset when the venue lists it."""
        syms = self._symbols(venue)
        if not syms:
            return
        want = canonical(self.venue, self.symbol) if self.venue else ""
        same = [s for s in syms if canonical(venue, s) == want]
        base = want.split("-")[0]
        same_base = [s for s in syms if canonical(venue, s).split("-")[0] == base]
        self.select(venue, (same or same_base or syms)[0])

    def _step_venue(self, step: int) -> None:
        vs = self.venues()
        if vs:
            i = vs.index(self.venue) if self.venue in vs else 0
            self._pick_venue(vs[(i + step) % len(vs)])

    def action_next_symbol(self) -> None:
        self._step_symbol(1)

    def action_prev_symbol(self) -> None:
        self._step_symbol(-1)

    def action_next_venue(self) -> None:
        self._step_venue(1)

    def action_prev_venue(self) -> None:
        self._step_venue(-1)

    def action_pick_venue(self, n: int) -> None:
        vs = self.venues()
        if 1 <= n <= len(vs):
            self._pick_venue(vs[n - 1])

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._refresh()

    def action_toggle_page(self, page: str) -> None:
        self.page = "book" if self.page == page else page
        self.query_one("#pages", ContentSwitcher).current = self.page
        if self.page == "consolidated" and self.consolidated.can_focus:
            self.consolidated.focus()  # its own keys (notional [ ], scrolling) work while it is shown
        else:
            self.set_focus(None)
        self._refresh()

    def action_toggle_panel(self, name: str) -> None:
        w = self.query_one(f"#{name}")
        w.display = not w.display
        if name == "chart":
            self.chart.invalidate()
        self._refresh()

    def action_next_theme(self) -> None:
        names = [t for t in THEME_CYCLE if t in self.available_themes]
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    def help_rows(self) -> list[tuple[str, str]]:
        rows = []
        for spec in KEYS + self.EXTRA_KEYS:
            if spec.id in PAIRS.values() or (spec.id.startswith("venue_") and spec.id != "venue_1"):
                continue
            key = self.key_for(spec.id)
            if spec.id in PAIRS:
                key = f"{key} / {self.key_for(PAIRS[spec.id])}"
            elif spec.id == "venue_1":
                key = "1-9"
            rows.append((key, HELP_TEXT.get(spec.id, spec.description)))
        rows.append(("ctrl+p", "command palette: jump to any venue and symbol, change theme"))
        return rows

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_rows()))


# ------------------------------------------------------------------------------------ entry points
async def _live(settings: Settings, demo: bool, capture: str | None) -> int:
    from lcm_tui.core.monitor import Monitor
    from lcm_tui.runtime.hub import FeedHub

    async with AsyncExitStack() as stack:
        if demo:
            from lcm_tui.runtime.sim.demo import start_demo

            settings = await stack.enter_async_context(start_demo(settings))
        monitor = Monitor(settings)
        cap = None
        if capture:
            from lcm_tui.runtime.capture import Capture

            cap = stack.enter_context(Capture(capture))
        hub = FeedHub(settings, monitor.on_event, capture=cap)
        for st in hub.states():
            monitor.add(st)
        recorder = await _start_recorder(settings, monitor, stack)
        app = LcmApp(settings, monitor, hub=hub, recorder=recorder, freeze_gc=True)
        await app.run_async()
        return app.return_code or 0


async def _start_recorder(settings: Settings, monitor: Any, stack: AsyncExitStack) -> Any:
    if not settings.recorder.enabled:
        return None
    from lcm_tui.record import Recorder

    recorder = Recorder(settings.recorder)
    await recorder.start()
    stack.push_async_callback(recorder.close)
    monitor.add_listener(recorder)
    return recorder


def run_app(settings: Settings, demo: bool = False, capture: str | None = None) -> int:
    """``lcm-tui [--demo] [--capture F]``: the live monitor until the user quits."""
    return asyncio.run(_live(settings, demo, capture))


def run_replay_app(settings: Settings, path: str, speed: float = 1.0) -> int:
    """``lcm-tui replay FILE``: the TUI over a capture, paced by its timestamps."""
    from lcm_tui.frontends.tui.replay import run_replay

    return run_replay(settings, path, speed)
