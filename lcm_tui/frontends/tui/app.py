"""The full-screen app: key bindings and the three pages (Textual modes), over one :class:`MarketView`.

Data flows one way. The engine (``runtime.engine``) runs the feeds and keeps the books; the app reads them only
through ``MarketView``. A refresh timer at ``ui.fps`` asks the page on screen to draw what is visible
(hidden panels cost nothing), and the sample clock (metrics, detector, alerts) runs on its own timer.
What the engine has to tell the UI between refreshes (an alert opened or closed, a replay ended)
arrives as a Textual message.

Tests build ``LcmApp`` over a fake ``MarketView``, with a frozen clock and ``timers=False``:
then the screen depends only on the data and the keys pressed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar, cast

from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from lcm_tui.config import KEYS, KeySpec, Settings
from lcm_tui.core.model import Alert
from lcm_tui.core.symbols import canonical
from lcm_tui.core.view import MarketView, StreamView
from lcm_tui.frontends.tui import prefs
from lcm_tui.frontends.tui.commands import StreamProvider
from lcm_tui.frontends.tui.screens.help import HelpScreen
from lcm_tui.frontends.tui.screens.market import (
    PANELS,
    BookScreen,
    ConsolidatedScreen,
    MarketScreen,
    Selection,
    VenuesScreen,
)
from lcm_tui.frontends.tui.widgets.alerts import AlertsPanel, AlertsState, alert_id
from lcm_tui.frontends.tui.widgets.status import CaptureInfo, StatusInfo
from lcm_tui.frontends.tui.widgets.venues import VenuesOverview

if TYPE_CHECKING:
    from lcm_tui.record.postgres import RecorderStatus
    from lcm_tui.runtime.engine import RecorderFactory

log = logging.getLogger("lcm_tui.frontends.tui")
_S = TypeVar("_S", bound=MarketScreen)

# Theme cycle for the `t` key: the ansi themes use the terminal's own palette, which is what works
# over SSH and in terminals without truecolor.
THEME_CYCLE = ("textual-dark", "textual-light", "ansi-dark", "ansi-light", "nord", "gruvbox", "tokyo-night",
               "solarized-light")

PAGES = ("book", "venues", "consolidated")
# Young (generation 1) collections between two full ones: CPython's own default cadence.
FULL_GC_EVERY = 10

HELP_TEXT: dict[str, str] = {
    "next_symbol": "next / previous symbol on this venue",
    "next_venue": "next / previous venue (keeps the asset when the venue lists it)",
    "venue_1": "pick venue 1-9 (order of the venues overview)",
    "pause": "pause / resume the display (feeds keep running)",
    "venues": "venues overview: every venue for this asset",
    "consolidated": "consolidated book across venues ([ ] / = notional, pgup/pgdn)",
    "chart": "toggle the depth chart",
    "zscores": "toggle the z-score panel",
    "alerts": "toggle the alerts panel",
    "slippage": "toggle the slippage table",
    "theme": "next theme (ansi-dark / ansi-light use the terminal palette)",
    "help": "this help",
    "quit": "quit",
}
PAIRS = {"next_symbol": "prev_symbol", "next_venue": "prev_venue"}
# Keys that share one help line (the help screen fits 80x24), listed under the first one's line.
HELP_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "alerts_open": (("alerts_open", "alerts_severity", "alerts_venue"),
                    "alerts filter: open only, min severity, this venue"),
    "alert_next": (("alert_next", "alert_prev", "alert_go", "alert_ack"),
                   "alerts: down, up, go to (or click), acknowledge"),
}
GROUPED = {i for ids, _ in HELP_GROUPS.values() for i in ids[1:]}


def _key_label(key: str) -> str:
    names = {"question_mark": "?", "space": "space", "down": "↓", "up": "↑", "right": "→", "left": "←",
             "plus": "+", "minus": "-", "enter": "↵", "comma": ",", "full_stop": ".",
             "less_than_sign": "<", "greater_than_sign": ">", "slash": "/"}
    return ",".join(names.get(k, k) for k in key.split(","))


class CaptureSource(Protocol):
    path: str  # the file ``--capture`` writes


class RecorderSource(Protocol):
    def status(self) -> RecorderStatus: ...


class AlertListener:
    """A monitor listener that hands each alert change to the app as a message (``post_message`` is thread-safe)."""

    def __init__(self, app: LcmApp) -> None:
        self.app = app

    def on_alert(self, alert: Alert) -> None:
        self.app.post_message(LcmApp.AlertChanged(alert))


Sampler = Callable[[int], object]


class LcmApp(App[int]):
    CSS_PATH = "../../styles/app.tcss"
    TITLE = "lcm-tui"
    COMMANDS = App.COMMANDS | {StreamProvider}
    BINDINGS: ClassVar[list[BindingType]] = [Binding(k.key, k.action, k.description, show=k.show, id=k.id)
                                             for k in KEYS]
    EXTRA_KEYS: tuple[KeySpec, ...] = ()  # a subclass's remappable keys (it binds them in its BINDINGS)
    SAMPLE_ON_TIMER = True  # replay samples on the capture's clock instead
    DEFAULT_MODE = "book"
    # Nothing takes focus on its own: a focused scrollable (the consolidated view) would take the
    # arrow keys, which switch venue and symbol.
    AUTO_FOCUS = None

    class AlertChanged(Message):
        """The detector opened, escalated or closed an alert (posted from the sample clock's listener)."""

        def __init__(self, alert: Alert) -> None:
            super().__init__()
            self.alert = alert

    def __init__(
        self,
        settings: Settings,
        view: MarketView,
        *,
        sample: Sampler | None = None,
        recorder: RecorderSource | None = None,
        capture: CaptureSource | None = None,
        clock: Callable[[], int] = time.time_ns,
        timers: bool = True,
        freeze_gc: bool = False,
    ) -> None:
        self.settings = settings
        self.view = view
        self.sample = sample
        self.recorder = recorder
        self.capture = capture
        self._remember_theme = False  # from mount on, a theme change is a user's pick
        self.clock = clock
        self.timers = timers
        self.freeze_gc = freeze_gc
        self.paused = False
        self.note = ""  # extra status text (replay position)
        self._frames: dict[tuple[str, str], deque[tuple[int, int]]] = {}
        self._gc_threshold: tuple[int, int, int] | None = None  # the thresholds to restore at exit
        self._gc_due = False
        self.venue = ""
        self.symbol = ""
        self.alert_state = AlertsState()  # filters, acknowledgements and cursor of every alerts panel
        super().__init__()
        for page, screen in (("book", BookScreen), ("venues", VenuesScreen), ("consolidated", ConsolidatedScreen)):
            self.add_mode(page, partial(screen, view, settings, self.refresh_views))
        # ui.keys and ui.theme were checked with the rest of the settings (config.parse_settings).
        self.set_keymap(dict(settings.ui.keys))
        self.theme = prefs.initial_theme(settings.ui.theme, self.available_themes)
        streams = self.stream_keys()
        if streams:
            self.venue, self.symbol = streams[0]
            view.watch(self.venue, self.symbol)

    def key_for(self, binding_id: str) -> str:
        """The key bound to ``binding_id`` after remapping, as shown to the user."""
        default = next(k.key for k in KEYS + self.EXTRA_KEYS if k.id == binding_id)
        return _key_label(self.settings.ui.keys.get(binding_id, default))

    # ------------------------------------------------------------------------------------ pages
    @property
    def page(self) -> str:
        return self.current_mode

    @property
    def book(self) -> BookScreen:
        """The book page (created with the app: it is the first mode)."""
        return self._page_screen("book", BookScreen)

    def _page_screen(self, mode: str, kind: type[_S]) -> _S:
        stack = self._screen_stacks.get(mode) or []
        screen = stack[0] if stack else None
        if not isinstance(screen, kind):
            raise LookupError(f"the {mode} page is not open")
        return screen

    @property
    def page_screen(self) -> MarketScreen | None:
        """The page on screen (under the help screen or the palette when one is open)."""
        stack = self.screen_stack
        base = stack[0] if stack else None
        return base if isinstance(base, MarketScreen) and base.drawable else None

    def on_mount(self) -> None:
        self._remember_theme = True
        if self.timers:
            if self.SAMPLE_ON_TIMER:
                self.set_interval(self.settings.metrics.sample_interval_s, self.sample_now, name="sample")
            self.set_interval(1.0 / self.settings.ui.fps, self.refresh_views, name="refresh")
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

    def on_lcm_app_alert_changed(self, message: AlertChanged) -> None:
        a = message.alert
        if a.is_open:
            self.notify(f"{a.severity.value.upper()} {a.venue} {a.symbol} {a.signal} z {a.peak_z:+.1f}",
                        severity="error" if a.severity.value == "critical" else "warning", timeout=4)
        self.refresh_views()

    # ------------------------------------------------------------------------------- data -> view
    def sample_now(self) -> None:
        if self.sample is None:
            return
        try:
            self.sample(self.clock())
        except Exception:  # keep the display alive; the error is in the log with its traceback
            log.exception("sampling failed")

    def stream_keys(self) -> list[tuple[str, str]]:
        return [sv.key for sv in self.view.streams()]

    def venues(self) -> list[str]:
        return list(dict.fromkeys(v for v, _ in self.stream_keys()))

    def _frames_per_s(self, key: tuple[str, str], sv: StreamView | None, now: int) -> float | None:
        if sv is None:
            return None
        hist = self._frames.setdefault(key, deque(maxlen=128))
        hist.append((now, sv.counters.frames))
        while len(hist) > 2 and now - hist[1][0] >= 2_000_000_000:
            hist.popleft()
        t0, f0 = hist[0]
        return (sv.counters.frames - f0) * 1e9 / (now - t0) if now > t0 else None

    def refresh_views(self) -> None:
        """Let the page on screen draw what is visible (hidden panels cost nothing)."""
        if not self.paused:
            self._refresh()
        if self._gc_threshold is not None and not self._gc_due and gc.get_count()[2] >= FULL_GC_EVERY:
            self._gc_due = True
            self.call_after_refresh(self._collect_after_frame)

    def _collect_after_frame(self) -> None:
        """The full collection automatic GC no longer does, in the idle time after a frame."""
        self._gc_due = False
        gc.collect()

    def selection(self) -> Selection:
        now = self.clock()
        key = (self.venue, self.symbol)
        sv = self.view.stream(*key) if self.venue else None
        rs = self.recorder.status() if self.recorder is not None else None
        open_alerts = self.alert_state.unacked_open(self.view.alerts())
        header = StatusInfo(sv, self.venue or "-", self.symbol or "no streams", now, self._frames_per_s(key, sv, now),
                            self.paused, rs, self.note, open_alerts, self._capture_info())
        return Selection(self.venue, self.symbol, header, self.alert_state)

    def _refresh(self) -> None:
        page = self.page_screen
        if page is not None:
            page.show(self.selection())

    # ------------------------------------------------------------------------------------ actions
    def select(self, venue: str, symbol: str) -> None:
        if (venue, symbol) not in self.stream_keys():
            return
        if (venue, symbol) != (self.venue, self.symbol):
            self.venue, self.symbol = venue, symbol
            self.view.watch(venue, symbol)
            for mode in PAGES:
                for screen in self._screen_stacks.get(mode, [])[:1]:
                    if isinstance(screen, MarketScreen) and screen.drawable:
                        screen.stream_changed()
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
        else:
            self.notify(f"no venue {n}: {len(vs)} venue{'s' if len(vs) != 1 else ''} configured", timeout=2)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._refresh()

    async def action_toggle_page(self, page: str) -> None:
        await self.switch_mode("book" if self.page == page else page)
        self._refresh()

    def action_toggle_panel(self, name: str) -> None:
        if name in PANELS:
            self.book.toggle_panel(name)
        self._refresh()

    def _capture_info(self) -> CaptureInfo | None:
        if self.capture is None:
            return None
        try:
            size: int | None = os.stat(self.capture.path).st_size
        except OSError:
            size = None
        return CaptureInfo(self.capture.path, size)

    def watch_theme(self, theme: str) -> None:
        """A theme picked with ``t`` or the palette is remembered for the next run (see ``prefs``)."""
        if self._remember_theme:
            prefs.remember_theme(theme, self.settings.ui.theme)

    def action_next_theme(self) -> None:
        names = [t for t in THEME_CYCLE if t in self.available_themes]
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    # ------------------------------------------------------------------------------------ alerts
    def _alerts_on_screen(self) -> bool:
        """Alert keys act only where an alerts panel is shown (pressed elsewhere they would act unseen)."""
        page = self.page_screen
        return page is not None and page is self.screen and any(p.display for p in page.query(AlertsPanel))

    def action_alert_filter(self, which: str) -> None:
        if not self._alerts_on_screen():
            return
        st = self.alert_state
        if which == "open":
            st.filter.open_only = not st.filter.open_only
        elif which == "severity":
            st.cycle_severity()
        elif which == "venue":
            st.filter.venue = None if st.filter.venue is not None or not self.venue else self.venue
        self._refresh()

    def action_alert_cursor(self, step: int) -> None:
        if self._alerts_on_screen():
            self.alert_state.move(self.view.alerts(), step)
            self._refresh()

    def action_alert_ack(self) -> None:
        a = self.alert_state.current(self.view.alerts()) if self._alerts_on_screen() else None
        if a is not None:
            # No toast: it would cover the alerts panel, where the row itself now says "acked".
            self.alert_state.toggle_ack(a)
            self._refresh()

    async def action_alert_go(self) -> None:
        a = self.alert_state.current(self.view.alerts()) if self._alerts_on_screen() else None
        if a is not None:
            await self.go_to_alert(a)

    async def go_to_alert(self, a: Alert) -> None:
        """The alert's stream on the book page; a market-wide alert (venue ``market``, symbol the asset) opens
        the consolidated page of its asset."""
        self.alert_state.cursor = alert_id(a)
        keys = self.stream_keys()
        if (a.venue, a.symbol) in keys:
            self.select(a.venue, a.symbol)
            page = "book"
        else:
            same = [k for k in keys if canonical(*k).split("-")[0] == a.symbol]
            if not same:
                self.notify(f"{a.venue} {a.symbol}: not a stream of this run", timeout=2)
                self._refresh()
                return
            mine = [k for k in same if k[0] == self.venue]
            self.select(*(mine or same)[0])
            page = "consolidated"
        if self.page != page:
            await self.switch_mode(page)
        self._refresh()

    async def on_alerts_panel_picked(self, message: AlertsPanel.Picked) -> None:
        await self.go_to_alert(message.alert)

    async def on_venues_overview_picked(self, message: VenuesOverview.Picked) -> None:
        self.select(message.venue, message.symbol)
        if self.page != "book":
            await self.switch_mode("book")
        self._refresh()

    def help_rows(self) -> list[tuple[str, str]]:
        rows = []
        for spec in KEYS + self.EXTRA_KEYS:
            if spec.id in PAIRS.values() or spec.id in GROUPED or (spec.id.startswith("venue_")
                                                                     and spec.id != "venue_1"):
                continue
            key = self.key_for(spec.id)
            if spec.id in HELP_GROUPS:
                ids, text = HELP_GROUPS[spec.id]
                rows.append((" ".join(self.key_for(i) for i in ids), text))
                continue
            if spec.id in PAIRS:
                key = f"{key} / {self.key_for(PAIRS[spec.id])}"
            elif spec.id == "venue_1":
                digits = [self.key_for(f"venue_{i}") for i in range(1, 10)]
                key = "1-9" if digits == [str(i) for i in range(1, 10)] else " ".join(digits)
            rows.append((key, HELP_TEXT.get(spec.id, spec.description)))
        rows.append(("ctrl+p", "command palette: jump to any venue and symbol, change theme"))
        return rows

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_rows()))


