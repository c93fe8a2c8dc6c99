"""The header: which stream is shown, whether it can be trusted (status, counters, age) and how busy it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widget import Widget

from lcm_tui.core.model import StreamStatus, SymbolState
from lcm_tui.frontends.tui import fmt

STATUS_STYLE: dict[StreamStatus, str] = {
    StreamStatus.LIVE: "bold green",
    StreamStatus.CONNECTING: "bold yellow",
    StreamStatus.SYNCING: "bold yellow",
    StreamStatus.RESYNCING: "bold yellow",
    StreamStatus.STALE: "bold dark_orange",
    StreamStatus.DOWN: "bold white on red",
}


@dataclass(slots=True)
class StatusInfo:
    state: SymbolState | None
    venue: str
    symbol: str
    now_ns: int
    frames_per_s: float | None
    paused: bool = False
    recorder: Any = None  # a RecorderStatus, duck-typed: the recorder is optional
    note: str = ""  # e.g. the replay position and speed


def recorder_text(rs: Any) -> Text:
    if rs is None:
        return Text()
    down = getattr(rs, "down_since", None)
    style = "bold white on red" if down else "green"
    t = Text("rec ", style="bold")
    t.append(f"{getattr(rs, 'rows_written', 0)} rows q{getattr(rs, 'queue_depth', 0)}", style=style)
    lag = getattr(rs, "lag_s", None)
    if lag:
        t.append(f" lag {lag:.1f}s", style=style)
    spilled = getattr(rs, "spilled_rows", 0)
    if spilled:
        t.append(f" spilled {spilled}", style="yellow")
    if down:
        t.append(" DOWN", style=style)
        err = getattr(rs, "last_error", "")
        if err:
            t.append(f" {err}", style="red")
    return t


def status_text(info: StatusInfo) -> tuple[Text, Text]:
    """Two lines: identity and health, then the counters (gaps and resyncs tell why a book was rebuilt)."""
    st = info.state
    top = Text(no_wrap=True, overflow="ellipsis")
    top.append(f" {info.venue} ", style="bold reverse")
    top.append(f" {info.symbol} ", style="bold")
    if st is None:
        top.append(" no stream ", style="bold red")
        return top, Text(" ")
    top.append(f" {st.status.value.upper()} ", style=STATUS_STYLE.get(st.status, "bold"))
    if st.status_detail and st.status is not StreamStatus.LIVE:
        top.append(f" {st.status_detail}", style="yellow")
    top.append(f"  age {fmt.age(info.now_ns, st.last_update_ns)}")
    fps = "-" if info.frames_per_s is None else f"{info.frames_per_s:.0f}"
    top.append(f"  {fps} frames/s")
    if info.paused:
        top.append("  PAUSED", style="bold reverse yellow")
    if info.note:
        top.append(f"  {info.note}", style="bold cyan")
    c = st.counters
    bottom = Text(no_wrap=True, overflow="ellipsis")
    bottom.append(f" frames {c.frames} · gaps {c.gaps} · resyncs {c.resyncs} · cksum {c.checksum_failures} · "
                  f"malformed {c.malformed} · reconn {c.reconnects} · crossed {c.crossed}", style="dim")
    if info.recorder is not None:
        bottom.append("  ")
        bottom.append_text(recorder_text(info.recorder))
    return top, bottom


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine { height: 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: tuple[Text, Text] = (Text(""), Text(""))

    def show(self, info: StatusInfo) -> None:
        lines = status_text(info)
        if lines != self._lines:
            self._lines = lines
            self.refresh()

    def render(self) -> Text:
        return Text("\n").join(self._lines)
