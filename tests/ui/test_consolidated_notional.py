"""The consolidated page's notional can be typed as well as stepped with [ ]."""

from __future__ import annotations

from typing import Any

import pytest
from ui_fakes import NOW_NS, filled_market, settings

from lcm_tui.frontends.tui.app import LcmApp
from lcm_tui.frontends.tui.screens.market import ConsolidatedScreen
from lcm_tui.frontends.tui.widgets.consolidated import parse_notional


def make_app() -> LcmApp:
    s = settings()
    m = filled_market(s)
    return LcmApp(s, m, sample=m.sample, clock=lambda: NOW_NS, timers=False)


def page(app: LcmApp) -> ConsolidatedScreen:
    p = app.page_screen
    assert isinstance(p, ConsolidatedScreen)
    return p


async def type_notional(pilot: Any, text: str) -> None:
    await pilot.press("equals_sign")
    await pilot.pause()
    await pilot.press("ctrl+a", "ctrl+k")  # the field opens holding the current notional
    await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


async def test_a_typed_notional_gets_its_own_best_execution_split() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        await type_notional(pilot, "250k")
        view = page(app).consolidated
        assert view.notional == 250_000.0
        assert not view.query_one("#cons-notional").display  # closed again: the arrows switch asset
        m = view.metrics
        assert m is not None
        buy = {n: m.split("buy", n) for n in (100_000.0, 250_000.0, 1_000_000.0)}
        assert all(s is not None for s in buy.values())
        s250 = buy[250_000.0]
        assert s250 is not None
        # A buy split spends the notional, fees included, across the venues it picked...
        assert s250.filled == pytest.approx(250_000.0) and sum(a.notional for a in s250.allocations) == \
            pytest.approx(250_000.0)
        # ...and a bigger order walks deeper books: its all-in price lies between the smaller and the larger.
        v = [buy[n].vwap_all_in for n in sorted(buy)]  # type: ignore[union-attr]
        assert v[0] is not None and v[1] is not None and v[2] is not None and v[0] <= v[1] <= v[2]
        split_w = view.query_one("#cons-split")
        drawn = "".join(split_w.render_line(y).text for y in range(split_w.size.height))
        assert "best execution of 250k" in drawn
        await pilot.press("right_square_bracket")  # from a typed size, [ ] go to the configured ones beside it
        assert view.notional == 1_000_000.0
        await type_notional(pilot, "250000")
        await pilot.press("left_square_bracket")
        assert view.notional == 100_000.0


async def test_a_typing_mistake_is_one_line_and_the_field_stays_open() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        before = page(app).consolidated.notional
        await type_notional(pilot, "lots")
        view = page(app).consolidated
        assert view.notional == before and view.query_one("#cons-notional").display
        await pilot.press("escape")
        await pilot.pause()
        assert not view.query_one("#cons-notional").display
        await pilot.press("down")  # the arrows are the app's again, not the field's
        assert app.focused is None


@pytest.mark.parametrize(("text", "value"), [("250000", 250e3), ("250,000", 250e3), ("250k", 250e3), ("1.5m", 1.5e6),
                                             ("2B", 2e9), (" 75 K ", 75e3), (".5m", 5e5)])
def test_notional_forms(text: str, value: float) -> None:
    assert parse_notional(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-5k", "0", "1e3", "5kk", "2000b"])
def test_notional_mistakes_are_one_line(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an amount|must be above 0") as e:
        parse_notional(text)
    assert "\n" not in str(e.value)