# ------------------------------------------------------------------------------------ entry points
async def _live(settings: Settings, demo: bool, capture: str | None) -> int:
    # The engine starts and stops the simulator, capture, hub (it supervises the runners) and recorder;
    # the app only reads its view and ticks its sample clock.
    import sys

    from lcm_tui.runtime.engine import EngineError, open_live

    recorder, errors = _recorder_plugin(settings)
    try:
        async with open_live(settings, demo=demo, capture=capture, recorder=recorder,
                             recorder_errors=errors) as engine:
            app = LcmApp(settings, engine.view, sample=engine.sample,
                         recorder=cast("RecorderSource | None", engine.recorder), capture=engine.capture,
                         freeze_gc=True)
            engine.monitor.add_listener(AlertListener(app))
            from lcm_tui.frontends.tui.lifecycle import run_with_exit_signals

            await run_with_exit_signals(app)  # SIGTERM/SIGHUP restore the terminal
            return app.return_code or 0
    except EngineError as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2


def _recorder_plugin(settings: Settings) -> tuple[RecorderFactory | None, tuple[type[BaseException], ...]]:
    if not settings.recorder.enabled:
        return None, ()
    from lcm_tui.record import Recorder, RecorderError

    return Recorder, (RecorderError,)


def run_app(settings: Settings, demo: bool = False, capture: str | None = None) -> int:
    """``lcm-tui [--demo] [--capture F]``: the live monitor until the user quits."""
    return asyncio.run(_live(settings, demo, capture))


__all__: Sequence[str] = ("LcmApp", "run_app")
