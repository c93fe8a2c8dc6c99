"""Every fault on every venue of the registry: the adapter notices what it must and ends on the true book.

The venues come from the registry (a venue added there is in the matrix without editing this file)
and the truth is the simulator's own integer book. Per venue and fault kind, on the in-memory
loopback: sync, inject the fault on one symbol, keep the market moving, then demand that the fault
fired (or honestly stayed pending where the venue cannot express it: no checksum, no sequence to
reset), that the books equal the simulator's string for string, that every stream is LIVE again,
that a fault which loses or spoils data was noticed on its symbol, and on the other symbol exactly
where the venue's protocol cannot tell whose frame it was.
"""

from __future__ import annotations

import pytest

from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues import registry
from lcm_tui.venues.simbase import VenueSim

VENUES = list(registry.names())
DATA_FAULTS = {FaultKind.DROP, FaultKind.CORRUPT_CHECKSUM, FaultKind.MALFORMED, FaultKind.TRUNCATED}
NOTICED = ("gaps", "checksum_failures", "malformed", "resyncs", "reconnects")
# Where a spoiled frame cannot be pinned on one symbol (exchange-protocols.md): Coinbase numbers the
# messages of a connection, not of a product (§5.3), so a lost one is every product's gap; Kraken has
# no sequence at all (§4), so a frame too broken to name its symbol may have been any book's.
SHARED_FATE = {("coinbase", k) for k in (FaultKind.DROP, FaultKind.MALFORMED, FaultKind.TRUNCATED)} | {
    ("kraken", FaultKind.MALFORMED)}


def build(venue: str, plan: FaultPlan) -> InMemoryLoopback:
    syms = list(registry.spec(venue).example_symbols)
    sim = registry.sim_class(venue)(syms)
    if hasattr(sim, "real_checksum"):
        sim.real_checksum = True  # OKX's test mode: a checksum to corrupt
    return InMemoryLoopback(venue, syms, sim=sim, faults=plan, depth=10 if venue == "kraken" else None)


def expressible(lb: InMemoryLoopback, kind: FaultKind) -> bool:
    if kind is FaultKind.CORRUPT_CHECKSUM:
        return any(lb.sim.corrupt_checksum(f) is not None for f in lb.delivered)
    if kind is FaultKind.RESET_SEQUENCE:
        return type(lb.sim).reset_sequence is not VenueSim.reset_sequence
    return True


@pytest.mark.parametrize("kind", list(FaultKind))
@pytest.mark.parametrize("venue", VENUES)
def test_fault_recovers_to_the_true_book(venue: str, kind: FaultKind) -> None:
    plan = FaultPlan()
    lb = build(venue, plan)
    lb.step(10)
    target, other = lb.symbols[0], lb.symbols[1]
    assert lb.all_match()
    plan.schedule(kind, venue, target, duration_s=0.5)
    lb.step(25)
    can = expressible(lb, kind)
    assert (plan.pending() == []) is can, f"{kind} on {venue}: fired={plan.fired}"
    assert lb.all_match(), f"{venue} after {kind}: books differ from the simulator's"
    assert all(st.status is StreamStatus.LIVE for st in lb.adapter.states.values())
    counters = {s: lb.adapter.states[s].counters for s in lb.symbols}
    if kind in DATA_FAULTS and can:
        assert any(getattr(counters[target], k) for k in NOTICED), f"{kind} on {venue} went unnoticed"
        hit_other = any(getattr(counters[other], k) for k in NOTICED)
        assert hit_other is ((venue, kind) in SHARED_FATE), f"{kind} on {venue}: {other} noticed it: {hit_other}"
    if kind in (FaultKind.DISCONNECT, FaultKind.SERVER_SHUTDOWN):
        assert lb.connections == 2
    if kind is FaultKind.STALL:
        assert lb.connections == 1 and not any(getattr(c, k) for c in counters.values() for k in NOTICED)
