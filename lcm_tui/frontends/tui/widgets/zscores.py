"""One sparkline per detector signal with its current z, the threshold, and the severity as a colour."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from lcm_tui.config import DetectorConfig
from lcm_tui.core.detector import STREAM_SIGNALS, level
from lcm_tui.core.view import SignalView

SEVERITY_CLASSES = ("-ok", "-warning", "-high", "-critical", "-warmup")


def severity_class(signal: str, z: float | None, cfg: DetectorConfig) -> str:
    """A crunch is depth falling (z <= -open_z) or spread/slippage rising (z >= open_z)."""
    if z is None:
        return "-warmup"
    sev = level(signal, z, cfg)  # the detector's own ladder
    return "-ok" if sev is None else f"-{sev.value}"


def z_text(signal: str, z: float | None, cfg: DetectorConfig) -> str:
    thr = f"{'≤-' if signal == 'depth' else '≥'}{cfg.open_z:g}"
    if z is None:
        return f"warm-up {thr}".rjust(13)
    return f"{z:+6.2f} {thr}".rjust(13)


class ZRow(Horizontal):
    DEFAULT_CSS = """
    ZRow { height: 1; }
    ZRow > .zname { width: 10; }
    ZRow > Sparkline { width: 1fr; height: 1; margin: 0 1 0 0; }
    ZRow > .zvalue { width: 13; }
    """

    def __init__(self, signal: str) -> None:
        super().__init__(id=f"z-{signal}", classes="-warmup")
        self.signal = signal

    def compose(self) -> ComposeResult:
        yield Label(self.signal, classes="zname")  # the detector's name, as JSON and the alerts spell it
        yield Sparkline([], id=f"spark-{self.signal}")
        yield Label("", classes="zvalue")


class ZScorePanel(Vertical):
    """One row per detector signal of the stream on screen (``MarketView.signals``); none shows warm-up."""

    DEFAULT_CSS = """
    ZScorePanel { height: auto; }
    """

    def __init__(self, cfg: DetectorConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cfg = cfg
        self._last: dict[str, tuple[float | None, int, float | None, float | None]] = {}

    def compose(self) -> ComposeResult:
        for s in STREAM_SIGNALS:
            yield ZRow(s)

    def show(self, signals: Sequence[SignalView]) -> None:
        by = {sv.name: sv for sv in signals}
        for s in STREAM_SIGNALS:
            sv = by.get(s)
            z = sv.z if sv is not None else None
            data = sv.history if sv is not None else []
            key = (z, len(data), data[-1] if data else None, data[0] if data else None)
            if self._last.get(s) == key:
                continue
            self._last[s] = key
            row = self.query_one(f"#z-{s}", ZRow)
            cls = severity_class(s, z, self.cfg)
            if not row.has_class(cls):  # a restyle of the row's subtree: only when the severity changes
                row.remove_class(*SEVERITY_CLASSES)
                row.add_class(cls)
            row.query_one(Sparkline).data = data
            # fixed width: no layout pass needed (a layout per tick would cost more than the whole panel)
            row.query_one(".zvalue", Label).update(z_text(s, z, self.cfg), layout=False)
