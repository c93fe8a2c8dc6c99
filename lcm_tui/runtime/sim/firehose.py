"""A load generator for collector benchmarks: a Bybit spot book feed rendered once and replayed forever.

The loopback exchange (``server.py``) steps a market model and JSON-encodes every frame as it goes,
which costs about as much CPU per frame as a collector spends applying it: on a machine whose cores
the generator shares with the collectors, it, not the collectors, would set the frame rate. Here the
frames are built before the server opens, from the real simulator (``BybitSpotSim`` over
``MarketSim``, so their shapes and sizes are the ones the loopback tests check), and serving a frame
is copying its bytes with its ``u`` and timestamps dropped in (see "the frames" below for how that
avoids formatting anything per frame).

Each symbol's stream is a cycle that ends where it started, so it can repeat with no seam: a few
hundred of the simulator's ``orderbook.200`` deltas forward, then the inverse of each of them in
reverse order, back to the starting book. A subscriber gets that starting book as a snapshot and the
cycle's deltas after it with ``u`` counting up by one, as Bybit's rules require (the venue has no
checksum), and a resubscribe restarts the cycle from a fresh snapshot with a later ``u``.

Frames go out as fast as the client reads them (``rate=None``: the socket's flow control is the only
pace, so a client is always saturated) or at ``rate`` deltas per second per symbol. The WebSocket
framing is written here (server frames are not masked) on a small asyncio protocol that speaks just
enough RFC 6455 for a client: the upgrade, text, ping/pong and close. Nothing here imports adapter
or core code, like every simulator module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from lcm_tui.runtime.sim.market import FairPrices, MarketSim
from lcm_tui.venues.bybit.sim import BybitSpotSim
from lcm_tui.venues.simbase import SimConn

log = logging.getLogger("lcm_tui.sim")

VENUE = BybitSpotSim.venue
DEPTH = 200  # the adapter's default depth for bybit-spot
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
_H16 = struct.Struct("!BBH").pack
_H64 = struct.Struct("!BBQ").pack


def _text_header(n: int) -> bytes:
    """The header of one unmasked, final text frame of ``n`` payload bytes."""
    if n < 126:
        return bytes((0x81, n))
    if n < 65536:
        return _H16(0x81, 126, n)
    return _H64(0x81, 127, n)


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes((0x80 | opcode, n)) if n < 126 else _H16(0x80 | opcode, 126, n) if n < 65536 else \
        _H64(0x80 | opcode, 127, n)
    return head + payload


# ------------------------------------------------------------------------------------ the frames
# Serving a frame must cost a small fraction of what applying it costs a collector, so nothing is
# formatted per frame: every number in a frame has a fixed width (``u`` ten digits, ``seq`` a ``7``
# and those digits, as Bybit's cross sequence grows with each update, ``ts``/``cts`` 13-digit
# milliseconds, good from 2001 to 2286), which fixes each frame's length and so its WebSocket header
# at render time. A cycle is a whole number of hundreds of frames and every cycle starts at a ``u``
# that is a multiple of 100, so the last two digits of each frame's ``u`` are rendered too; the
# first eight are the same for a chunk (its frames never cross a hundred) and, with the batch's
# timestamps, are dropped into slots of the chunk's list of byte pieces, then joined.
U_FIRST = 1_000_000_000
U_LAST = 9_999_999_999
_TS_MIN, _TS_MAX = 10**12, 10**13 - 1
ALIGN = 50  # forward deltas come in multiples of this, so a cycle (forward + back) is hundreds
CHUNK_FRAMES = 50
CLOSE_GRACE_S = 0.25
_STRIDE = 9  # pieces per frame: head, ts, body, u high digits, low digits + seq, u high, low + cts, cts, "}"
_TS, _UH1, _UH2, _CTS = 1, 3, 5, 7


def snapshot_u(at_least: int) -> int:
    """The first ``u`` >= ``at_least`` a snapshot can carry: the delta after it starts a hundred."""
    return at_least + (99 - at_least % 100)


@dataclass(slots=True)
class Cycle:
    """One symbol's repeating stream: the book it starts and ends at, and its deltas in order.

    ``chunks`` hold the deltas ``chunk_frames`` at a time as lists of byte pieces, whole WebSocket
    frames (``_STRIDE`` pieces a frame) with slots that are filled in before each join: ``ts``, the
    first eight digits of ``u`` (twice: ``u`` and ``seq``) and ``cts``.
    """

    symbol: str
    bids: list[list[str]]
    asks: list[list[str]]
    deltas: list[tuple[list[list[str]], list[list[str]]]]
    chunk_frames: int = CHUNK_FRAMES
    chunks: list[tuple[list[bytes], int]] = field(default_factory=list)
    snapshot_template: bytes = b""

    def __post_init__(self) -> None:
        if not self.deltas or len(self.deltas) % 100:
            raise ValueError(f"{self.symbol}: a cycle is a positive multiple of 100 deltas, not {len(self.deltas)}")
        if 100 % self.chunk_frames:
            raise ValueError(f"chunk_frames must divide 100, not {self.chunk_frames}")
        topic = f"orderbook.{DEPTH}.{self.symbol}".encode()
        sym = self.symbol.encode()

        def pieces(kind: bytes, b: list[list[str]], a: list[list[str]], low: int) -> list[bytes]:
            # Spot writes "ts" before "type" (BybitSpotSim): the same key order.
            lo = b"%02d" % low
            out = [b'{"topic":"' + topic + b'","ts":', b"", b',"type":"' + kind + b'","data":{"s":"' + sym
                   + b'","b":' + orjson.dumps(b) + b',"a":' + orjson.dumps(a) + b',"u":', b"", lo + b',"seq":7', b"",
                   lo + b'},"cts":', b"", b"}"]
            n = sum(map(len, out)) + 13 + 8 + 8 + 13
            out[0] = _text_header(n) + out[0]
            return out

        k = self.chunk_frames
        for i in range(0, len(self.deltas), k):
            part: list[bytes] = []
            for j, (b, a) in enumerate(self.deltas[i : i + k]):
                part += pieces(b"delta", b, a, (i + j) % 100)
            self.chunks.append((part, len(self.deltas[i : i + k])))
        snap = pieces(b"snapshot", self.bids, self.asks, 99)
        e = [x.replace(b"%", b"%%") for x in snap]
        self.snapshot_template = e[0] + b"%(t)d" + e[2] + b"%(h)08d" + e[4] + b"%(h)08d" + e[6] + b"%(c)d" + e[8]

    @property
    def frames(self) -> int:
        """Deltas in one cycle."""
        return len(self.deltas)

    def snapshot(self, u: int, ts: int) -> bytes:
        """The cycle's first book as one WebSocket frame; ``u`` must end in 99 (``snapshot_u``)."""
        if u % 100 != 99 or not U_FIRST <= u <= U_LAST:
            raise ValueError(f"a snapshot's u has ten digits and ends in 99, not {u}")
        return self.snapshot_template % {b"t": ts, b"c": ts - 2, b"h": u // 100}


def _is_delete(size: str) -> bool:
    return float(size) == 0.0


def _inverse(held: dict[str, str], levels: list[list[str]]) -> list[list[str]]:
    """The levels that undo ``levels`` on a side holding ``held`` (price -> size), and apply them."""
    inv = []
    for p, s, *_ in levels:
        inv.append([p, held.get(p, "0")])
        if _is_delete(s):
            held.pop(p, None)
        else:
            held[p] = s
    return inv


def build_cycles(symbols: list[str], *, seed: int = 7, forward: int = 300,
                 chunk_frames: int = CHUNK_FRAMES) -> dict[str, Cycle]:
    """Each symbol's cycle: ``forward`` deltas of the simulator's market (rounded up to a multiple
    of 50), then the same deltas undone in reverse order.

    The forward deltas are the frames ``BybitSpotSim`` sends a depth-200 subscriber (read back from
    its own JSON, so nothing here re-implements its book); the inverses are computed from the
    levels a subscriber holds, so after the last one it holds the first snapshot again.
    """
    if forward < 1:
        raise ValueError("a cycle needs at least one delta")
    want = -(-forward // ALIGN) * ALIGN
    sim = BybitSpotSim(list(symbols))
    fair = FairPrices(seed)
    markets = {}
    conn = SimConn(venue=VENUE, path=BybitSpotSim.path, connected_ns=1_700_000_000_000_000_000)
    start: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
    for s in symbols:
        m = markets[s] = MarketSim(seed, VENUE, s, sim.params[s], fair)
        sim.load(s, *m.snapshot())
        for text in sim.on_message(conn, orjson.dumps({"op": "subscribe", "args": [f"orderbook.{DEPTH}.{s}"]})
                                   .decode()):
            msg = orjson.loads(text)
            if msg.get("type") == "snapshot":
                start[s] = (msg["data"]["b"], msg["data"]["a"])
    held = {s: ({p: q for p, q, *_ in start[s][0]}, {p: q for p, q, *_ in start[s][1]}) for s in symbols}
    fwd: dict[str, list[tuple[list[list[str]], list[list[str]]]]] = {s: [] for s in symbols}
    inv: dict[str, list[tuple[list[list[str]], list[list[str]]]]] = {s: [] for s in symbols}
    t_ns = conn.connected_ns
    while any(len(f) < want for f in fwd.values()):
        t_ns += 100_000_000
        fair.step()
        for s in symbols:
            payload = sim.step(s, markets[s].step(), t_ns)
            for fr in sim.frames_for(conn, s, payload) if payload is not None else []:
                if len(fwd[s]) < want:
                    data = orjson.loads(fr)["data"]
                    fwd[s].append((data["b"], data["a"]))
                    inv[s].append((_inverse(held[s][0], data["b"]), _inverse(held[s][1], data["a"])))
    return {s: Cycle(s, start[s][0], start[s][1], fwd[s] + inv[s][::-1], chunk_frames) for s in symbols}


# ------------------------------------------------------------------------------------ the server
@dataclass(slots=True, eq=False)
class _Sub:
    cycle: Cycle
    u: int  # of the last frame sent
    pos: int = 0  # the next chunk


class _Conn(asyncio.Protocol):
    """One client: the upgrade, its requests, and the pump that writes its frames."""

    def __init__(self, server: FirehoseServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.subs: dict[str, _Sub] = {}
        self.order: list[_Sub] = []
        self.last_u: dict[str, int] = {}  # of unsubscribed symbols
        self.writable = asyncio.Event()
        self.writable.set()
        self.wake = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        self.frag = bytearray()  # a fragmented client message so far
        self.paused_at = 0.0  # monotonic time the transport's buffer filled up; 0: not paused
        self.conn_id = next(server._ids)

    # ---- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.server.write_buffer)
        self.server._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.paused_at:
            self.resume_writing()
        self.server._conns.discard(self)
        if self.pump is not None:
            self.pump.cancel()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()
        self.paused_at = time.monotonic()

    def resume_writing(self) -> None:
        self.writable.set()
        self.server.paused_s += time.monotonic() - self.paused_at
        self.paused_at = 0.0

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            if not self.upgraded and not self._upgrade():
                return
            self._client_frames()
        except ValueError:
            self._close(1002)

    # ---- the handshake ---------------------------------------------------------------------------
    def _upgrade(self) -> bool:
        assert self.transport is not None
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                raise ValueError("request too long")
            return False
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        method, _, rest = head[0].partition(" ")
        path = rest.partition(" ")[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        key = headers.get("sec-websocket-key", "")
        if method != "GET" or path.partition("?")[0] != self.server.path or not key \
                or "websocket" not in headers.get("upgrade", "").lower():
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()
            return False
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.upgraded = True
        self.server.connections += 1
        self.pump = asyncio.get_running_loop().create_task(self._pump(), name=f"firehose-{self.conn_id}")
        return True

    # ---- what the client sends -------------------------------------------------------------------
    def _client_frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n = b1 & 0x7F
            i = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = int.from_bytes(buf[2:4], "big")
                i = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = int.from_bytes(buf[2:10], "big")
                i = 10
            if not b1 & 0x80:
                raise ValueError("client frames must be masked")
            if len(buf) < i + 4 + n:
                return
            mask = bytes(buf[i : i + 4])
            raw = bytes(buf[i + 4 : i + 4 + n])
            del buf[: i + 4 + n]
            payload = (int.from_bytes(raw, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(
                n, "big") if n else b""
            self._client_frame(b0 & 0x80 != 0, b0 & 0x0F, payload)
            if self.transport is None or self.transport.is_closing():
                return

    def _client_frame(self, fin: bool, op: int, payload: bytes) -> None:
        assert self.transport is not None
        if op == 0x9:
            self.transport.write(_frame(0xA, payload))
        elif op == 0x8:
            self._close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000)
        elif op in (0x0, 0x1, 0x2):
            if op:
                self.frag = bytearray()
            self.frag += payload
            if fin:
                self._request(bytes(self.frag).decode("utf-8", "replace"))
        # 0xA (pong) and anything else: nothing to do

    def _close(self, code: int) -> None:
        """Answer or start the closing handshake, and drop the connection soon after.

        The close frame queues behind the frames already written, and a client that stopped reading
        when it started closing (its message queue full) may never get to it, so the connection is
        aborted after a short grace instead of staying open with full buffers until the client's
        close timeout.
        """
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(_frame(0x8, code.to_bytes(2, "big")))
            t.close()
            asyncio.get_running_loop().call_later(CLOSE_GRACE_S, t.abort)

    def _send_text(self, text: str | bytes) -> None:
        assert self.transport is not None
        data = text.encode() if isinstance(text, str) else text
        self.transport.write(_text_header(len(data)) + data)

    def _request(self, text: str) -> None:
        """Bybit's ``op``s, answered as ``BybitSpotSim`` answers them."""
        cid = f"sim-{self.conn_id}"
        try:
            req = orjson.loads(text)
            op = req["op"]
            req_id = req.get("req_id", "")
        except (orjson.JSONDecodeError, TypeError, KeyError):
            self._send_text(orjson.dumps({"success": False, "ret_msg": "Invalid request", "conn_id": cid, "op": ""}))
            return

        def ack(ok: bool = True, msg: str = "") -> None:
            self._send_text(orjson.dumps({"success": ok, "ret_msg": msg or op, "conn_id": cid, "req_id": req_id,
                                          "op": op}))

        if op == "ping":
            self._send_text(orjson.dumps({"success": True, "ret_msg": "pong", "conn_id": cid, "op": "ping"}))
            return
        if op not in ("subscribe", "unsubscribe"):
            ack(False, f"Invalid op: {op}")
            return
        args = req.get("args") or []
        if len(args) > BybitSpotSim.max_args:
            ack(False, f"args size >{BybitSpotSim.max_args}")
            return
        syms = []
        for topic in args:
            parts = str(topic).split(".")
            if len(parts) != 3 or parts[0] != "orderbook" or parts[1] != str(DEPTH) \
                    or parts[2] not in self.server.cycles:
                ack(False, f"Invalid symbol :[{topic}]")
                return
            syms.append(parts[2])
        ack()
        for s in syms:
            old = self.subs.pop(s, None)
            if old is not None:
                self.last_u[s] = old.u
            if op == "subscribe":
                prev = self.last_u.get(s)
                u = snapshot_u(self.server.u_start if prev is None else prev + 1)  # u never goes back
                sub = self.subs[s] = _Sub(self.server.cycles[s], u if u <= U_LAST else snapshot_u(U_FIRST))
                assert self.transport is not None
                self.transport.write(self._snapshot(sub, time.time_ns() // 1_000_000))
        self.order = list(self.subs.values())
        self.wake.set()

    def _snapshot(self, sub: _Sub, ts: int) -> bytes:
        """The cycle's first book with ``u`` = ``sub.u``; the deltas go on from the cycle's start."""
        sub.pos = 0
        self.server.snapshots += 1
        return sub.cycle.snapshot(sub.u, ts)

    # ---- the frames ------------------------------------------------------------------------------
    def _batch(self, rounds: int) -> bytes:
        """``rounds`` chunks of every subscribed symbol, one symbol's chunk after the other's."""
        ts = time.time_ns() // 1_000_000
        if not _TS_MIN <= ts <= _TS_MAX:
            raise RuntimeError("the clock is outside the 13-digit milliseconds the frames are rendered for")
        k = self.server.chunk_frames
        tsk = [b"%d" % ts] * k
        ctsk = [b"%d" % (ts - 2)] * k
        out: list[bytes] = []
        frames = cycles = 0
        for sub in self.order:
            chunks = sub.cycle.chunks
            last = len(chunks) - 1
            for _ in range(rounds):
                if sub.u + k > U_LAST:  # ten digits used up: start over from a snapshot
                    sub.u = snapshot_u(U_FIRST)
                    out.append(self._snapshot(sub, ts))
                pieces = chunks[sub.pos][0]
                hk = [b"%08d" % ((sub.u + 1) // 100)] * k
                pieces[_TS::_STRIDE] = tsk
                pieces[_UH1::_STRIDE] = hk
                pieces[_UH2::_STRIDE] = hk
                pieces[_CTS::_STRIDE] = ctsk
                out += pieces
                sub.u += k
                frames += k
                if sub.pos == last:
                    sub.pos = 0
                    cycles += 1
                else:
                    sub.pos += 1
        srv = self.server
        srv.frames += frames
        srv.cycles_done += cycles
        data = b"".join(out)
        srv.bytes += len(data)
        return data

    async def _pump(self) -> None:
        """Write frames until the connection closes; a failure closes it (1011) rather than go quiet."""
        try:
            await self._pump_frames()
        except Exception:
            log.exception("firehose: connection %d failed", self.conn_id)
            self._close(1011)

    async def _pump_frames(self) -> None:
        srv = self.server
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        done = 0  # rounds sent since t0 (paced mode)
        while self.transport is not None and not self.transport.is_closing():
            if not self.order:
                self.wake.clear()
                await self.wake.wait()
                t0, done = loop.time(), 0
                continue
            if not self.writable.is_set():
                await self.writable.wait()
                continue
            if srv.rate is None:
                rounds = 1
            else:
                # A round is one chunk of each symbol: rate / chunk_frames rounds a second.
                due = int((loop.time() - t0) * srv.rate / srv.chunk_frames) - done
                if due <= 0:
                    await asyncio.sleep(srv.chunk_frames / srv.rate)
                    continue
                rounds = min(due, 4)
                done += due  # a client that fell behind is not sent a burst to catch up
            self.transport.write(self._batch(rounds))
            await asyncio.sleep(0)  # let the client's requests and the other connections in


class FirehoseServer:
    """The load generator's WebSocket endpoint: ``async with FirehoseServer(symbols) as fh``.

    ``forward``: deltas per cycle before they are undone (rounded up to a multiple of 50).
    ``rate``: deltas per second per symbol, or ``None`` for as fast as the client reads. Frames go
    out ``chunk_frames`` at a time per symbol (a divisor of 100; 1 spaces them evenly at a set
    rate). ``u_start``: where the first snapshot's ``u`` on a connection starts (ten digits; it is
    rounded up to end in 99, see ``snapshot_u``). ``write_buffer``: bytes a connection may hold
    beyond the socket's own buffer before the feed waits for the client.
    """

    def __init__(self, symbols: list[str], *, seed: int = 7, forward: int = 300, rate: float | None = None,
                 chunk_frames: int = CHUNK_FRAMES, u_start: int = U_FIRST, host: str = "127.0.0.1", port: int = 0,
                 write_buffer: int = 256 * 1024) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for as fast as the client reads)")
        if not U_FIRST <= u_start <= U_LAST:
            raise ValueError(f"u_start must have ten digits ({U_FIRST}..{U_LAST})")
        if chunk_frames < 1 or 100 % chunk_frames:
            raise ValueError(f"chunk_frames must divide 100, not {chunk_frames}")
        self.cycles = build_cycles(symbols, seed=seed, forward=forward, chunk_frames=chunk_frames)
        self.symbols = list(symbols)
        self.rate = rate
        self.chunk_frames = chunk_frames
        self.u_start = u_start
        self.host = host
        self.port = port
        self.write_buffer = write_buffer
        self.path = "/" + VENUE + BybitSpotSim.path
        self.frames = 0  # deltas written, all connections
        self.snapshots = 0
        self.bytes = 0
        self.cycles_done = 0  # completed cycles, summed over subscriptions
        self.connections = 0  # upgraded connections, ever
        # Seconds connections spent with a full write buffer, summed: the client, not the feed, was
        # the bottleneck then (all of the time, for a saturated client).
        self.paused_s = 0.0
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        self._ids = iter(range(1, 1 << 62))

    def endpoints(self) -> dict[str, str]:
        return BybitSpotSim.endpoints(f"ws://{self.host}:{self.port}/{VENUE}")

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        paused = self.paused_s + sum(now - c.paused_at for c in self._conns if c.paused_at)
        return {"frames": self.frames, "snapshots": self.snapshots, "bytes": self.bytes, "paused_s": paused,
                "cycles": self.cycles_done, "connections": self.connections, "open": len(self._conns),
                "cycle_frames": {s: c.frames for s, c in self.cycles.items()}}

    async def start(self) -> FirehoseServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self._conns):
                c._close(1001)
                if c.pump is not None:
                    c.pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await c.pump
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FirehoseServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
