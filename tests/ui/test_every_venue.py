"""The venues overview shows every venue of the registry, from the real demo: no venue drops out quietly.

The list of venues comes from ``venues/registry.py`` (the one list), so a new venue is picked up here
without editing the test, and an adapter or simulator that fails to load fails this test by name
instead of vanishing from the screen.
"""

from __future__ import annotations

import re

from lcm_tui.config import parse_settings
from lcm_tui.core.model import StreamStatus
from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.runtime.engine import open_live
from lcm_tui.venues import registry


def _text(app: LcmApp) -> str:
    return re.sub(r"<[^>]+>", "", app.export_screenshot()).replace("&#160;", " ")


async def test_the_venues_overview_lists_every_registry_venue_live() -> None:
    names = registry.names()
    settings = parse_settings({
        "demo": {"symbols": ["BTC-USDT"]},
        "feeds": {"stale_after_s": 30, "reconnect_min_s": 0.02, "reconnect_max_s": 0.2},
    })
    async with open_live(settings, demo=True, demo_step_interval_s=0.05, demo_fault_rate=0) as eng:
        assert sorted({sv.venue for sv in eng.view.streams()}) == sorted(names)
        app = LcmApp(eng.settings, eng.view, sample=eng.sample)
        async with app.run_test(size=(200, 60)) as pilot:
            for _ in range(1500):
                if all(sv.status is StreamStatus.LIVE for sv in eng.view.streams()) and eng.monitor.last_sample_ns:
                    break
                await pilot.pause(0.02)
            not_live = {sv.key: (sv.status, sv.detail) for sv in eng.view.streams()
                        if sv.status is not StreamStatus.LIVE}
            assert not not_live
            await pilot.press("v")
            await pilot.pause(1.2)  # the overview is on the sample clock
            text = _text(app)
            missing = [v for v in names if not re.search(rf"(^|\s){re.escape(v)}\s", text, re.M)]
            assert not missing, f"venues missing from the overview: {missing}"
