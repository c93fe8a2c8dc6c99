"""Who takes part in an asset's consolidated book, and why the others do not.

Only LIVE, spot-like streams whose quote has a rate in ``consolidated.quote_rates`` take part: a book
that is resyncing, stale or down is empty or wrong, and a venue outage must never look like liquidity
leaving the market. Every excluded stream is listed with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lcm_tui.core.consolidated.types import Excluded
from lcm_tui.core.model import StreamStatus
from lcm_tui.core.symbols import parse_symbol

if TYPE_CHECKING:
    from lcm_tui.core.model import SymbolState
    from lcm_tui.core.settings import Settings


@dataclass(slots=True)
class Member:
    """A LIVE, convertible venue+symbol of an asset, before its ladders are built."""

    label: str
    state: SymbolState
    quote: str
    rate: float
    fee: float  # taker fee as a fraction (10 bps -> 0.001)


def _sort_key(st: SymbolState, order: Mapping[str, int]) -> tuple[int, str, str]:
    return (order.get(st.venue, len(order)), st.venue, st.symbol)


def classify(states: Iterable[SymbolState], settings: Settings,
             assets: Iterable[str] | None = None) -> dict[str, tuple[list[Member], list[Excluded]]]:
    """Group states by base asset and decide who takes part; the excluded ones carry the reason.

    Assets come out sorted by name and members in venue order (the order of ``settings.venues``), so
    output never depends on the order the feeds happened to start in.
    """
    rates = settings.consolidated.quote_rates
    wanted = {a.upper() for a in assets} if assets is not None else None
    groups: dict[str, tuple[list[Member], list[Excluded]]] = {}
    seen: set[tuple[str, str]] = set()
    order = settings.venue_order()
    for st in sorted(states, key=lambda st: _sort_key(st, order)):
        if st.key in seen:
            continue
        seen.add(st.key)
        base, quote = parse_symbol(st.venue, st.symbol)
        if wanted is not None and base not in wanted:
            continue
        members, excluded = groups.setdefault(base, ([], []))
        parts = st.symbol.replace("/", "-").split("-")
        if st.status is not StreamStatus.LIVE:
            detail = f": {st.status_detail}" if st.status_detail else ""
            excluded.append(Excluded(st.venue, st.symbol, f"{st.status.value}{detail}"))
        elif len(parts) > 2:
            # OKX BTC-USDT-SWAP and dated futures quote sizes in contracts, not in the base asset.
            excluded.append(Excluded(st.venue, st.symbol, "derivative contract: sizes are contracts, not base units"))
        elif not quote or quote not in rates:
            excluded.append(Excluded(st.venue, st.symbol,
                                     f"quote {quote or '?'} has no rate in consolidated.quote_rates"))
        elif st.book.is_empty():
            excluded.append(Excluded(st.venue, st.symbol, "book empty"))
        else:
            fee = settings.venue(st.venue).taker_fee_bps / 1e4
            members.append(Member(st.venue, st, quote, rates[quote], fee))
    for members, _ in groups.values():
        counts: dict[str, int] = {}
        for m in members:
            counts[m.state.venue] = counts.get(m.state.venue, 0) + 1
        for m in members:
            if counts[m.state.venue] > 1:
                m.label = f"{m.state.venue}:{m.state.symbol}"
    return dict(sorted(groups.items()))
