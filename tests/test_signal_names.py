"""One name per detector signal: the README's names are the ones in JSON, on screen and in the detector.

The names are typed in here from README.md ("What the numbers mean" and "JSON output"), so a screen
that abbreviates one (``slip+``, ``mkt depth``) or a renamed signal fails.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual.app import App, ComposeResult

from lcm_tui.core.consolidated import MARKET_DEPTH_SIGNAL
from lcm_tui.core.detector import SIGNALS
from lcm_tui.core.detector import STREAM_SIGNALS as DETECTOR_STREAM_SIGNALS
from lcm_tui.core.model import Alert, Severity
from lcm_tui.core.settings import DetectorConfig
from lcm_tui.frontends import jsonout
from lcm_tui.frontends.tui.widgets.alerts import alerts_table
from lcm_tui.frontends.tui.widgets.zscores import ZScorePanel

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
STREAM_SIGNALS = ["depth", "spread", "slip_buy", "slip_sell"]
ALL_SIGNALS = [*STREAM_SIGNALS, "market:depth"]


def test_the_detector_and_json_use_the_readme_names() -> None:
    assert list(SIGNALS) == ALL_SIGNALS and list(DETECTOR_STREAM_SIGNALS) == STREAM_SIGNALS
    assert MARKET_DEPTH_SIGNAL == "market:depth"
    assert list(jsonout.z_object()) == STREAM_SIGNALS
    for name in ALL_SIGNALS:
        assert f"`{name}`" in README, name
    # The README's documented z object has the same keys, in the same order.
    documented = re.search(r'"z": \{([^}]*)\}', README)
    assert documented is not None
    assert re.findall(r'"(\w+)":', documented.group(1)) == STREAM_SIGNALS


def test_the_screen_shows_the_same_names() -> None:
    alerts = [Alert("market" if s.startswith("market:") else "okx", "BTC-USDT", s, 10**18 + i, -4.2, Severity.HIGH)
              for i, s in enumerate(ALL_SIGNALS)]
    for width in (100, 50):  # the wide table and the narrow panel (two lines an alert: venue and symbol below)
        drawn = alerts_table(alerts, 2 * len(alerts), width).plain
        rows = [r for r in drawn.splitlines()[2:] if re.match(r"\d\d:\d\d:\d\d ", r)]
        assert [next(n for n in ALL_SIGNALS if f" {n} " in r) for r in rows] == ALL_SIGNALS[::-1]  # newest first
    for screen in re.findall(r"```\n(.*?)```", README, flags=re.S):  # the README's screen dumps
        assert not re.search(r"slip[+-]|slip buy|slip sell|mkt depth", screen)


class _ZApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ZScorePanel(DetectorConfig())


async def test_the_z_panel_draws_the_same_names() -> None:
    async with _ZApp().run_test(size=(60, 6)) as pilot:
        panel = pilot.app.query_one(ZScorePanel)
        drawn = [panel.render_line(y).text for y in range(len(STREAM_SIGNALS))]
    assert [line.split()[0] for line in drawn] == STREAM_SIGNALS
