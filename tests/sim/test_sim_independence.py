"""An adapter that misreads the protocol fails the loopback check, because the simulator shares nothing with it.

Each test breaks the reading side on purpose (lcm-tui's book ignores deletes, drops a snapshot's
worst level or keeps sizes as float text, Coinbase's adapter swaps bid and ask, an adapter-side
checksum builds its string wrongly) and shows that the check the loopback tests rely on (every book
equals the simulator's true book after every step, and no integrity counter moved) fails. Had the
simulator kept its truth in lcm-tui's ``OrderBook`` or taken its checksums from the adapters'
module, the same bug would have been on both sides and passed;
``test_a_shared_truth_would_have_hidden_the_bug`` shows that by keeping such a shared truth next to
the simulator's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from lcm_tui.core.book import BookSide, OrderBook
from lcm_tui.core.model import FeedEvent, FeedEventKind
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback, LoopbackLoop
from lcm_tui.venues import registry
from lcm_tui.venues.binance.sim import BinanceSim
from lcm_tui.venues.simbase import IntChange

VENUES = list(registry.names())
STEPS = 40
INTEGRITY = ("gaps", "checksum_failures", "resyncs", "crossed", "malformed", "reconnects")


def symbols(venue: str) -> list[str]:
    return list(registry.spec(venue).example_symbols)


def check(venue: str, steps: int = STEPS, events: list[FeedEvent] | None = None) -> list[str]:
    """What the loopback tests demand of ``venue``'s adapter, step by step: every book equals the
    simulator's after every step and no integrity counter moves. The problems found (empty = passes)."""
    kw: dict[str, Any] = {}
    if venue == "okx":
        sim = registry.sim_class("okx")(symbols("okx"))
        sim.real_checksum = True  # type: ignore[attr-defined]
        kw["sim"] = sim
    if events is not None:
        kw["sink"] = events.append
    problems: list[str] = []
    try:
        lb = InMemoryLoopback(venue, symbols(venue), depth=10 if venue == "kraken" else None, **kw)
        for i in range(steps):
            lb.step()
            problems += [f"step {i}: {s} differs from the simulator's book" for s in lb.symbols
                         if not lb.book_matches(s)]
    except LoopbackLoop as e:  # e.g. a checksum that never matches, so every snapshot is re-requested
        return [*problems, str(e)]
    for sym in lb.symbols:
        c = lb.adapter.states[sym].counters
        moved = {k: getattr(c, k) for k in INTEGRITY if getattr(c, k)}
        if moved:
            problems.append(f"{sym}: {moved}")
    return problems


def _is_zero(size: str) -> bool:
    return Decimal(size) == 0


@pytest.fixture
def deletes_ignored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """lcm-tui's book reads a size-0 level as "nothing to do", keeping the level it should delete."""
    side_apply, book_apply = BookSide.apply, OrderBook.apply

    def keep(levels: Any) -> list[Any]:
        return [lv for lv in levels if not _is_zero(lv[1])]

    monkeypatch.setattr(BookSide, "apply", lambda self, updates: side_apply(self, keep(updates)))
    monkeypatch.setattr(OrderBook, "apply", lambda self, bids, asks: book_apply(self, keep(bids), keep(asks)))
    yield


