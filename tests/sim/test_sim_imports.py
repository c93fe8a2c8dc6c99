"""The simulator loads none of the code it is used to test, checked in a fresh interpreter per module.

The import-linter contract (``sim-not-adapter`` in pyproject.toml) reads the import statements; this
runs the modules: a fresh Python imports one simulator module, builds every simulated venue of the
registry over a seeded market, serves subscribes, snapshots and REST books and steps them, and then
lists what ended up in ``sys.modules``. A lazy import inside a function, or one pulled in through a
third module, shows up here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from urllib.parse import parse_qsl, urlsplit

import pytest

from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues import registry

# What the code under test is: lcm-tui's book, metrics and models, the adapters, their checksum
# modules and contract, and the configuration that feeds them.
FORBIDDEN_PREFIXES = ("lcm_tui.core", "lcm_tui.venues.base", "lcm_tui.config", "lcm_tui.frontends", "lcm_tui.record")
FORBIDDEN_SUFFIXES = (".adapter", ".checksum", ".usdm")

SIM_MODULES = sorted({v.sim.partition(":")[0] for v in registry.VENUES})
SHARED = ["lcm_tui.venues.simbase", "lcm_tui.venues.simbook", "lcm_tui.runtime.sim.market",
          "lcm_tui.runtime.sim.faults"]


# A simulator module states its own depths and symbol rules: it reads no venue spec either. (The
# server may: it finds the simulators through the registry.)
SPEC_MODULES = ("lcm_tui.venues.registry", "lcm_tui.venues.spec")


def forbidden(modules: list[str], specs_allowed: bool = False) -> list[str]:
    return sorted(m for m in modules if m.startswith("lcm_tui.")
                  and (m.startswith(FORBIDDEN_PREFIXES) or m.endswith(FORBIDDEN_SUFFIXES)
                       or (not specs_allowed and (m in SPEC_MODULES or m.endswith(".spec")))))


def loaded_after(code: str) -> list[str]:
    """The module names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_forbidden_list_catches_the_code_under_test() -> None:
    """Importing an adapter does load what the list forbids (else the tests below would prove nothing)."""
    mods = loaded_after(f"import {registry.spec('okx').adapter.partition(':')[0]}")
    bad = forbidden(mods)
    assert "lcm_tui.venues.okx.adapter" in bad and "lcm_tui.core.book" in bad and "lcm_tui.venues.okx.checksum" in bad


@pytest.mark.parametrize("module", SIM_MODULES + SHARED)
def test_importing_a_sim_module_loads_no_code_under_test(module: str) -> None:
    assert forbidden(loaded_after(f"import {module}")) == []


def client_session(venue: str) -> tuple[str, dict[str, str], list[str]]:
    """What a real client of ``venue`` sends: its URL path and query, and its text frames (subscribes)."""
    lb = InMemoryLoopback(venue, list(registry.spec(venue).example_symbols))
    lb.step(3)
    parts = urlsplit(lb.adapter.url())
    return parts.path[len("/" + venue):], dict(parse_qsl(parts.query)), list(lb.sent)


def test_running_every_simulated_venue_loads_no_code_under_test() -> None:
    """Every handler method, fed what a real client sends (recorded here, replayed over there)."""
    venues = {v.name: (v.sim, list(v.example_symbols), client_session(v.name)) for v in registry.VENUES}
    code = f"""
    import importlib
    from lcm_tui.runtime.sim.market import FairPrices, MarketSim
    from lcm_tui.runtime.sim.faults import FaultPlan
    from lcm_tui.venues.simbase import SimConn

    venues = {venues!r}
    fair = FairPrices(7)
    plan = FaultPlan()
    for name, (path, symbols, (conn_path, query, sent)) in venues.items():
        module, _, cls_name = path.partition(":")
        sim = getattr(importlib.import_module(module), cls_name)(symbols)
        markets = {{s: MarketSim(7, name, s, sim.params[s], fair) for s in symbols}}
        for s, m in markets.items():
            sim.load(s, *m.snapshot())
        sim.endpoints("ws://127.0.0.1:1/" + name)
        conn = SimConn(name, conn_path, query)
        sim.on_connect(conn)
        for text in sent:
            sim.on_message(conn, text)
        assert conn.subs == set(symbols), (name, conn.subs)
        for s in symbols:
            sim.true_book(s).to_dict()
        for _ in range(20):
            fair.step()
            for s, m in markets.items():
                payload = sim.step(s, m.step(), 1_700_000_000_000_000_000)
                if payload is not None and s in conn.subs:
                    plan.apply_to_frames(name, s, sim.frames_for(conn, s, payload), sim.corrupt_checksum)
            sim.on_idle(conn, 1_700_000_010_000_000_000)
        for s in symbols:
            sim.http("/", {{}})
            sim.http("/api/v3/depth", {{"symbol": s, "limit": "5"}})
            sim.http("/fapi/v1/depth", {{"symbol": s, "limit": "5"}})
            sim.http("/api/v5/market/books", {{"instId": s, "sz": "5"}})
        sim.corrupt_checksum('{{"checksum":1}}')
        sim.shutdown_frames(conn, 0)
        sim.reset_sequence(symbols[0])
    """
    assert forbidden(loaded_after(code)) == []


def test_the_loopback_server_loads_no_code_under_test() -> None:
    """The socket server (driven by the registry's sim paths) runs every venue without the product code."""
    venues = {v.name: list(v.example_symbols) for v in registry.VENUES}
    code = f"""
    import asyncio
    from lcm_tui.runtime.sim.server import SimServer

    async def main():
        async with SimServer({venues!r}, ping_interval_s=None) as server:
            await server.step(5)
            for sim in server.sims.values():
                for s in sim.symbols:
                    sim.true_book(s).bids()

    asyncio.run(main())
    """
    assert forbidden(loaded_after(code), specs_allowed=True) == []
