"""The replay's progress line: where in the capture the screen is, of how long, at what speed.

A time machine is only usable if it says where it stands: the capture's time of day at the position, how
far that is into the capture and of how much, the speed, and whether it is seeking (rebuilding the state
of an earlier time takes a re-run of the capture from its start, which is not instant on a long one).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from lcm_tui.frontends.tui import fmt

BAR_MIN = 10  # cells below which the bar is left out (the numbers matter more at 80 columns)


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    start_ns: int  # the capture's first record
    end_ns: int | None  # its last record; None while the capture is still being scanned
    t_ns: int  # the capture time the screen shows
    speed: str  # "x1", "max"
    state: str = ""  # "PAUSED", "done", "seeking to 16:00:05", ...


def span(seconds: float) -> str:
    """Elapsed capture time as H:MM:SS (M:SS under an hour): a position reads better than '3m'."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fraction(p: ReplayProgress) -> float | None:
    if p.end_ns is None:
        return None
    total = p.end_ns - p.start_ns
    if total <= 0:
        return 1.0
    return max(0.0, min(1.0, (p.t_ns - p.start_ns) / total))


def progress_text(p: ReplayProgress, width: int) -> Text:
    """One line: ``16:00:05 ━━━━╸──── 0:05 / 0:10 50% x1 PAUSED``, the bar taking the width left over."""
    frac = fraction(p)
    at = fmt.clock_time(p.t_ns) if p.t_ns else fmt.clock_time(p.start_ns)
    elapsed = span((max(p.t_ns, p.start_ns) - p.start_ns) / 1e9)
    if p.end_ns is None:
        tail = f" {elapsed} / …  {p.speed}"
    else:
        pct = int((frac or 0.0) * 100)  # floor: 100% only at the end
        tail = f" {elapsed} / {span((p.end_ns - p.start_ns) / 1e9)}  {pct}%  {p.speed}"
    head = f" {at} "
    state = f"  {p.state}" if p.state else ""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(head, style="bold")
    bar_w = width - len(head) - len(tail) - len(state) - 1
    if bar_w >= BAR_MIN:
        done = round((frac or 0.0) * bar_w)
        line.append("━" * done, style="bold cyan")
        line.append("─" * (bar_w - done), style="dim")
    line.append(tail)
    if state:
        line.append(state, style="bold yellow" if "seeking" in p.state else "bold")
    return line