@pytest.fixture
def snapshot_loses_last_level(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """lcm-tui's book loses the worst level of each side of every snapshot (an off-by-one)."""
    load = OrderBook.load_snapshot

    def short(self: OrderBook, bids: Any, asks: Any) -> None:
        load(self, list(bids)[:-1], list(asks)[:-1])

    monkeypatch.setattr(OrderBook, "load_snapshot", short)
    yield


@pytest.fixture
def sizes_rerendered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """lcm-tui's book keeps a size as float text ("0.34582000" -> "0.34582"): the float pitfall."""
    side_apply, book_apply = BookSide.apply, OrderBook.apply

    def redo(levels: Any) -> list[Any]:
        return [(lv[0], repr(float(lv[1]))) if float(lv[1]) else lv for lv in levels]

    monkeypatch.setattr(BookSide, "apply", lambda self, updates: side_apply(self, redo(updates)))
    monkeypatch.setattr(OrderBook, "apply", lambda self, bids, asks: book_apply(self, redo(bids), redo(asks)))
    yield


# Venues whose wire sizes carry trailing zeros (OKX strips them, so float text often equals them).
PADDED = [v for v in VENUES if not any(p.strip_zeros for p in registry.sim_class(v)(symbols(v)).params.values())]


@pytest.mark.parametrize("venue", VENUES)
def test_a_correct_adapter_passes(venue: str) -> None:
    """The control: unpatched, every registry venue passes the very check the other tests break."""
    assert check(venue) == []


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.usefixtures("deletes_ignored")
def test_a_book_that_ignores_deletes_fails(venue: str) -> None:
    assert check(venue) != []


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.usefixtures("snapshot_loses_last_level")
def test_a_book_that_drops_a_snapshot_level_fails(venue: str) -> None:
    assert check(venue) != []


@pytest.mark.parametrize("venue", PADDED)
@pytest.mark.usefixtures("sizes_rerendered")
def test_a_book_that_rerenders_sizes_fails(venue: str) -> None:
    assert check(venue) != []


def test_an_adapter_that_swaps_bid_and_ask_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import lcm_tui.venues.coinbase.adapter as cb

    split: Callable[[Any], tuple[Any, Any]] = cb.split_updates
    monkeypatch.setattr(cb, "split_updates", lambda updates: split(updates)[::-1])
    assert check("coinbase") != []


def test_a_wrong_kraken_checksum_string_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's CRC string keeps leading zeros ("0.10000000" -> "010000000"): checksums stop matching."""
    import lcm_tui.venues.kraken.checksum as kc

    monkeypatch.setattr(kc, "kraken_string", lambda asks, bids: "".join(
        f.replace(".", "") for lv in (*asks[:10], *bids[:10]) for f in lv[:2]))
    events: list[FeedEvent] = []
    assert check("kraken", events=events) != []
    assert any(e.kind is FeedEventKind.CHECKSUM for e in events)


def test_a_wrong_okx_checksum_string_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's CRC string takes asks before bids: checksums stop matching."""
    import lcm_tui.venues.okx.checksum as oc

    right = oc.okx_string
    monkeypatch.setattr(oc, "okx_string", lambda bids, asks: right(asks, bids))
    events: list[FeedEvent] = []
    assert check("okx", events=events) != []
    assert any(e.kind is FeedEventKind.CHECKSUM for e in events)


class SharedTruthBinanceSim(BinanceSim):
    """Binance's simulator plus the truth it used to keep: lcm-tui's ``OrderBook`` fed the wire strings."""

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(symbols)
        self.shared: dict[str, OrderBook] = {s: OrderBook("binance", s) for s in self.symbols}

    def load(self, symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        super().load(symbol, bids, asks)
        book = self.books[symbol]
        self.shared[symbol].load_snapshot(book.bids(), book.asks())

    def step(self, symbol: str, changes: list[IntChange], t_ns: int) -> Any:
        for side, p, q in self.render_changes(symbol, changes):
            self.shared[symbol].side(side).set_level(p, q)
        return super().step(symbol, changes, t_ns)


@pytest.mark.usefixtures("sizes_rerendered")
def test_a_shared_truth_would_have_hidden_the_bug() -> None:
    syms = symbols("binance")
    sim = SharedTruthBinanceSim(syms)
    lb = InMemoryLoopback("binance", syms, sim=sim)
    lb.step(STEPS)
    for s in syms:
        st = lb.adapter.states[s]
        assert not any(getattr(st.counters, k) for k in INTEGRITY)  # no integrity check notices
        assert st.book.to_dict() == sim.shared[s].to_dict()  # the old comparison: the bug is invisible
        assert not lb.book_matches(s)  # the simulator's own book: the bug is caught
        mine, truth = list(st.book.bids), sim.books[s].bids()
        assert [p for p, _ in mine] == [p for p, _ in truth]  # ... and it is exactly the re-rendered sizes
        wrong = [(a, b) for (_, a), (_, b) in zip(mine, truth, strict=True) if a != b]
        assert wrong and all(Decimal(a) == Decimal(b) for a, b in wrong)
