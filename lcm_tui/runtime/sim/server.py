"""One real ``websockets`` server on loopback that serves every simulated venue by path prefix.

``ws://127.0.0.1:<port>/<venue>/...`` reaches that venue's handler (``/binance/stream?...``,
``/binance/ws-api/v3``, ``/okx/ws/v5/public``, ...); a plain HTTP GET on the same port reaches the
handler's ``http()`` (REST-like snapshots). The server owns the market clock: either a timer
(demo) or explicit ``await server.step()`` calls, which is what makes the tests deterministic. Every
frame for a connection goes through that connection's outbox in the order the handlers produced
it, so a snapshot and the deltas after it can never be reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lcm_tui.runtime.sim.faults import CONN_FAULTS, FaultKind, FaultPlan
from lcm_tui.runtime.sim.market import FairPrices, MarketSim
from lcm_tui.venues import registry
from lcm_tui.venues.simbase import SimConn, VenueSim

if TYPE_CHECKING:  # only a type: importing the server loads no product code
    from lcm_tui.config import Settings

log = logging.getLogger("lcm_tui.sim")

def venue_sims() -> dict[str, type[VenueSim]]:
    """venue name -> handler class, for every venue of the registry, in registry order.

    The registry's spec names each simulator by import path; a simulator that does not import
    raises, so a venue is never silently missing from the demo or the loopback tests.
    """
    return {name: registry.sim_class(name) for name in registry.names()}


@dataclass(slots=True, eq=False)
class _Handle:
    conn: SimConn
    ws: ServerConnection
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    empty: asyncio.Event = field(default_factory=asyncio.Event)
    stalled_until: float = 0.0  # loop time
    writer: asyncio.Task[None] | None = None


class SimServer:
    """The loopback exchange. Use as ``async with SimServer({...}) as sim``."""

    def __init__(
        self,
        venues: dict[str, list[str]],
        *,
        seed: int = 7,
        step_interval_s: float | None = None,
        ping_interval_s: float | None = 20.0,
        ping_timeout_s: float | None = 60.0,
        idle_interval_s: float = 1.0,
        shutdown_grace_s: float = 0.5,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        classes = venue_sims()
        self.seed = seed
        self.fair = FairPrices(seed)
        self.sims: dict[str, VenueSim] = {}
        self.markets: dict[tuple[str, str], MarketSim] = {}
        for venue, symbols in venues.items():
            if venue not in classes:
                raise ValueError(f"no simulator for venue {venue!r} (have {', '.join(sorted(classes))})")
            sim = classes[venue](list(symbols))
            self.sims[venue] = sim
            for s in symbols:
                m = MarketSim(seed, venue, s, sim.params[s], self.fair)
                self.markets[(venue, s)] = m
                sim.load(s, *m.snapshot())
        self.step_interval_s = step_interval_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.idle_interval_s = idle_interval_s
        self.shutdown_grace_s = shutdown_grace_s
        self.faults = faults if faults is not None else FaultPlan()
        self.host = host
        self.port = port
        self.steps = 0
        self.connections = 0  # accepted websocket connections, ever
        self.http_requests = 0
        self._handles: set[_Handle] = set()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._prefixes = sorted(self.sims, key=len, reverse=True)

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> SimServer:
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._http,
            ping_interval=self.ping_interval_s, ping_timeout=self.ping_timeout_s,
            max_size=None, compression=None, close_timeout=1,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._idle_loop(), name="sim-idle"))
        if self.step_interval_s:
            self._tasks.append(asyncio.create_task(self._clock(self.step_interval_s), name="sim-clock"))
        return self

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- where adapters connect ----------------------------------------------------------------
    def base_url(self, venue: str) -> str:
        return f"ws://{self.host}:{self.port}/{venue}"

    def endpoints(self, venue: str) -> dict[str, str]:
        return self.sims[venue].endpoints(self.base_url(venue))

    def configure(self, settings: Settings) -> Settings:
        """A copy of ``settings`` whose venues are exactly the simulated ones, pointing here."""
        s = copy.deepcopy(settings)
        for vc in s.venues.values():
            vc.enabled = False
        for venue, sim in self.sims.items():
            vc = copy.deepcopy(s.venue(venue))
            vc.enabled = True
            vc.symbols = list(sim.symbols)
            ep = self.endpoints(venue)
            vc.ws_url = ep["ws_url"]
            vc.snapshot_url = ep.get("snapshot_url", "")
            s.venues[venue] = vc
        return s

    def latencies(self, venue: str | None = None) -> list[float]:
        """Ping round-trips per connection (0 until a client answered a ping)."""
        return [h.ws.latency for h in self._handles if venue is None or h.conn.venue == venue]

    def conns(self, venue: str | None = None) -> list[SimConn]:
        return [h.conn for h in self._handles if venue is None or h.conn.venue == venue]

    # ---- the market clock ----------------------------------------------------------------------
    async def _clock(self, interval: float) -> None:
        while True:
            self._step_once()
            await asyncio.sleep(interval)

    async def step(self, n: int = 1) -> None:
        """Advance the market ``n`` steps and wait until the frames are written to the sockets."""
        for _ in range(n):
            self._step_once()
        await self.drain()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every connection that is not stalled has sent its outbox."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            for h in list(self._handles):
                if h.stalled_until <= loop.time() and h.conn.outbox:
                    await h.empty.wait()

    def _step_once(self) -> None:
        t_ns = time.time_ns()
        self.fair.step()
        self.steps += 1
        for venue, sim in self.sims.items():
            self._conn_faults(venue, sim, t_ns)
            handles = [h for h in self._handles if h.conn.venue == venue]
            for sym in sim.symbols:
                self.faults.roll(venue, sym)
                f = self.faults.peek({FaultKind.RESET_SEQUENCE}, venue, sym)
                if f is not None and sim.reset_sequence(sym):
                    self.faults.consume(f, sym)
                payload = sim.step(sym, self.markets[(venue, sym)].step(), t_ns)
                if payload is None:
                    continue
                for h in handles:
                    if sym in h.conn.subs:
                        frames = self.faults.apply_to_frames(venue, sym, sim.frames_for(h.conn, sym, payload),
                                                             sim.corrupt_checksum)
                        self._push(h, frames)

    def _conn_faults(self, venue: str, sim: VenueSim, t_ns: int) -> None:
        f = self.faults.peek(CONN_FAULTS, venue, None)
        if f is None:
            return
        loop = asyncio.get_running_loop()
        self.faults.consume(f, f.symbol)
        for h in [h for h in self._handles if h.conn.venue == venue and not h.conn.control]:
            if f.kind is FaultKind.DISCONNECT:
                h.ws.transport.abort()
            elif f.kind is FaultKind.STALL:
                h.stalled_until = loop.time() + f.duration_s
            else:
                self._push(h, sim.shutdown_frames(h.conn, t_ns))
                self._tasks.append(asyncio.create_task(self._close_later(h, self.shutdown_grace_s)))

    async def _close_later(self, h: _Handle, delay: float) -> None:
        await asyncio.sleep(delay)
        await h.ws.close(1001, "server shutdown")

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(self.idle_interval_s)
            t_ns = time.time_ns()
            for h in list(self._handles):
                try:
                    self._push(h, self.sims[h.conn.venue].on_idle(h.conn, t_ns))
                except Exception:
                    log.exception("simulator %s on_idle failed", h.conn.venue)

    # ---- connections ---------------------------------------------------------------------------
    def _route(self, path: str) -> tuple[str, str] | None:
        for v in self._prefixes:
            pre = "/" + v
            if path == pre or path.startswith(pre + "/") or path.startswith(pre + "?"):
                return v, path[len(pre):]
        return None

    def _push(self, h: _Handle, frames: list[str]) -> None:
        if frames:
            h.conn.outbox.extend(frames)
            h.empty.clear()
            h.wake.set()

    async def _writer(self, h: _Handle) -> None:
        loop = asyncio.get_running_loop()
        conn = h.conn
        try:
            while True:
                if not conn.outbox:
                    h.empty.set()
                    h.wake.clear()
                    await h.wake.wait()
                    continue
                wait = h.stalled_until - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                await h.ws.send(conn.outbox.popleft())
                conn.last_sent_ns = time.time_ns()
        except ConnectionClosed:
            conn.outbox.clear()
            h.empty.set()

    async def _handler(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path if ws.request else "/")
        routed = self._route(parts.path)
        if routed is None:
            await ws.close(1008, "unknown venue")
            return
        venue, rest = routed
        sim = self.sims[venue]
        conn = SimConn(venue=venue, path=rest, query=dict(parse_qsl(parts.query)), connected_ns=time.time_ns())
        h = _Handle(conn, ws)
        h.empty.set()
        self.connections += 1
        self._handles.add(h)
        h.writer = asyncio.create_task(self._writer(h), name=f"sim-writer-{conn.id}")
        try:
            self._push(h, sim.on_connect(conn))
            async for msg in ws:
                text = msg if isinstance(msg, str) else msg.decode("utf-8", "replace")
                try:
                    replies = sim.on_message(conn, text)
                except Exception:
                    log.exception("simulator %s on_message failed", venue)
                    replies = []
                self._push(h, replies)
        except ConnectionClosed:
            pass
        finally:
            self._handles.discard(h)
            h.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await h.writer
            conn.outbox.clear()
            h.empty.set()  # nobody waits for frames that can no longer be sent

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        self.http_requests += 1
        parts = urlsplit(request.path)
        routed = self._route(parts.path)
        res = None
        if routed is not None:
            try:
                res = self.sims[routed[0]].http(routed[1], dict(parse_qsl(parts.query)))
            except Exception:
                log.exception("simulator %s http failed", routed[0])
                res = (500, '{"error":"internal"}')
        status, body = res if res is not None else (404, '{"error":"not found"}')
        data = body.encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                           ("Connection", "close")])
        return Response(status, HTTPStatus(status).phrase, headers, data)
