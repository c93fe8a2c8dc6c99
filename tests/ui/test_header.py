"""The header says what the process is doing: capture on (file and size), the recorder with its reason;
and the theme a user picks is there again at the next start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ui_fakes import NOW_NS, filled_market, settings

from lcm_tui.frontends.tui import prefs
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.record.status import RecorderStatus


class FakeCapture:
    def __init__(self, path: str) -> None:
        self.path = path


class FakeRecorder:
    def __init__(self, status: RecorderStatus) -> None:
        self._status = status

    def status(self) -> RecorderStatus:
        return self._status


# The database went away 12 s before the test's "now", with the error the driver gave.
DOWN = RecorderStatus(rows_written=0, queue_depth=0, lag_s=3.0, spilled_rows=192, down_since=NOW_NS / 1e9 - 12,
                      last_error="connection refused (127.0.0.1:5432)", spill_bytes=40_000)


def header_app(capture: str | None = None, recorder: RecorderStatus | None = None, **ui: Any) -> LcmApp:
    s = settings(**ui)
    m = filled_market(s)
    return LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False,
                  capture=FakeCapture(capture) if capture else None,
                  recorder=FakeRecorder(recorder) if recorder else None)


def screen_lines(app: LcmApp, rows: int = 2) -> list[str]:
    """The header as painted (cut to the terminal's width), not the text before cutting."""
    page = app.page_screen
    assert page is not None
    w = page.status_line
    return [w.render_line(y).text for y in range(rows)]


async def test_capture_file_and_size_and_the_recorders_reason_fit_80_columns(tmp_path: Path,
                                                                             monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    Path("cap.jsonl").write_bytes(b"x" * 1234)
    app = header_app("cap.jsonl", DOWN)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = screen_lines(app)[1]
        assert "● capture cap.jsonl 1.2 kB" in line, line
        # The reason headless prints (RecorderStatus.describe), early enough in the line to be seen.
        assert "rec DOWN 12s" in line
        Path("cap.jsonl").write_bytes(b"x" * 2_500_000)
        app.refresh_views()
        await pilot.pause()
        assert "cap.jsonl 2.5 MB" in screen_lines(app)[1]
        Path("cap.jsonl").unlink()  # deleted under a running capture: said, not hidden
        app.refresh_views()
        await pilot.pause()
        assert "cap.jsonl size ?" in screen_lines(app)[1]


async def test_the_recorders_reason_is_in_the_header_when_it_is_down() -> None:
    app = header_app(recorder=DOWN)
    async with app.run_test(size=(200, 24)) as pilot:
        await pilot.pause()
        line = screen_lines(app)[1]
        assert DOWN.describe(NOW_NS / 1e9) in line
        assert "connection refused (127.0.0.1:5432)" in line


def test_header_with_capture_and_recorder_snapshot(snap_compare: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    Path("cap.jsonl").write_bytes(b"x" * 1234)
    assert snap_compare(header_app("cap.jsonl", DOWN), terminal_size=(120, 40))


# ---- the theme between runs ------------------------------------------------------------------------


async def test_a_picked_theme_is_there_at_the_next_start(config_home: Path) -> None:
    first = header_app()
    async with first.run_test(size=(80, 24)) as pilot:
        assert first.theme == "textual-dark"
        await pilot.press("t")
        picked = first.theme
    assert picked != "textual-dark"
    state = json.loads((config_home / "lcm-tui" / "state.json").read_text())
    assert state == {"theme": picked, "config_theme": "textual-dark"}
    again = header_app()
    async with again.run_test(size=(80, 24)):
        assert again.theme == picked


async def test_editing_ui_theme_after_a_pick_wins(config_home: Path) -> None:
    """The most recent choice wins: a pick made under ui.theme X is dropped once ui.theme says Y."""
    prefs.remember_theme("nord", "textual-dark")
    app = header_app(theme="gruvbox")
    async with app.run_test(size=(80, 24)):
        assert app.theme == "gruvbox"
    same = header_app(theme="textual-dark")
    async with same.run_test(size=(80, 24)):
        assert same.theme == "nord"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"theme": "no-such-theme", "config_theme": '
                                     b'"textual-dark"}', b"\xff\xfe"])
async def test_a_broken_state_file_is_ignored(config_home: Path, content: bytes) -> None:
    d = config_home / "lcm-tui"
    d.mkdir(parents=True)
    (d / "state.json").write_bytes(content)
    app = header_app()
    async with app.run_test(size=(80, 24)):
        assert app.theme == "textual-dark"


def test_the_config_dir_follows_xdg_then_home(tmp_path: Path) -> None:
    assert prefs.config_dir({"XDG_CONFIG_HOME": "/x/cfg", "HOME": "/h"}) == Path("/x/cfg/lcm-tui")
    assert prefs.config_dir({"HOME": "/h"}) == Path("/h/.config/lcm-tui")
    assert prefs.config_dir({"XDG_CONFIG_HOME": "relative", "HOME": "/h"}) == Path("/h/.config/lcm-tui")  # XDG spec
