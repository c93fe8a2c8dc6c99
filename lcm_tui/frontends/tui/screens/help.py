"""The ``?`` screen: every key as currently bound (after ``ui.keys`` remapping), sized for 80x24."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

LEGEND = (
    "Status: LIVE green, CONNECTING/SYNCING/RESYNCING yellow, STALE orange, DOWN red. "
    "Ladder: highlighted sizes changed since the last refresh; BAND marks the last level inside a depth band. "
    "Z-scores turn yellow/orange/red at warning/high/critical."
)


def keys_table(rows: list[tuple[str, str]]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column()
    for key, desc in rows:
        t.add_row(key, desc)
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "close", show=False)]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen .legend { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = "lcm-tui keys"
            v.border_subtitle = "esc to close"
            yield Static(keys_table(self.rows))
            yield Static(Text(LEGEND), classes="legend")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
