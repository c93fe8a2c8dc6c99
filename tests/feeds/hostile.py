"""A hostile venue for tests: a raw-socket WebSocket server (RFC 6455 written out by hand).

A library server would answer pings, refuse to send invalid UTF-8 in a text frame and build every
frame in memory; a hostile peer does none of that. This one speaks just enough Bybit v5
(docs/protocols.md, Bybit: ``op:subscribe`` with ``orderbook.{depth}.{symbol}`` topics, a
``snapshot`` then ``delta`` frames with ``u`` + 1 each) to bring a client's book LIVE, and then
misbehaves as ``misbehave`` says, on every connection until ``behave()`` is called:

``status:<code>``    answer the upgrade with that HTTP status (429 carries ``Retry-After: 30``)
``silent``           accept the TCP connection, read the request, never answer
``big:<bytes>``      after the sync, a text frame of that size, streamed from one small buffer
``bad_utf8``         after the sync, a text frame that is not UTF-8
``deep:<n>``         after the sync, ``[`` * n + ``]`` * n (valid JSON, n levels deep)
``delta:<json>``     after the sync, a delta whose bid levels are ``<json>`` (NaN, 1e400, negatives...)
``snapshot:<n>``     the snapshot has n levels per side
``no_pong``          pings are never answered (data still flows)

The true book (``book``) is what a client must hold after a fresh snapshot: one bid and one ask.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import struct
from typing import Any

import orjson

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BIDS = [["100.5", "2"]]
ASKS = [["101.5", "3"]]


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = bytearray(await reader.readexactly(n))
    for i in range(n):
        data[i] ^= mask[i % 4]
    return b0 & 0x0F, bytes(data)


class HostileVenue:
    def __init__(self, misbehave: str) -> None:
        self.misbehave = misbehave
        self.good = False
        self.connections = 0
        self.acts = 0  # times the misbehaviour was carried out
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v5/public/spot"

    def behave(self) -> None:
        self.good = True

    async def start(self) -> HostileVenue:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for w in list(self._writers):
            w.transport.abort()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    # ---- one connection ------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        mode, _, arg = ("" if self.good else self.misbehave).partition(":")
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            if mode == "silent":
                self.acts += 1
                await asyncio.sleep(3600)
            if mode == "status":
                self.acts += 1
                extra = b"Retry-After: 30\r\n" if arg == "429" else b""
                writer.write(b"HTTP/1.1 " + arg.encode() + b" Nope\r\nContent-Length: 0\r\n" + extra
                             + b"Connection: close\r\n\r\n")
                await writer.drain()
                return
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            await writer.drain()
            await self._session(reader, writer, mode, arg)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str,
                       arg: str) -> None:
        u: dict[str, int] = {}
        while True:
            op, data = await read_frame(reader)
            if op == 0x8:  # close: echo it
                writer.write(frame(0x8, data[:2]))
                await writer.drain()
                return
            if op == 0x9:
                if mode != "no_pong" or self.good:
                    writer.write(frame(0xA, data))
                else:
                    self.acts += 1
                continue
            if op != 0x1:
                continue
            msg: dict[str, Any] = orjson.loads(data)
            if msg.get("op") == "ping":
                writer.write(frame(0x1, orjson.dumps({"success": True, "ret_msg": "pong", "op": "ping"})))
                continue
            if msg.get("op") != "subscribe":
                continue
            writer.write(frame(0x1, orjson.dumps({"success": True, "ret_msg": "subscribe", "op": "subscribe",
                                                   "req_id": msg.get("req_id", "")})))
            if self.good:
                mode = ""
            for topic in msg.get("args", []):
                u[topic] = 1000
                bids, asks = BIDS, ASKS
                if mode == "snapshot":
                    self.acts += 1
                    n = int(arg)
                    bids = [[f"{100 - i * 0.0001:.4f}", "1"] for i in range(n)]
                    asks = [[f"{101 + i * 0.0001:.4f}", "1"] for i in range(n)]
                writer.write(frame(0x1, self._book(topic, "snapshot", u[topic], bids, asks)))
                await writer.drain()
                del bids, asks
                u[topic] += 1
                writer.write(frame(0x1, self._book(topic, "delta", u[topic], [], [])))
            await writer.drain()
            topic = next(iter(u), "")
            if mode == "no_pong":
                self._tasks.add(asyncio.ensure_future(self._trickle(writer, topic, u)))
            elif mode and mode != "snapshot" and topic:
                self.acts += 1
                await self._act(writer, mode, arg, topic, u)

    async def _act(self, writer: asyncio.StreamWriter, mode: str, arg: str, topic: str, u: dict[str, int]) -> None:
        if mode == "big":
            size = int(arg)
            chunk = b"7" * (1 << 20)
            writer.write(struct.pack("!BBQ", 0x81, 127, size))
            sent = 0
            while sent < size:
                part = chunk[: min(len(chunk), size - sent)]
                writer.write(part)
                await writer.drain()
                sent += len(part)
        elif mode == "bad_utf8":
            writer.write(frame(0x1, b'{"topic":"' + topic.encode() + b'","x":"\xff\xfe\xc3\x28"}'))
        elif mode == "deep":
            n = int(arg)
            writer.write(frame(0x1, b"[" * n + b"]" * n))
        elif mode == "delta":
            u[topic] += 1
            sym = topic.rsplit(".", 1)[1]
            payload = (f'{{"topic":"{topic}","type":"delta","ts":1,'
                       f'"data":{{"s":"{sym}","b":{arg},"a":[],"u":{u[topic]},"seq":1}}}}')
            writer.write(frame(0x1, payload.encode()))
        await writer.drain()

    async def _trickle(self, writer: asyncio.StreamWriter, topic: str, u: dict[str, int]) -> None:
        """Keep-alive data: empty deltas every 50 ms (the connection is not silent, only pong-less)."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not writer.is_closing():
                await asyncio.sleep(0.05)
                u[topic] += 1
                writer.write(frame(0x1, self._book(topic, "delta", u[topic], [], [])))

    @staticmethod
    def _book(topic: str, kind: str, u: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
        return orjson.dumps({"topic": topic, "type": kind, "ts": 1,
                             "data": {"s": topic.rsplit(".", 1)[1], "b": bids, "a": asks, "u": u, "seq": u}})


async def _serve_forever(misbehave: str) -> None:
    venue = await HostileVenue(misbehave).start()
    loop = asyncio.get_running_loop()
    import signal

    loop.add_signal_handler(signal.SIGUSR1, venue.behave)
    print(venue.url, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":  # a hostile venue in its own process: its memory is not the client's
    import sys

    asyncio.run(_serve_forever(sys.argv[1]))
