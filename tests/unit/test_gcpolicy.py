"""The collector policy of the processes without a screen: set while the sample clock runs, undone after."""

from __future__ import annotations

import asyncio
import gc

from lcm_tui.config import parse_settings
from lcm_tui.runtime.engine import Engine
from lcm_tui.runtime.gcpolicy import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD, service_gc


def test_service_gc_sets_freezes_once_and_restores() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with service_gc() as settle:
        assert gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
        assert gc.get_freeze_count() == frozen_before
        keep = [object() for _ in range(10)]  # alive when the heap settles: frozen
        settle()
        assert gc.get_freeze_count() >= frozen_before + len(keep)
        n = gc.get_freeze_count()
        settle()  # once only
        assert gc.get_freeze_count() == n
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_the_engines_sample_clock_runs_under_it_and_settles_when_every_stream_is_live() -> None:
    s = parse_settings({"exchanges": {"okx": {"symbols": ["BTC-USDT"]}}, "metrics": {"sample_interval_s": 0.05}})
    e = Engine(s, mode="live")  # no streams: nothing to wait for, so the first tick settles the heap
    seen: list[tuple[tuple[int, int, int], int]] = []
    before = gc.get_threshold()

    def on_tick(t_ns: int) -> bool:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return len(seen) == 2

    await asyncio.wait_for(e.run_sample_clock(on_tick, asyncio.Event()), 10)
    assert [t for t, _ in seen] == [(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)] * 2
    assert seen[0][1] == 0 and seen[1][1] > 0  # frozen after the first tick, not before it
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
