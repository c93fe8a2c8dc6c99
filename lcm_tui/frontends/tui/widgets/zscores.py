"""One sparkline per detector signal with its current z, the threshold, and the severity as a colour.

The panel is one widget that draws its rows itself, not a row of a label, a ``Sparkline`` and a label per
signal: Textual's compositor asks every widget beside a changed one for its lines at every screen update,
and the slippage table above this panel changes at every frame (``benches/ui.py``: sixteen small widgets
cost more than the ladder). The sparkline is Textual's own renderable, coloured as Textual's
``Sparkline`` widget colours it, so the panel looks the same as one built from those widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from textual.geometry import Size
from textual.renderables.sparkline import Sparkline
from textual.strip import Strip
from textual.style import Style as TStyle

from lcm_tui.config import DetectorConfig
from lcm_tui.core.detector import STREAM_SIGNALS, level
from lcm_tui.core.view import SignalView
from lcm_tui.frontends.tui.widgets.direct import DirectLines

SEVERITY_CLASSES = ("-ok", "-warning", "-high", "-critical", "-warmup")
SEVERITIES = tuple(c[1:] for c in SEVERITY_CLASSES)
NAME_W, VALUE_W, GAP_W = 10, 13, 1  # the signal's name, its z and threshold, the gap after the sparkline


def severity_class(signal: str, z: float | None, cfg: DetectorConfig) -> str:
    """A crunch is depth falling (z <= -open_z) or spread/slippage rising (z >= open_z)."""
    if z is None:
        return "-warmup"
    sev = level(signal, z, cfg)  # the detector's own ladder
    return "-ok" if sev is None else f"-{sev.value}"


def z_text(signal: str, z: float | None, cfg: DetectorConfig) -> str:
    thr = f"{'≤-' if signal == 'depth' else '≥'}{cfg.open_z:g}"
    if z is None:
        return f"warm-up {thr}".rjust(VALUE_W)
    return f"{z:+6.2f} {thr}".rjust(VALUE_W)


class ZScorePanel(DirectLines):
    """One row per detector signal of the stream on screen (``MarketView.signals``); none shows warm-up."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"zscores--value-{s}" for s in SEVERITIES),
        *(f"zscores--spark-{s}-{end}" for s in SEVERITIES for end in ("min", "max")),
    }
    DEFAULT_CSS = """
    ZScorePanel { height: auto; }
    ZScorePanel > .zscores--spark-warmup-max { color: $primary; }
    ZScorePanel > .zscores--spark-warmup-min { color: $primary 30%; }
    """

    def __init__(self, cfg: DetectorConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cfg = cfg
        self.rows: dict[str, tuple[str, list[float], str]] = {  # signal -> (severity, history, z text)
            s: ("warmup", [], z_text(s, None, cfg)) for s in STREAM_SIGNALS}
        self._keys: dict[str, tuple[float | None, int, float | None, float | None]] = {}
        self._strips: list[Strip] | None = None

    def show(self, signals: Sequence[SignalView]) -> None:
        by = {sv.name: sv for sv in signals}
        changed = False
        for s in STREAM_SIGNALS:
            sv = by.get(s)
            z = sv.z if sv is not None else None
            history = sv.history if sv is not None else []
            # A history only grows or slides by a sample at a time: its length and ends tell a new one.
            key = (z, len(history), history[0] if history else None, history[-1] if history else None)
            if self._keys.get(s) != key:
                self._keys[s] = key
                self.rows[s] = (severity_class(s, z, self.cfg)[1:], list(history), z_text(s, z, self.cfg))
                changed = True
        if changed:
            self._strips = None
            self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(STREAM_SIGNALS)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None

    def on_resize(self) -> None:
        self._strips = None

    def render_line(self, y: int) -> Strip:
        if self._strips is None:
            self._strips = [self._row(s, *self.rows[s]) for s in STREAM_SIGNALS]
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _row(self, signal: str, sev: str, history: list[float], z: str) -> Strip:
        width = self.size.width
        base = self.rich_style
        spark_w = max(0, width - NAME_W - VALUE_W - GAP_W)
        base_background, background = self.background_colors
        blank = TStyle(background=base_background + background).rich_style  # what a label is padded with
        name = signal[:NAME_W]
        segs = [Segment(name, base), Segment(" " * (NAME_W - len(name)), blank)]
        if spark_w:
            low = background + self.get_component_styles(f"zscores--spark-{sev}-min").color
            high = background + self.get_component_styles(f"zscores--spark-{sev}-max").color
            spark = Sparkline(history, width=spark_w, height=1, min_color=low.rich_color, max_color=high.rich_color)
            console = self.app.console
            segs += [Segment(seg.text, base + seg.style if seg.style else base)
                     for seg in console.render(spark, console.options) if seg.text != "\n"]
            segs.append(Segment(" " * GAP_W, base))
        value_style = base + self.get_component_rich_style(f"zscores--value-{sev}")
        segs.append(Segment(z[-VALUE_W:].rjust(VALUE_W), value_style))
        return Strip(segs).adjust_cell_length(width, base)
