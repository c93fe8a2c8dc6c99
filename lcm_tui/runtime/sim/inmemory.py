"""A venue handler wired straight to an adapter, with no sockets: the loopback in one thread.

The socket server (``sim/server.py``) proves the runner and the network path; this proves the
protocol logic, deterministically and in microseconds per frame: the adapter's ``Send`` actions go
into the handler's ``on_message``, ``FetchSnapshot`` into its ``http``, and every step's frames come
back through ``on_frame`` in the order the server would write them. Frame and connection faults are
injected with the same ``FaultPlan`` the server uses. Benchmarks use ``recorded_frames`` to get
realistic venue frames (exact wire formats, a synced stream) without running a server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from lcm_tui.config import VenueConfig
from lcm_tui.runtime.sim.faults import CONN_FAULTS, FaultKind, FaultPlan
from lcm_tui.runtime.sim.market import FairPrices, MarketSim
from lcm_tui.venues import registry
from lcm_tui.venues.base import Action, FetchSnapshot, Reconnect, Send
from lcm_tui.venues.simbase import SimConn, VenueSim

if TYPE_CHECKING:
    from lcm_tui.core.model import FeedEvent

STEP_NS = 100_000_000  # 10 market steps per simulated second, as in the demo
KEEPALIVE_NS = 1_000_000_000  # the runner calls the adapter's keepalive about once a second
# Frames one step may deliver. Far above what any venue sends per step (a few snapshots and deltas);
# an adapter that answers every snapshot with a resubscribe would otherwise loop here forever,
# because the handler answers synchronously.
MAX_FRAMES_PER_STEP = 2_000


class LoopbackLoop(RuntimeError):
    """The adapter and the handler keep answering each other without the market moving."""
BASE = "ws://sim.invalid"


def sim_class(venue: str) -> type[VenueSim]:
    return registry.sim_class(venue)


class InMemoryLoopback:
    """One adapter connected to one venue handler; ``step()`` moves the market and delivers frames."""

    def __init__(self, venue: str, symbols: list[str], *, seed: int = 7, depth: int | None = None,
                 faults: FaultPlan | None = None, sim: VenueSim | None = None,
                 sink: Callable[[FeedEvent], None] | None = None, rest_delay_steps: int = 0) -> None:
        self.venue = venue
        self.symbols = list(symbols)
        self.sim = sim if sim is not None else sim_class(venue)(self.symbols)
        self.fair = FairPrices(seed)
        self.markets = {s: MarketSim(seed, venue, s, self.sim.params[s], self.fair) for s in self.symbols}
        for s, m in self.markets.items():
            self.sim.load(s, *m.snapshot())
        ep = self.sim.endpoints(f"{BASE}/{venue}")
        self.cfg = VenueConfig(name=venue, symbols=list(symbols), ws_url=ep["ws_url"],
                               snapshot_url=ep.get("snapshot_url", ""),
                               depth=registry.spec(venue).default_depth if depth is None else depth)
        self.events: list[FeedEvent] = []
        adapter_cls = registry.adapter_class(venue)
        self.adapter = adapter_cls(self.cfg, self.symbols, sink if sink is not None else self.events.append)
        self.faults = faults if faults is not None else FaultPlan()
        self.rest_delay_steps = rest_delay_steps
        self.t_ns = 1_700_000_000_000_000_000
        # (frame, symbol of the out-of-band snapshot request it answers, or None for a stream frame)
        self.inbox: deque[tuple[str, str | None]] = deque()
        self._budget = MAX_FRAMES_PER_STEP
        self.delivered: list[str] = []  # every frame the adapter received, in order
        self.sent: list[str] = []  # every frame the adapter sent
        self.requests: list[FetchSnapshot] = []  # every out-of-band snapshot the adapter asked for
        self.connections = 0
        self.stalled_steps = 0
        self._held: list[str] = []
        self._rest: list[tuple[int, FetchSnapshot]] = []
        self._keepalive_ns = self.t_ns
        self.conn = self._connect()

    # ---- wiring ------------------------------------------------------------------------------
    def _connect(self) -> SimConn:
        parts = urlsplit(self.adapter.url())
        conn = SimConn(venue=self.venue, path=parts.path[len("/" + self.venue):], query=dict(parse_qsl(parts.query)),
                       connected_ns=self.t_ns)
        self.conn = conn
        self.connections += 1
        self._held.clear()
        self._rest.clear()
        self._stream(self.sim.on_connect(conn))
        self._actions(self.adapter.on_open(self.t_ns))
        self.deliver()
        return conn

    def reconnect(self) -> None:
        self.inbox.clear()
        self.adapter.on_close(self.t_ns, "reconnect")
        self._connect()

    def _actions(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                self.sent.append(a.text)
                self._stream(self.sim.on_message(self.conn, a.text))
            elif isinstance(a, FetchSnapshot):
                self.requests.append(a)
                self._rest.append((self.rest_delay_steps, a))
                if not self.rest_delay_steps:
                    self._serve_rest()
            elif isinstance(a, Reconnect):
                self.reconnect()
                return

    def _serve_rest(self) -> None:
        due = [r for r in self._rest if r[0] <= 0]
        self._rest = [(n - 1, a) for n, a in self._rest if n > 0]
        for _, a in due:
            parts = urlsplit(a.url)
            path, query = parts.path[len("/" + self.venue):], dict(parse_qsl(parts.query))
            if parts.scheme in ("ws", "wss"):  # a WebSocket request/reply snapshot (Binance WS-API)
                conn = SimConn(venue=self.venue, path=path, query=query, connected_ns=self.t_ns)
                self.sim.on_connect(conn)
                self.inbox.extend((fr, a.symbol) for fr in self.sim.on_message(conn, a.request)[:1])
                continue
            res = self.sim.http(path, query)
            self.inbox.append((res[1] if res is not None else '{"error":"not found"}', a.symbol))

    def _stream(self, frames: list[str]) -> None:
        self.inbox.extend((fr, None) for fr in frames)

    def deliver(self) -> None:
        """Hand every queued frame to the adapter, as the runner does (snapshot replies to ``on_snapshot``)."""
        while self.inbox:
            self._budget -= 1
            if self._budget < 0:
                self.inbox.clear()
                raise LoopbackLoop(f"{self.venue}: more than {MAX_FRAMES_PER_STEP} frames in one step without the "
                                   "market moving: the adapter keeps re-requesting what the venue keeps sending")
            fr, snapshot_for = self.inbox.popleft()
            self.delivered.append(fr)
            if snapshot_for is None:
                self._actions(self.adapter.on_frame(fr, self.t_ns))
            else:
                self._actions(self.adapter.on_snapshot(snapshot_for, fr, self.t_ns))

    # ---- the market --------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._budget = MAX_FRAMES_PER_STEP
            self.t_ns += STEP_NS
            self.fair.step()
            self._conn_faults()
            frames: list[str] = []
            for sym in self.symbols:
                f = self.faults.peek({FaultKind.RESET_SEQUENCE}, self.venue, sym)
                if f is not None and self.sim.reset_sequence(sym):
                    self.faults.consume(f, sym)
                payload = self.sim.step(sym, self.markets[sym].step(), self.t_ns)
                if payload is not None and sym in self.conn.subs:
                    frames.extend(self.faults.apply_to_frames(
                        self.venue, sym, self.sim.frames_for(self.conn, sym, payload), self.sim.corrupt_checksum))
            if self.stalled_steps > 0:
                self.stalled_steps -= 1
                self._held.extend(frames)
                continue
            self._stream(self._held)
            self._held.clear()
            self._stream(frames)
            if self._rest:
                self._serve_rest()
            self.deliver()
            if self.t_ns - self._keepalive_ns >= KEEPALIVE_NS:
                self._keepalive()

    def _keepalive(self) -> None:
        """The runner's once-a-second timer: pings, and resyncs whose backoff has run out."""
        self._keepalive_ns = self.t_ns
        self._actions(self.adapter.keepalive(self.t_ns))
        self.deliver()

    def idle(self) -> None:
        """What the server's once-a-second idle loop sends, then the adapter's keepalive."""
        self._budget = MAX_FRAMES_PER_STEP
        self.t_ns += 1_000_000_000
        self._stream(self.sim.on_idle(self.conn, self.t_ns))
        self._keepalive()

    def _conn_faults(self) -> None:
        f = self.faults.peek(CONN_FAULTS, self.venue, None)
        if f is None:
            return
        self.faults.consume(f, f.symbol)
        if f.kind is FaultKind.DISCONNECT:
            self.reconnect()
        elif f.kind is FaultKind.STALL:
            self.stalled_steps = max(1, round(f.duration_s * 1e9 / STEP_NS))
        else:
            before = self.connections
            self._stream(self.sim.shutdown_frames(self.conn, self.t_ns))
            self.deliver()
            if self.connections == before:
                self.reconnect()  # the adapter did not react: the venue closes the socket anyway

    # ---- checks ------------------------------------------------------------------------------
    def book_matches(self, symbol: str) -> bool:
        """The adapter's book equals the simulator's integer truth, rendered, string for string."""
        mine = self.adapter.states[symbol].book
        truth = self.sim.true_book(symbol)
        return list(mine.bids) == truth.bids() and list(mine.asks) == truth.asks()

    def all_match(self) -> bool:
        return all(self.book_matches(s) for s in self.symbols)


def recorded_frames(venue: str, symbols: list[str], steps: int, *, seed: int = 7,
                    depth: int | None = None) -> list[str]:
    """The frames a synced adapter receives over ``steps`` market steps (snapshots and acks first)."""
    lb = InMemoryLoopback(venue, symbols, seed=seed, depth=depth)
    lb.step(steps)
    return list(lb.delivered)
