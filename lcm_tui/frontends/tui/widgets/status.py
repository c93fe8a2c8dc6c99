"""The header: which stream is shown, whether it can be trusted (status, counters, age) and how busy it is.

Its second line starts with what the process is doing besides showing the market (writing a capture file,
recording to PostgreSQL, with the recorder's reason when it is down), because the end of a line is what a
narrow terminal cuts. In replay a third line is the progress through the capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from lcm_tui.core.model import StreamStatus
from lcm_tui.core.view import StreamView
from lcm_tui.frontends.tui import fmt
from lcm_tui.frontends.tui.widgets.progress import ReplayProgress, progress_text

if TYPE_CHECKING:
    from lcm_tui.record.postgres import RecorderStatus

STATUS_STYLE: dict[StreamStatus, str] = {
    StreamStatus.LIVE: "bold green",
    StreamStatus.CONNECTING: "bold yellow",
    StreamStatus.SYNCING: "bold yellow",
    StreamStatus.RESYNCING: "bold yellow",
    StreamStatus.STALE: "bold dark_orange",
    StreamStatus.DOWN: "bold white on red",
}


@dataclass(frozen=True, slots=True)
class StatusInfo:
    stream: StreamView | None
    venue: str
    symbol: str
    now_ns: int
    frames_per_s: float | None
    paused: bool = False
    recorder: RecorderStatus | None = None
    note: str = ""  # e.g. the replay position and speed
    open_alerts: int = 0
    capture: CaptureInfo | None = None
    progress: ReplayProgress | None = None  # replay only


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """The capture file being written (``--capture``) and its size on disk so far."""

    path: str
    size_bytes: int | None  # None: the file cannot be stat'ed (deleted under us, a full disk's error)


def file_size(n: int | None) -> str:
    if n is None:
        return "size ?"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def capture_text(c: CaptureInfo | None) -> Text:
    if c is None:
        return Text()
    style = "bold cyan" if c.size_bytes is not None else "bold white on red"
    return Text(f"● capture {c.path} {file_size(c.size_bytes)}", style=style)


def recorder_text(rs: RecorderStatus | None, now_s: float | None = None) -> Text:
    """The recorder's own one-line summary (what headless prints), red while it is down or losing rows."""
    if rs is None:
        return Text()
    bad = rs.down_since is not None or rs.dropped_rows > 0
    return Text(rs.describe(now_s), style="bold white on red" if bad else "green")


def status_text(info: StatusInfo) -> tuple[Text, Text]:
    """Two lines: identity and health, then the counters (gaps and resyncs tell why a book was rebuilt)."""
    st = info.stream
    top = Text(no_wrap=True, overflow="ellipsis")
    top.append(f" {info.venue} ", style="bold reverse")
    top.append(f" {info.symbol} ", style="bold")
    if st is None:
        top.append(" no stream ", style="bold red")
        return top, Text(" ")
    top.append(f" {st.status.value.upper()} ", style=STATUS_STYLE.get(st.status, "bold"))
    if info.open_alerts:  # early in the line: at 80 columns the end of it is cut
        top.append(f" {info.open_alerts} ALERT{'S' if info.open_alerts != 1 else ''} ", style="bold white on red")
    if st.detail and st.status is not StreamStatus.LIVE:
        top.append(f" {st.detail}", style="yellow")
    top.append(f"  age {fmt.age(info.now_ns, st.last_update_ns)}")
    fps = "-" if info.frames_per_s is None else f"{info.frames_per_s:.0f}"
    top.append(f"  {fps} frames/s")
    if info.paused:
        top.append("  PAUSED", style="bold reverse yellow")
    if info.note:
        top.append(f"  {info.note}", style="bold cyan")
    c = st.counters
    bottom = Text(no_wrap=True, overflow="ellipsis")
    for part in (capture_text(info.capture), recorder_text(info.recorder, info.now_ns / 1e9)):
        if part:
            bottom.append(" ")
            bottom.append_text(part)
            bottom.append(" ")
    bottom.append(f" frames {c.frames} · gaps {c.gaps} · resyncs {c.resyncs} · cksum {c.checksum_failures} · "
                  f"malformed {c.malformed} · reconn {c.reconnects} · crossed {c.crossed}", style="dim")
    return top, bottom


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine { height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    lines: reactive[tuple[Text, Text]] = reactive((Text(""), Text("")), layout=False)
    progress: reactive[ReplayProgress | None] = reactive(None, layout=False)

    def show(self, info: StatusInfo) -> None:
        self.lines = status_text(info)
        if info.progress != self.progress:
            if (info.progress is None) != (self.progress is None):
                self.styles.height = 2 if info.progress is None else 3
            self.progress = info.progress

    def render(self) -> Text:
        # Each line is cut with an ellipsis, never wrapped: a wrapped first line would hide the counters.
        lines = list(self.lines)
        if self.progress is not None:
            lines.append(progress_text(self.progress, self.size.width))
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
